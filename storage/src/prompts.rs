//! Prompts: one per member per local day, created together with the outbox messages that carry it.

use chrono::{DateTime, NaiveDate, Utc};
use sled::Transactional;

use crate::codec::{day_bytes, decode, encode, id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::outbox::claims::{Claim, show_claimed};
use crate::outbox::{Handoff, NewOutboxMessage, OutboxTx};
use crate::{Delivery, MemberId, OutboxId, Prompt, PromptId, Store};

/// A prompt to create with the outbox messages that carry it (see [`Store::create_prompts`]).
#[derive(Debug, Clone)]
pub struct NewPrompt {
    pub prompt: Prompt,
    /// One per email delivery, matched to it by Message-ID.
    pub messages: Vec<NewOutboxMessage>,
}

/// A [`NewPrompt`] with its ids given and its record encoded, ready for the transaction.
struct Pending {
    prompt: Prompt,
    md_key: Vec<u8>,
    bytes: Vec<u8>,
    outbox_ids: Vec<u64>,
    messages: Vec<NewOutboxMessage>,
}

/// What writing a prompt of a chunk did.
enum Written {
    /// Created, with whether each of its messages was new (a key enqueued before is not).
    Created(Vec<bool>),
    /// Its member already had a prompt for that day, this one: nothing was written.
    Existing(PromptId),
}

/// The Message-ID of a prompt's email: `prompt.ID.RANDOM@DOMAIN`, where `random` is what no one
/// can guess. It names its prompt, so it takes no entry in the Message-ID index:
/// [`Store::prompt_by_message_id`] reads the prompt it names and accepts it only if one of its
/// deliveries has exactly this Message-ID. Other Message-IDs (those of older prompts, the keys
/// of chat messages) are found through the index.
pub fn prompt_message_id(id: PromptId, random: &str, domain: &str) -> String {
    format!("prompt.{id}.{random}@{domain}")
}

/// The outbox key of a prompt's email: `prompt:MEMBER:DAY:email`. Only
/// [`Store::create_prompts`] enqueues a message with such a key, with the member's prompt of
/// that day, so it is unique by the prompts' member-and-day index and takes no `outbox_keys`
/// entry; any other enqueue of one is refused.
pub fn prompt_email_key(member: MemberId, day: NaiveDate) -> String {
    format!("prompt:{member}:{day}:email")
}

/// Whether `key` has [`prompt_email_key`]'s form.
pub(crate) fn is_prompt_email_key(key: &str) -> bool {
    let Some((member, day)) = key
        .strip_prefix("prompt:")
        .and_then(|k| k.strip_suffix(":email"))
        .and_then(|k| k.split_once(':'))
    else {
        return false;
    };
    is_id(member) && day.parse::<NaiveDate>().is_ok()
}

/// Whether `s` is an id written out: decimal digits, at least one.
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The prompt a Message-ID of [`prompt_message_id`]'s form names (to be checked against it).
fn named_prompt(message_id: &str) -> Option<PromptId> {
    let (id, rest) = message_id.strip_prefix("prompt.")?.split_once('.')?;
    if !is_id(id) || !rest.contains('@') {
        return None;
    }
    id.parse().ok()
}

fn member_day_key(member: MemberId, day: NaiveDate) -> Vec<u8> {
    key(&[&id_key(member), &day_bytes(day)])
}

impl Store {
    /// Reserves an id for a prompt about to be created (its reply token and Message-ID need it).
    pub fn new_prompt_id(&self) -> StorageResult<PromptId> {
        self.next_id_of(crate::IdKind::Prompt)
    }

    /// Reserves `n` prompt ids with one counter update (a team's prompts of an evening). An id
    /// that ends up unused is a gap, never handed out again.
    pub fn new_prompt_ids(&self, n: usize) -> StorageResult<std::ops::Range<PromptId>> {
        self.next_ids(crate::IdKind::Prompt, n as u64)
    }

    /// Creates `prompt` and enqueues `messages` (one per email delivery) in one transaction, unless
    /// the member already has a prompt for that day: then nothing is written and the existing prompt
    /// is returned with `false`. Each email delivery's `outbox_id` is filled in here, in order.
    pub fn create_prompt(
        &self,
        prompt: Prompt,
        messages: &[NewOutboxMessage],
        now: DateTime<Utc>,
    ) -> StorageResult<(Prompt, bool)> {
        let batch = [NewPrompt {
            prompt,
            messages: messages.to_vec(),
        }];
        self.create_prompts(batch, now)?
            .pop()
            .ok_or_else(|| StorageError::NotFound("the prompt just created".into()))
    }

    /// [`Store::create_prompt`] for many prompts (a team's evening, say): one transaction per
    /// [`MAX_BATCH`](crate::outbox::MAX_BATCH) prompts, each prompt created unless its member
    /// already has one for that day (also earlier in the same batch). Returns, in order, each
    /// prompt as stored and whether it is new. Each chunk is atomic.
    pub fn create_prompts(
        &self,
        batch: impl IntoIterator<Item = NewPrompt>,
        now: DateTime<Utc>,
    ) -> StorageResult<Vec<(Prompt, bool)>> {
        self.create_prompts_handing(batch, now, &mut Handoff::default())
    }

    /// [`Store::create_prompts`], and up to `handoff.room` of the new messages due at `now` are
    /// claimed for a sender that takes them from `handoff.claimed` (see
    /// [`crate::outbox::claims`]): each claim is taken before its message is written, so no scan
    /// of the due index can claim it first. The sender must report each one as it would a
    /// message of [`Store::claim_due`].
    pub fn create_prompts_handing(
        &self,
        batch: impl IntoIterator<Item = NewPrompt>,
        now: DateTime<Utc>,
        handoff: &mut Handoff,
    ) -> StorageResult<Vec<(Prompt, bool)>> {
        let _w = self.write_gate();
        let mut batch = batch.into_iter().peekable();
        let mut out = Vec::new();
        while batch.peek().is_some() {
            let mut chunk: Vec<Pending> = batch
                .by_ref()
                .take(crate::outbox::MAX_BATCH)
                .map(|p| self.pending(p))
                .collect::<StorageResult<_>>()?;
            let handed = self.claim_before_writing(&chunk, now, handoff.room);
            let written = match self.create_chunk(&chunk, now) {
                Ok(written) => written,
                Err(e) => {
                    let ids: Vec<OutboxId> = handed
                        .iter()
                        .map(|&(p, m)| chunk[p].outbox_ids[m])
                        .collect();
                    self.return_unsent(&ids);
                    return Err(e);
                }
            };
            self.hand_over(&mut chunk, &written, &handed, now, handoff);
            for (p, written) in chunk.into_iter().zip(written) {
                out.push(match written {
                    Written::Existing(id) => (self.prompt(id)?, false),
                    Written::Created(_) => (p.prompt, true),
                });
            }
        }
        Ok(out)
    }

    /// Claims, not yet committed, up to `room` of the chunk's messages due at `now`. Returns
    /// where they are: (prompt, message) positions.
    fn claim_before_writing(
        &self,
        chunk: &[Pending],
        now: DateTime<Utc>,
        room: usize,
    ) -> Vec<(usize, usize)> {
        if room == 0 {
            return Vec::new();
        }
        let handed: Vec<(usize, usize)> = chunk
            .iter()
            .enumerate()
            .flat_map(|(p, pending)| {
                pending
                    .messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.due_at <= now)
                    .map(move |(m, _)| (p, m))
            })
            .take(room)
            .collect();
        let mut claims = self.claims.lock();
        for &(p, m) in &handed {
            let claim = Claim {
                since: now,
                attempts: 1,
                was_deferred: false,
                committed: false,
            };
            claims.insert(chunk[p].outbox_ids[m], claim);
        }
        handed
    }

    /// After the chunk's transaction: the claims of messages written count from now on and go
    /// into `handoff` with their bodies; those of messages not written end.
    fn hand_over(
        &self,
        chunk: &mut [Pending],
        written: &[Written],
        handed: &[(usize, usize)],
        now: DateTime<Utc>,
        handoff: &mut Handoff,
    ) {
        if handed.is_empty() {
            return;
        }
        let mut claims = self.claims.lock();
        for &(p, m) in handed {
            let id: OutboxId = chunk[p].outbox_ids[m];
            let new = matches!(&written[p], Written::Created(new) if new[m]);
            // A sender that started meanwhile ended every claim it found (`recover_outbox`):
            // this one is then no longer ours to hand over.
            match claims.get_mut(&id) {
                Some(claim) if new => {
                    claim.committed = true;
                    let message = &mut chunk[p].messages[m];
                    let mut record = message.record(id, now);
                    show_claimed(&mut record, claim);
                    handoff
                        .claimed
                        .push((record, std::mem::take(&mut message.body)));
                    handoff.room -= 1;
                }
                _ => {
                    claims.remove(&id);
                }
            }
        }
    }

    /// Gives the prompt's messages their outbox ids and encodes it.
    fn pending(&self, new: NewPrompt) -> StorageResult<Pending> {
        let NewPrompt {
            mut prompt,
            messages,
        } = new;
        let outbox_ids: Vec<u64> = messages
            .iter()
            .map(|_| self.next_id())
            .collect::<StorageResult<_>>()?;
        for (id, m) in outbox_ids.iter().zip(&messages) {
            if let Some(slot) = prompt
                .deliveries
                .iter_mut()
                .find(|d| d.message_id.as_deref() == Some(m.message_id.as_str()))
            {
                slot.outbox_id = Some(*id);
            }
        }
        Ok(Pending {
            md_key: member_day_key(prompt.member_id, prompt.day),
            bytes: encode(&prompt)?,
            prompt,
            outbox_ids,
            messages,
        })
    }

    /// Writes a chunk in one transaction. Returns what was written for each prompt.
    fn create_chunk(&self, chunk: &[Pending], now: DateTime<Utc>) -> StorageResult<Vec<Written>> {
        Ok((
            &self.t.prompts,
            &self.t.prompts_by_member_day,
            &self.t.prompts_by_message_id,
            &self.t.outbox,
            &self.t.outbox_bodies,
            &self.t.outbox_due,
            &self.t.outbox_inflight,
            &self.t.outbox_keys,
            &self.t.counters,
        )
            .transaction(
                |(prompts, by_day, by_mid, outbox, bodies, due, inflight, keys, counters)| -> TxResult<Vec<Written>> {
                    let tx = OutboxTx { outbox, bodies, due, inflight, keys, counters };
                    let mut tally = crate::outbox::Tally::default();
                    let mut result = Vec::with_capacity(chunk.len());
                    let mut created = 0;
                    for p in chunk {
                        // The member and day's entry is written first: a transactional insert
                        // reads the old value anyway. An existing prompt's entry is put back.
                        if let Some(existing) = by_day.insert(p.md_key.as_slice(), &id_key(p.prompt.id))? {
                            by_day.insert(p.md_key.as_slice(), existing.clone())?;
                            result.push(Written::Existing(key_id("prompts_by_member_day", &existing).or_else(abort)?));
                            continue;
                        }
                        prompts.insert(&id_key(p.prompt.id), p.bytes.as_slice())?;
                        for d in &p.prompt.deliveries {
                            if let Some(mid) = &d.message_id
                                && named_prompt(mid) != Some(p.prompt.id)
                            {
                                by_mid.insert(mid.as_bytes(), &id_key(p.prompt.id))?;
                            }
                        }
                        let email_key = prompt_email_key(p.prompt.member_id, p.prompt.day);
                        let new = p
                            .outbox_ids
                            .iter()
                            .zip(&p.messages)
                            .map(|(id, m)| {
                                if m.key == email_key {
                                    tx.enqueue_unkeyed(*id, m, now, &mut tally)?;
                                    Ok(true)
                                } else {
                                    Ok(tx.enqueue(*id, m, now, &mut tally)?.1)
                                }
                            })
                            .collect::<TxResult<Vec<bool>>>()?;
                        created += 1;
                        result.push(Written::Created(new));
                    }
                    if created > 0 {
                        crate::outbox::counter_add(counters, "prompts.created", created)?;
                    }
                    tally.write(counters)?;
                    Ok(result)
                },
            )?)
    }

    pub fn prompt(&self, id: PromptId) -> StorageResult<Prompt> {
        match self.t.prompts.get(id_key(id))? {
            Some(v) => decode("prompts", &v),
            None => Err(StorageError::NotFound(format!("prompt {id}"))),
        }
    }

    pub fn prompt_for_day(
        &self,
        member: MemberId,
        day: NaiveDate,
    ) -> StorageResult<Option<Prompt>> {
        match self
            .t
            .prompts_by_member_day
            .get(member_day_key(member, day))?
        {
            Some(id) => Ok(Some(self.prompt(key_id("prompts_by_member_day", &id)?)?)),
            None => Ok(None),
        }
    }

    /// The prompt whose delivery had this Message-ID (for In-Reply-To / References matching).
    pub fn prompt_by_message_id(&self, message_id: &str) -> StorageResult<Option<Prompt>> {
        if let Some(id) = named_prompt(message_id)
            && let Some(v) = self.t.prompts.get(id_key(id))?
        {
            let prompt: Prompt = decode("prompts", &v)?;
            let sent = |d: &Delivery| d.message_id.as_deref() == Some(message_id);
            if prompt.deliveries.iter().any(sent) {
                return Ok(Some(prompt));
            }
        }
        match self.t.prompts_by_message_id.get(message_id.as_bytes())? {
            Some(id) => Ok(Some(self.prompt(key_id("prompts_by_message_id", &id)?)?)),
            None => Ok(None),
        }
    }

    /// The member's most recent prompt (the one a reply without a token most likely answers).
    pub fn latest_prompt(&self, member: MemberId) -> StorageResult<Option<Prompt>> {
        match self
            .t
            .prompts_by_member_day
            .scan_prefix(id_key(member))
            .values()
            .next_back()
        {
            Some(id) => Ok(Some(self.prompt(key_id("prompts_by_member_day", &id?)?)?)),
            None => Ok(None),
        }
    }

    /// Records that a prompt went out on a chat channel (after the fact; email is recorded at creation).
    pub fn add_delivery(&self, id: PromptId, delivery: Delivery) -> StorageResult<Prompt> {
        let _w = self.write_gate();
        Ok(
            (&self.t.prompts, &self.t.prompts_by_message_id).transaction(
                |(prompts, by_mid)| -> TxResult<Prompt> {
                    let Some(old) = prompts.get(id_key(id))? else {
                        return abort(StorageError::NotFound(format!("prompt {id}")));
                    };
                    let mut p: Prompt = decode("prompts", &old).or_else(abort)?;
                    if let Some(mid) = &delivery.message_id {
                        by_mid.insert(mid.as_bytes(), &id_key(id))?;
                    }
                    p.deliveries.push(delivery.clone());
                    prompts.insert(&id_key(id), encode(&p).or_else(abort)?)?;
                    Ok(p)
                },
            )?,
        )
    }
}
