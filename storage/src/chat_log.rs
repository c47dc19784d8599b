//! The chat log: chat messages taken for later processing, and the threads of team prompts.
//!
//! Owns two small things. The **log**: a platform that gives its webhook seconds to answer (Slack:
//! three, and it retries what was not answered in time) hears `200` once the message is written
//! here; the app processes it after and removes it. Each message is written once under the
//! platform's delivery key (`slack.Ev123`), so a redelivery is recognised; keys are forgotten
//! after [`KEY_RETENTION_SECS`] (platforms retry for minutes, not days). The **threads**: a team's
//! prompt posted once in a group chat, by its message, with the team and day its thread's replies
//! count for. The payload is the app's (JSON of a bus message): storage knows nothing of chat.
//!
//! Invariant: a logged message stays until [`Store::chat_processed`] removes it, so a crash between
//! `200` and processing loses nothing (the app processes what is left at start-up).

use chrono::NaiveDate;
use sled::Transactional;

use crate::codec::{day_bytes, id_key, key};
use crate::error::{StorageError, StorageResult, TxResult};
use crate::{Channel, Store, TeamId};

/// How long a delivery key is remembered.
pub const KEY_RETENTION_SECS: i64 = 7 * 24 * 3600;

fn thread_key(channel: Channel, chat: &str, message: &str) -> Vec<u8> {
    key(&[
        channel.as_str().as_bytes(),
        &[0],
        chat.as_bytes(),
        &[0],
        message.as_bytes(),
    ])
}

impl Store {
    /// Writes `payload` to the log under `delivery_key`, durably (flushed), unless that key was
    /// logged before. Returns its log id, `None` for a redelivery. `now`: unix seconds.
    pub fn log_chat(
        &self,
        delivery_key: &str,
        payload: &[u8],
        now: i64,
    ) -> StorageResult<Option<u64>> {
        let _w = self.write_gate();
        let id = self.next_id()?;
        let mut stamp = now.to_be_bytes().to_vec();
        stamp.extend_from_slice(&id_key(id));
        let logged = (&self.t.chat_log, &self.t.chat_log_keys).transaction(
            |(log, keys)| -> TxResult<bool> {
                if keys.get(delivery_key.as_bytes())?.is_some() {
                    return Ok(false);
                }
                keys.insert(delivery_key.as_bytes(), stamp.as_slice())?;
                log.insert(&id_key(id), payload)?;
                Ok(true)
            },
        )?;
        if !logged {
            return Ok(None);
        }
        self.flush()?;
        Ok(Some(id))
    }

    /// What the log holds, oldest first (at start-up: what a stop left unprocessed).
    pub fn logged_chats(&self) -> StorageResult<Vec<(u64, Vec<u8>)>> {
        self.t
            .chat_log
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                let id = crate::codec::key_id("chat_log", &k)?;
                Ok((id, v.to_vec()))
            })
            .collect()
    }

    /// Removes a processed message from the log (its effects are durable by then).
    pub fn chat_processed(&self, id: u64) -> StorageResult<()> {
        let _w = self.write_gate();
        self.t.chat_log.remove(id_key(id))?;
        Ok(())
    }

    /// Forgets delivery keys older than [`KEY_RETENTION_SECS`] before `now` (unix seconds).
    /// Returns how many.
    pub fn prune_chat_log_keys(&self, now: i64) -> StorageResult<usize> {
        let _w = self.write_gate();
        let cutoff = now - KEY_RETENTION_SECS;
        let mut pruned = 0;
        for entry in self.t.chat_log_keys.iter() {
            let (k, v) = entry?;
            let at = v
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .ok_or_else(|| StorageError::Corrupt {
                    tree: "chat_log_keys",
                    reason: format!("value of {} bytes", v.len()),
                })?;
            if at < cutoff {
                self.t.chat_log_keys.remove(k)?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    /// Remembers that `message` in `chat` on `channel` is the prompt of `team` for `day`.
    pub fn set_chat_thread(
        &self,
        channel: Channel,
        chat: &str,
        message: &str,
        team: TeamId,
        day: NaiveDate,
    ) -> StorageResult<()> {
        let _w = self.write_gate();
        let mut value = id_key(team).to_vec();
        value.extend_from_slice(&day_bytes(day));
        self.t
            .chat_threads
            .insert(thread_key(channel, chat, message), value)?;
        Ok(())
    }

    /// The team and day of the prompt `message` in `chat`, if it is one.
    pub fn chat_thread(
        &self,
        channel: Channel,
        chat: &str,
        message: &str,
    ) -> StorageResult<Option<(TeamId, NaiveDate)>> {
        let Some(v) = self
            .t
            .chat_threads
            .get(thread_key(channel, chat, message))?
        else {
            return Ok(None);
        };
        let corrupt = || StorageError::Corrupt {
            tree: "chat_threads",
            reason: format!("value of {} bytes", v.len()),
        };
        let team = v
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(corrupt)?;
        let days = v
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(corrupt)?;
        let day = NaiveDate::from_num_days_from_ce_opt(days as i32).ok_or_else(corrupt)?;
        Ok(Some((team, day)))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Channel, Store};

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_message_is_logged_once_and_stays_until_processed() {
        let (_dir, store) = temp_store();
        let a = store.log_chat("slack.Ev1", b"one", 1_000).unwrap().unwrap();
        assert_eq!(
            store.log_chat("slack.Ev1", b"one again", 1_001).unwrap(),
            None
        );
        let b = store.log_chat("slack.Ev2", b"two", 1_002).unwrap().unwrap();
        assert_eq!(
            store.logged_chats().unwrap(),
            [(a, b"one".to_vec()), (b, b"two".to_vec())]
        );
        store.chat_processed(a).unwrap();
        assert_eq!(store.logged_chats().unwrap(), [(b, b"two".to_vec())]);
        // Processed, the key is still remembered: a late retry is not taken again.
        assert_eq!(store.log_chat("slack.Ev1", b"late", 1_003).unwrap(), None);
        // Until it is forgotten, a week later.
        assert_eq!(
            store
                .prune_chat_log_keys(1_002 + super::KEY_RETENTION_SECS)
                .unwrap(),
            1
        );
        assert!(
            store
                .log_chat("slack.Ev1", b"much later", 1_004)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_prompts_thread_names_its_team_and_day() {
        let (_dir, store) = temp_store();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        store
            .set_chat_thread(Channel::Slack, "C1", "1700.000100", 7, day)
            .unwrap();
        assert_eq!(
            store
                .chat_thread(Channel::Slack, "C1", "1700.000100")
                .unwrap(),
            Some((7, day))
        );
        assert_eq!(
            store
                .chat_thread(Channel::Slack, "C2", "1700.000100")
                .unwrap(),
            None
        );
    }
}
