//! Pages of the long lists (a team's dones, the outbox, the inbound log) for cursor pagination:
//! each starts right after the key of the last item of the previous page and reads only what
//! one page needs, however long the list. Read-only.
//!
//! Invariant: a page is a contiguous run of its list in the list's order, so following the last
//! key of every page visits each item once (items written meanwhile behind the cursor are not
//! revisited; those ahead of it are met).

use std::ops::Bound;

use chrono::NaiveDate;

use crate::codec::{day_bytes, decode, id_key, key};
use crate::{
    Done, DoneId, InboundId, InboundRecord, InboundState, OutboxId, OutboxMessage, StorageResult,
    Store, TeamId,
};

impl Store {
    /// Up to `limit` of a team's dones (not deleted) on the days `from..=to`, in order of day then
    /// id, after `(day, id)` when given.
    pub fn team_dones_page(
        &self,
        team: TeamId,
        from: NaiveDate,
        to: NaiveDate,
        after: Option<(NaiveDate, DoneId)>,
        limit: usize,
    ) -> StorageResult<Vec<Done>> {
        if from > to {
            return Ok(Vec::new());
        }
        let last = key(&[&id_key(team), &day_bytes(to), &[0xff; 8]]);
        // An entry holds a reply's dones, keyed by the first: a page that ended inside one
        // goes on from that day's first entry, past the ids up to the cursor.
        let (start, skip) = match after {
            Some((day, id)) if day >= from => {
                let k = key(&[&id_key(team), &day_bytes(day), &id_key(id)]);
                // Nothing is left after the end of the range (and an empty range is no range).
                if k >= last {
                    return Ok(Vec::new());
                }
                let that_day = key(&[&id_key(team), &day_bytes(day)]);
                (Bound::Included(that_day.clone()), Some((that_day, id)))
            }
            _ => (
                Bound::Included(key(&[&id_key(team), &day_bytes(from)])),
                None,
            ),
        };
        let end = Bound::Included(last);
        let mut out = Vec::new();
        for entry in self.t.dones_by_team_day.range((start, end)) {
            let (k, rest) = entry?;
            let seen = |id: DoneId| {
                skip.as_ref()
                    .is_some_and(|(day, after)| k.starts_with(day) && id <= *after)
            };
            for id in crate::dones::entry_ids("dones_by_team_day", &k, &rest)? {
                if out.len() >= limit {
                    return Ok(out);
                }
                if seen(id) {
                    continue;
                }
                let done = self.done(id)?;
                if !done.deleted {
                    out.push(done);
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` outbox messages, oldest first, in `state` (by its name) when given, after
    /// the message `after`.
    pub fn outbox_page(
        &self,
        state: Option<&str>,
        after: Option<OutboxId>,
        limit: usize,
    ) -> StorageResult<Vec<OutboxMessage>> {
        let start = match after {
            Some(id) => Bound::Excluded(id_key(id).to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for v in self
            .t
            .outbox
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .values()
        {
            if out.len() >= limit {
                break;
            }
            let m: OutboxMessage = self.shown_message(&v?)?;
            if state.is_none_or(|s| s == m.state.as_str()) {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Up to `limit` inbound records, newest first, only failed ones when `failed_only`, older
    /// than the record `before`.
    pub fn inbound_page(
        &self,
        failed_only: bool,
        before: Option<InboundId>,
        limit: usize,
    ) -> StorageResult<Vec<InboundRecord>> {
        let end = match before {
            Some(id) => Bound::Excluded(id_key(id).to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for v in self
            .t
            .inbound
            .range::<Vec<u8>, _>((Bound::Unbounded, end))
            .values()
            .rev()
        {
            if out.len() >= limit {
                break;
            }
            let rec: InboundRecord = decode("inbound", &v?)?;
            if !failed_only || matches!(rec.state, InboundState::Failed { .. }) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// The days of `from..=to` on which `member` was prompted, in order.
    pub fn prompted_days(
        &self,
        member: crate::MemberId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StorageResult<Vec<NaiveDate>> {
        if from > to {
            return Ok(Vec::new());
        }
        let start = key(&[&id_key(member), &day_bytes(from)]);
        let end = key(&[&id_key(member), &day_bytes(to)]);
        let mut out = Vec::new();
        for k in self.t.prompts_by_member_day.range(start..=end).keys() {
            let k = k?;
            let day = k
                .get(8..12)
                .and_then(|b| b.try_into().ok())
                .map(|b: [u8; 4]| u32::from_be_bytes(b))
                .and_then(|days| NaiveDate::from_num_days_from_ce_opt(days as i32))
                .ok_or_else(|| crate::StorageError::Corrupt {
                    tree: "prompts_by_member_day",
                    reason: "a key without a day".into(),
                })?;
            out.push(day);
        }
        Ok(out)
    }

    /// How many of each member's dones (not deleted) fall on each day of `from..=to`:
    /// `(member, day, count)` in order of day, then member.
    pub fn done_counts(
        &self,
        team: TeamId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StorageResult<Vec<(crate::MemberId, NaiveDate, u32)>> {
        let mut counts: std::collections::BTreeMap<(NaiveDate, crate::MemberId), u32> =
            Default::default();
        for done in self.team_dones(team, from, to)? {
            *counts.entry((done.day, done.member_id)).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((day, member), n)| (member, day, n))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use crate::{Channel, NewDone, Source, Store};

    fn day(d: u32) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    /// Recorded through the API: no message, prompt or inbound record.
    fn api_source() -> Source {
        Source {
            channel: Channel::Api,
            message_id: None,
            prompt_id: None,
            inbound_id: None,
        }
    }

    fn line(text: &str) -> NewDone {
        NewDone {
            text: text.into(),
            kind: crate::DoneKind::Done,
            tags: vec![],
            mentions: vec![],
        }
    }

    #[test]
    fn pages_of_dones_visit_each_once_in_order() {
        let store = Store::temporary().unwrap();
        let source = api_source();
        // Recorded out of day order; listed by day, then id.
        for (d, text) in [(3, "c"), (1, "a"), (2, "b1"), (2, "b2"), (9, "outside")] {
            store
                .record_reply(7, 1, day(d), &[line(text)], &source, Utc::now())
                .unwrap();
        }
        store
            .record_reply(8, 1, day(2), &[line("other team")], &source, Utc::now())
            .unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.team_dones_page(7, day(1), day(5), after, 2).unwrap();
            if page.is_empty() {
                break;
            }
            let last = page.last().unwrap();
            after = Some((last.day, last.id));
            seen.extend(page.into_iter().map(|d| d.text));
        }
        assert_eq!(seen, ["a", "b1", "b2", "c"]);
        let counts = store.done_counts(7, day(1), day(5)).unwrap();
        assert_eq!(counts, [(1, day(1), 1), (1, day(2), 2), (1, day(3), 1)]);
    }

    /// A reply's dones share one index entry; pages of any size that end inside one go on
    /// after the last done they listed, and a deleted done is skipped.
    #[test]
    fn a_page_may_end_inside_a_reply() {
        let store = Store::temporary().unwrap();
        let source = api_source();
        let replies: [(u32, &[&str]); 4] = [
            (2, &["b1", "b2", "b3"]),
            (1, &["a1", "a2"]),
            (2, &["b4"]),
            (3, &["c1", "gone", "c2", "c3"]),
        ];
        for (d, texts) in replies {
            let lines: Vec<NewDone> = texts.iter().map(|t| line(t)).collect();
            let recorded = store
                .record_reply(7, 1, day(d), &lines, &source, Utc::now())
                .unwrap();
            if let Some(i) = texts.iter().position(|t| *t == "gone") {
                store
                    .update_done(recorded.ids()[i], Utc::now(), |d| d.deleted = true)
                    .unwrap();
            }
        }
        let all = ["a1", "a2", "b1", "b2", "b3", "b4", "c1", "c2", "c3"];
        let whole: Vec<String> = store
            .team_dones(7, day(1), day(3))
            .unwrap()
            .into_iter()
            .map(|d| d.text)
            .collect();
        assert_eq!(whole, all);
        for size in 1..=5 {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = store
                    .team_dones_page(7, day(1), day(3), after, size)
                    .unwrap();
                assert!(page.len() <= size);
                let Some(last) = page.last() else { break };
                after = Some((last.day, last.id));
                seen.extend(page.into_iter().map(|d| d.text));
            }
            assert_eq!(seen, all, "pages of {size}");
        }
    }
}
