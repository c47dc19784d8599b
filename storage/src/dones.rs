//! Dones: recorded from a reply in one transaction with their indexes, the reply's idempotency key
//! and (when the reply came through the inbound log) the inbound record's new state.

use chrono::{DateTime, NaiveDate, Utc};
use sled::Transactional;

use crate::codec::{day_bytes, decode, encode, id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::{Done, DoneId, DoneKind, InboundState, MemberId, Source, SpoolEntry, Store, TeamId};

/// One line of a reply, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDone {
    pub text: String,
    pub kind: DoneKind,
    pub tags: Vec<String>,
    pub mentions: Vec<String>,
}

/// One reply to record with [`Store::record_replies`].
#[derive(Debug, Clone)]
pub struct NewReply {
    pub team: TeamId,
    pub member: MemberId,
    pub day: NaiveDate,
    pub lines: Vec<NewDone>,
    pub source: Source,
    /// An edit of an earlier message: its dones are replaced.
    pub replace: bool,
    /// The received message this reply comes from (`source.inbound_id`), when it was never
    /// registered: recording the reply writes its record, processed (see
    /// [`Store::settle_received`]). Without it, the registered record is marked processed.
    pub received: Option<SpoolEntry>,
}

/// A reply's ids and encoded dones, made before the transaction (which may run more than once).
struct Prepared {
    ids: Vec<DoneId>,
    dones: Vec<Done>,
    encoded: Vec<Vec<u8>>,
    rkey: Option<Vec<u8>>,
}

/// What recording a reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The dones were written.
    Recorded(Vec<DoneId>),
    /// The same source message was recorded before; these are its dones, nothing was written.
    Duplicate(Vec<DoneId>),
}

impl RecordOutcome {
    pub fn ids(&self) -> &[DoneId] {
        match self {
            RecordOutcome::Recorded(ids) | RecordOutcome::Duplicate(ids) => ids,
        }
    }
}

fn reply_key(source: &Source) -> Option<Vec<u8>> {
    source
        .message_id
        .as_ref()
        .map(|mid| key(&[source.channel.as_str().as_bytes(), &[0], mid.as_bytes()]))
}

/// The value of a reply's entry in `dones_by_team_day` and `dones_by_member` (keyed by its first
/// done): the ids of its other dones, 8 bytes each. A reply of one done has an empty value, as
/// every entry of earlier versions (one a done) does.
fn reply_entry(rest: &[DoneId]) -> Vec<u8> {
    rest.iter().flat_map(|id| id.to_be_bytes()).collect()
}

/// The done ids of a reply's index entry (see [`reply_entry`]), in order.
pub(crate) fn entry_ids(tree: &'static str, key: &[u8], rest: &[u8]) -> StorageResult<Vec<DoneId>> {
    if !rest.len().is_multiple_of(8) {
        return Err(StorageError::Corrupt {
            tree,
            reason: format!(
                "an entry's done ids take {} bytes, not a multiple of 8",
                rest.len()
            ),
        });
    }
    let first = key_id(tree, key)?;
    let rest = rest
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()));
    Ok(std::iter::once(first).chain(rest).collect())
}

fn team_day_key(team: TeamId, day: NaiveDate, id: DoneId) -> Vec<u8> {
    key(&[&id_key(team), &day_bytes(day), &id_key(id)])
}

impl Store {
    /// Records the lines of one reply as dones of `day`. Idempotent on the source's
    /// `(channel, message_id)`. When `source.inbound_id` is set, that inbound record is marked
    /// processed in the same transaction, so a reply is processed exactly once.
    pub fn record_reply(
        &self,
        team: TeamId,
        member: MemberId,
        day: NaiveDate,
        lines: &[NewDone],
        source: &Source,
        now: DateTime<Utc>,
    ) -> StorageResult<RecordOutcome> {
        self.record(team, member, day, lines, source, now, false)
    }

