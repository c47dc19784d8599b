//! Prompts: one per member per local day, created together with the outbox messages that carry it.

use chrono::{DateTime, NaiveDate, Utc};
use sled::Transactional;

use crate::codec::{day_bytes, decode, encode, id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::outbox::{NewOutboxMessage, OutboxTx};
use crate::{Delivery, MemberId, Prompt, PromptId, Store};

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
        let _w = self.write_gate();
        let mut batch = batch.into_iter().peekable();
        let mut out = Vec::new();
        while batch.peek().is_some() {
            let chunk: Vec<Pending> = batch
                .by_ref()
                .take(crate::outbox::MAX_BATCH)
                .map(|p| self.pending(p))
                .collect::<StorageResult<_>>()?;
            let existing = self.create_chunk(&chunk, now)?;
            for (p, existing) in chunk.into_iter().zip(existing) {
                out.push(match existing {
                    Some(id) => (self.prompt(id)?, false),
                    None => (p.prompt, true),
                });
            }
        }
        Ok(out)
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

    /// Writes a chunk in one transaction. Returns, per prompt, the id of the prompt that already
    /// existed for its member and day (nothing written), or `None` (created).
    fn create_chunk(
        &self,
        chunk: &[Pending],
        now: DateTime<Utc>,
    ) -> StorageResult<Vec<Option<PromptId>>> {
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
                |(prompts, by_day, by_mid, outbox, bodies, due, inflight, keys, counters)| -> TxResult<Vec<Option<PromptId>>> {
                    let tx = OutboxTx { outbox, bodies, due, inflight, keys, counters };
                    let mut tally = crate::outbox::Tally::default();
                    let mut result = Vec::with_capacity(chunk.len());
                    let mut created = 0;
                    for p in chunk {
                        if let Some(existing) = by_day.get(p.md_key.as_slice())? {
                            result.push(Some(key_id("prompts_by_member_day", &existing).or_else(abort)?));
                            continue;
                        }
                        prompts.insert(&id_key(p.prompt.id), p.bytes.as_slice())?;
                        by_day.insert(p.md_key.as_slice(), &id_key(p.prompt.id))?;
                        for d in &p.prompt.deliveries {
                            if let Some(mid) = &d.message_id {
                                by_mid.insert(mid.as_bytes(), &id_key(p.prompt.id))?;
                            }
                        }
                        for (id, m) in p.outbox_ids.iter().zip(&p.messages) {
                            tx.enqueue(*id, m, now, &mut tally)?;
                        }
                        created += 1;
                        result.push(None);
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
