//! Prompts: one per member per local day, created together with the outbox messages that carry it.

use chrono::{DateTime, NaiveDate, Utc};
use sled::Transactional;

use crate::codec::{day_bytes, decode, encode, id_key, key, key_id};
use crate::error::{StorageError, StorageResult, TxResult, abort};
use crate::outbox::{NewOutboxMessage, OutboxTx};
use crate::{Delivery, MemberId, Prompt, PromptId, Store};

fn member_day_key(member: MemberId, day: NaiveDate) -> Vec<u8> {
    key(&[&id_key(member), &day_bytes(day)])
}

impl Store {
    /// Reserves an id for a prompt about to be created (its reply token and Message-ID need it).
    pub fn new_prompt_id(&self) -> StorageResult<PromptId> {
        self.next_id()
    }

    /// Creates `prompt` and enqueues `messages` (one per email delivery) in one transaction, unless
    /// the member already has a prompt for that day: then nothing is written and the existing prompt
    /// is returned with `false`. Each email delivery's `outbox_id` is filled in here, in order.
    pub fn create_prompt(
        &self,
        mut prompt: Prompt,
        messages: &[NewOutboxMessage],
        now: DateTime<Utc>,
    ) -> StorageResult<(Prompt, bool)> {
        let _w = self.write_gate();
        let outbox_ids: Vec<u64> = messages
            .iter()
            .map(|_| self.next_id())
            .collect::<StorageResult<_>>()?;
        let md_key = member_day_key(prompt.member_id, prompt.day);
        for (id, m) in outbox_ids.iter().zip(messages) {
            if let Some(slot) = prompt
                .deliveries
                .iter_mut()
                .find(|d| d.message_id.as_deref() == Some(m.message_id.as_str()))
            {
                slot.outbox_id = Some(*id);
            }
        }
        let prompt_bytes = encode(&prompt)?;
        let result = (
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
                |(prompts, by_day, by_mid, outbox, bodies, due, inflight, keys, counters)| -> TxResult<Option<PromptId>> {
                    if let Some(existing) = by_day.get(md_key.as_slice())? {
                        return Ok(Some(key_id("prompts_by_member_day", &existing).or_else(abort)?));
                    }
                    prompts.insert(&id_key(prompt.id), prompt_bytes.as_slice())?;
                    by_day.insert(md_key.as_slice(), &id_key(prompt.id))?;
                    for d in &prompt.deliveries {
                        if let Some(mid) = &d.message_id {
                            by_mid.insert(mid.as_bytes(), &id_key(prompt.id))?;
                        }
                    }
                    let tx = OutboxTx { outbox, bodies, due, inflight, keys, counters };
                    for (id, m) in outbox_ids.iter().zip(messages) {
                        tx.enqueue(*id, m, now)?;
                    }
                    crate::outbox::counter_add(counters, "prompts.created", 1)?;
                    Ok(None)
                },
            )?;
        match result {
            Some(existing) => Ok((self.prompt(existing)?, false)),
            None => Ok((prompt, true)),
        }
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