    /// An edited message: its earlier dones (same `(channel, message_id)`) are marked deleted and
    /// `lines` recorded in their place, in one transaction.
    pub fn replace_reply(
        &self,
        team: TeamId,
        member: MemberId,
        day: NaiveDate,
        lines: &[NewDone],
        source: &Source,
        now: DateTime<Utc>,
    ) -> StorageResult<RecordOutcome> {
        self.record(team, member, day, lines, source, now, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        team: TeamId,
        member: MemberId,
        day: NaiveDate,
        lines: &[NewDone],
        source: &Source,
        now: DateTime<Utc>,
        replace: bool,
    ) -> StorageResult<RecordOutcome> {
        let reply = NewReply {
            team,
            member,
            day,
            lines: lines.to_vec(),
            source: source.clone(),
            replace,
            received: None,
        };
        let mut outcomes = self.record_replies(std::slice::from_ref(&reply), now)?;
        outcomes
            .pop()
            .ok_or_else(|| StorageError::Conflict("recording a reply returned no outcome".into()))
    }

    /// Records several replies in one transaction, each exactly as [`Store::record_reply`] (or
    /// [`Store::replace_reply`] when `replace`) would, in order: a later reply sees what an
    /// earlier one wrote (the same message twice in one batch is recorded once). A sled
    /// transaction costs far more than the writes in it (it seals sled's log buffer), so callers
    /// that receive replies in bursts batch them.
    pub fn record_replies(
        &self,
        replies: &[NewReply],
        now: DateTime<Utc>,
    ) -> StorageResult<Vec<RecordOutcome>> {
        let _w = self.write_gate();
        // One id range and one change-log entry for the whole batch: each is a write of its own
        // (the id counter is raised before the transaction, see `Store::next_ids`).
        let total: usize = replies.iter().map(|r| r.lines.len()).sum();
        let mut ids = self.next_ids(crate::IdKind::Done, total as u64)?;
        let change_seq = self.next_id()?;
        let mut prepared = Vec::with_capacity(replies.len());
        for r in replies {
            let ids: Vec<DoneId> = ids.by_ref().take(r.lines.len()).collect();
            let dones: Vec<Done> = ids
                .iter()
                .zip(&r.lines)
                .map(|(&id, l)| Done {
                    id,
                    team_id: r.team,
                    member_id: r.member,
                    day: r.day,
                    text: l.text.clone(),
                    kind: l.kind,
                    tags: l.tags.clone(),
                    mentions: l.mentions.clone(),
                    source: r.source.clone(),
                    created_at: now,
                    edited_at: None,
                    deleted: false,
                })
                .collect();
            let encoded: Vec<Vec<u8>> = dones.iter().map(encode).collect::<StorageResult<_>>()?;
            prepared.push(Prepared {
                ids,
                dones,
                encoded,
                rkey: reply_key(&r.source),
            });
        }
        let (outcomes, logged) = (
            &self.t.dones,
            &self.t.dones_by_team_day,
            &self.t.dones_by_member,
            &self.t.reply_keys,
            &self.t.inbound,
            &self.t.inbound_pending,
            &self.t.inbound_by_message_id,
            &self.t.counters,
            &self.t.search_changes,
        )
            .transaction(
                |(
                    dones_t,
                    by_day,
                    by_member,
                    reply_keys,
                    inbound,
                    pending,
                    by_mid,
                    counters,
                    changes,
                )|
                 -> TxResult<(Vec<RecordOutcome>, Option<u64>)> {
                    let mut outcomes = Vec::with_capacity(replies.len());
                    let mut recorded_total = 0i64;
                    // Every done the batch writes, for the search index's change log.
                    let mut changed: Vec<DoneId> = Vec::new();
                    for (r, p) in replies.iter().zip(&prepared) {
                        // The reply's key is written first: a transactional insert reads
                        // the old value anyway. A duplicate puts that value back.
                        let previous = match &p.rkey {
                            Some(k) => {
                                let ids = encode(&p.ids).or_else(abort)?;
                                let previous = reply_keys.insert(k.as_slice(), ids)?;
                                if let Some(prev) = previous.as_ref().filter(|_| !r.replace) {
                                    reply_keys.insert(k.as_slice(), prev.clone())?;
                                }
                                previous
                            }
                            None => None,
                        };
                        let previous = match (previous, r.replace) {
                            (Some(prev), true) => {
                                let prev: Vec<DoneId> =
                                    decode("reply_keys", &prev).or_else(abort)?;
                                changed.extend(&prev);
                                for id in prev {
                                    if let Some(old) = dones_t.get(id_key(id))? {
                                        let mut d: Done = decode("dones", &old).or_else(abort)?;
                                        d.deleted = true;
                                        d.edited_at = Some(now);
                                        dones_t.insert(&id_key(id), encode(&d).or_else(abort)?)?;
                                    }
                                }
                                None
                            }
                            (p, _) => p,
                        };
                        let outcome = match previous {
                            Some(prev) => {
                                let prev: Vec<DoneId> =
                                    decode("reply_keys", &prev).or_else(abort)?;
                                RecordOutcome::Duplicate(prev)
                            }
                            None => {
                                for (d, bytes) in p.dones.iter().zip(&p.encoded) {
                                    dones_t.insert(&id_key(d.id), bytes.as_slice())?;
                                }
                                if let Some((first, rest)) = p.ids.split_first() {
                                    by_day.insert(
                                        team_day_key(r.team, r.day, *first),
                                        reply_entry(rest),
                                    )?;
                                    by_member.insert(
                                        key(&[&id_key(r.member), &id_key(*first)]),
                                        reply_entry(rest),
                                    )?;
                                }
                                recorded_total += p.ids.len() as i64;
                                changed.extend(&p.ids);
                                RecordOutcome::Recorded(p.ids.clone())
                            }
                        };
                        if let Some(inbound_id) = r.source.inbound_id {
                            let note = match &outcome {
                                RecordOutcome::Recorded(ids) => {
                                    format!("recorded {} dones", ids.len())
                                }
                                RecordOutcome::Duplicate(_) => {
                                    "duplicate of an earlier message".into()
                                }
                            };
                            let state = InboundState::Processed {
                                at: now,
                                outcome: note,
                            };
                            match &r.received {
                                Some(entry) if entry.id == inbound_id => {
                                    crate::inbound::settle_received_tx(
                                        inbound, by_mid, entry, state,
                                    )?
                                }
                                _ => crate::inbound::set_state_tx(
                                    inbound, pending, inbound_id, state,
                                )?,
                            }
                        }
                        outcomes.push(outcome);
                    }
                    let mut logged = None;
                    if !changed.is_empty() {
                        crate::search::log_change(changes, change_seq, now, &changed)?;
                        logged = Some(change_seq);
                    }
                    if recorded_total > 0 {
                        crate::outbox::counter_add(counters, "dones.recorded", recorded_total)?;
                    }
                    Ok((outcomes, logged))
                },
            )?;
        if let Some(seq) = logged {
            self.search_changed(seq);
        }
        Ok(outcomes)
    }

    pub fn done(&self, id: DoneId) -> StorageResult<Done> {
        match self.t.dones.get(id_key(id))? {
            Some(v) => decode("dones", &v),
            None => Err(StorageError::NotFound(format!("done {id}"))),
        }
    }

    /// A team's dones (not deleted) on the days `from..=to`, in order of day then creation.
    pub fn team_dones(
        &self,
        team: TeamId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StorageResult<Vec<Done>> {
        let start = key(&[&id_key(team), &day_bytes(from)]);
        let end = key(&[&id_key(team), &day_bytes(to), &[0xff; 8]]);
        let mut out = Vec::new();
        for entry in self.t.dones_by_team_day.range(start..=end) {
            let (k, rest) = entry?;
            for id in entry_ids("dones_by_team_day", &k, &rest)? {
                let done = self.done(id)?;
                if !done.deleted {
                    out.push(done);
                }
            }
        }
        Ok(out)
    }

    /// The member's most recent done that is not deleted.
    pub fn last_done_of(&self, member: MemberId) -> StorageResult<Option<Done>> {
        for entry in self.t.dones_by_member.scan_prefix(id_key(member)).rev() {
            let (k, rest) = entry?;
            for id in entry_ids("dones_by_member", &k, &rest)?.into_iter().rev() {
                let done = self.done(id)?;
                if !done.deleted {
                    return Ok(Some(done));
                }
            }
        }
        Ok(None)
    }

    /// Edits a done's text (and derived fields) or deletes it. Deletion is a flag: the record and its
    /// idempotency key stay, so a redelivered message does not bring a deleted done back.
    pub fn update_done(
        &self,
        id: DoneId,
        now: DateTime<Utc>,
        change: impl Fn(&mut Done),
    ) -> StorageResult<Done> {
        let _w = self.write_gate();
        let change_seq = self.next_id()?;
        let done = (&self.t.dones, &self.t.search_changes).transaction(
            |(dones, changes)| -> TxResult<Done> {
                let Some(old) = dones.get(id_key(id))? else {
                    return abort(StorageError::NotFound(format!("done {id}")));
                };
                let mut d: Done = decode("dones", &old).or_else(abort)?;
                let before = (d.id, d.team_id, d.member_id, d.day);
                change(&mut d);
                if (d.id, d.team_id, d.member_id, d.day) != before {
                    return abort(StorageError::Conflict(
                        "a done's id, team, member and day cannot change".into(),
                    ));
                }
                d.edited_at = Some(now);
                dones.insert(&id_key(id), encode(&d).or_else(abort)?)?;
                crate::search::log_change(changes, change_seq, now, &[id])?;
                Ok(d)
            },
        )?;
        self.search_changed(change_seq);
        Ok(done)
    }

    /// A named counter (`dones.recorded`, `prompts.created`, `outbox.sent`, …).
    pub fn counter(&self, name: &str) -> StorageResult<i64> {
        Ok(match self.t.counters.get(name)? {
            Some(v) => i64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        })
    }
}
