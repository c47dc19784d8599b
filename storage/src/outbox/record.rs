//! The outbox record in bytes: a compact binary layout (version byte [`BINARY`]) instead of the
//! JSON every other record uses.
//!
//! An outbox message is rewritten on every transition (`queued → sending → sent`), three
//! encodings and two decodings a message; as JSON they were about a tenth of a message's CPU.
//! Records written by earlier versions (JSON, [`crate::codec`]'s version 1) are still read; a
//! record is rewritten in this layout at its next transition.
//!
//! Layout after the version byte, integers big-endian, strings as a LEB128 length then UTF-8:
//! `id u64`, `channel str`, `key str`, `kind u8`, `team_id opt u64`, `member_id opt u64`,
//! `envelope_from str`, `envelope_to count + str…`, `message_id str`, the state (`tag u8`, then
//! its time and reply as the variant has them), `attempts u32`, `due_at time`,
//! `created_at time`; an option is a `0`/`1` byte then the value, a time is `i64` seconds and
//! `u32` nanoseconds since the epoch. Decoding checks every length against what is left and
//! rejects trailing bytes, so a damaged record is an error, never a panic or a misreading.

use chrono::{DateTime, Utc};

use crate::codec::decode;
use crate::error::{StorageError, StorageResult};
use crate::{Channel, OutboxKind, OutboxMessage, OutboxState};

/// First byte of a binary outbox record (JSON records start with 1).
pub(crate) const BINARY: u8 = 2;

const TREE: &str = "outbox";

pub(crate) fn encode_message(m: &OutboxMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        96 + m.key.len()
            + m.envelope_from.len()
            + m.envelope_to.iter().map(|t| t.len() + 2).sum::<usize>()
            + m.message_id.len(),
    );
    out.push(BINARY);
    out.extend_from_slice(&m.id.to_be_bytes());
    put_str(&mut out, m.channel.as_str());
    put_str(&mut out, &m.key);
    out.push(kind_byte(m.kind));
    put_opt(&mut out, m.team_id);
    put_opt(&mut out, m.member_id);
    put_str(&mut out, &m.envelope_from);
    put_len(&mut out, m.envelope_to.len());
    for to in &m.envelope_to {
        put_str(&mut out, to);
    }
    put_str(&mut out, &m.message_id);
    match &m.state {
        OutboxState::Queued => out.push(0),
        OutboxState::Sending { since } => {
            out.push(1);
            put_time(&mut out, since);
        }
        OutboxState::Sent { at, reply } => {
            out.push(2);
            put_time(&mut out, at);
            put_str(&mut out, reply);
        }
        OutboxState::Deferred { reply } => {
            out.push(3);
            put_str(&mut out, reply);
        }
        OutboxState::Failed { at, reply } => {
            out.push(4);
            put_time(&mut out, at);
            put_str(&mut out, reply);
        }
    }
    out.extend_from_slice(&m.attempts.to_be_bytes());
    put_time(&mut out, &m.due_at);
    put_time(&mut out, &m.created_at);
    out
}

/// Reads a record in either layout.
pub(crate) fn decode_message(bytes: &[u8]) -> StorageResult<OutboxMessage> {
    match bytes.split_first() {
        Some((&BINARY, rest)) => {
            let mut r = Reader(rest);
            let m = r.message()?;
            if !r.0.is_empty() {
                return Err(corrupt(format!("{} bytes after the record", r.0.len())));
            }
            Ok(m)
        }
        _ => decode(TREE, bytes),
    }
}

fn corrupt(reason: String) -> StorageError {
    StorageError::Corrupt { tree: TREE, reason }
}

fn kind_byte(kind: OutboxKind) -> u8 {
    match kind {
        OutboxKind::Prompt => 0,
        OutboxKind::Digest => 1,
        OutboxKind::Welcome => 2,
        OutboxKind::Confirmation => 3,
        OutboxKind::Nudge => 4,
        OutboxKind::SignIn => 5,
    }
}

pub(super) fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

pub(super) fn put_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    out.extend_from_slice(&t.timestamp().to_be_bytes());
    out.extend_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
}

pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> StorageResult<&[u8]> {
        if self.0.len() < n {
            return Err(corrupt(format!(
                "record ends early ({} bytes left, {n} wanted)",
                self.0.len()
            )));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> StorageResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(super) fn byte(&mut self) -> StorageResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u64(&mut self) -> StorageResult<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(super) fn len(&mut self) -> StorageResult<usize> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(n).map_err(|_| corrupt("length too large".into()));
            }
        }
        Err(corrupt("length longer than 10 bytes".into()))
    }

    pub(super) fn string(&mut self) -> StorageResult<String> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| corrupt(e.to_string()))
    }

    fn opt(&mut self) -> StorageResult<Option<u64>> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            b => Err(corrupt(format!("option flag {b}"))),
        }
    }

    pub(super) fn time(&mut self) -> StorageResult<DateTime<Utc>> {
        let secs = i64::from_be_bytes(self.array()?);
        let nanos = u32::from_be_bytes(self.array()?);
        DateTime::from_timestamp(secs, nanos)
            .ok_or_else(|| corrupt(format!("time {secs}.{nanos} out of range")))
    }

    fn message(&mut self) -> StorageResult<OutboxMessage> {
        let id = self.u64()?;
        let channel = self.string()?;
        let channel =
            Channel::try_new(&channel).ok_or_else(|| corrupt(format!("channel {channel:?}")))?;
        let key = self.string()?;
        let kind = match self.byte()? {
            0 => OutboxKind::Prompt,
            1 => OutboxKind::Digest,
            2 => OutboxKind::Welcome,
            3 => OutboxKind::Confirmation,
            4 => OutboxKind::Nudge,
            5 => OutboxKind::SignIn,
            b => return Err(corrupt(format!("kind {b}"))),
        };
        let team_id = self.opt()?;
        let member_id = self.opt()?;
        let envelope_from = self.string()?;
        let count = self.len()?;
        // Each recipient takes at least its length byte: a count beyond what is left is damage,
        // not a reason to reserve memory.
        if count > self.0.len() {
            return Err(corrupt(format!(
                "{count} recipients in {} bytes",
                self.0.len()
            )));
        }
        let envelope_to = (0..count)
            .map(|_| self.string())
            .collect::<StorageResult<Vec<_>>>()?;
        let message_id = self.string()?;
        let state = match self.byte()? {
            0 => OutboxState::Queued,
            1 => OutboxState::Sending {
                since: self.time()?,
            },
            2 => OutboxState::Sent {
                at: self.time()?,
                reply: self.string()?,
            },
            3 => OutboxState::Deferred {
                reply: self.string()?,
            },
            4 => OutboxState::Failed {
                at: self.time()?,
                reply: self.string()?,
            },
            b => return Err(corrupt(format!("state {b}"))),
        };
        let attempts = u32::from_be_bytes(self.array()?);
        let due_at = self.time()?;
        let created_at = self.time()?;
        Ok(OutboxMessage {
            id,
            channel,
            key,
            kind,
            team_id,
            member_id,
            envelope_from,
            envelope_to,
            message_id,
            state,
            attempts,
            due_at,
            created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::codec::encode;

    fn message(state: OutboxState) -> OutboxMessage {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 18, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        OutboxMessage {
            id: 42,
            channel: Channel::Email,
            key: "prompt:7:2026-12-04:email".into(),
            kind: OutboxKind::Prompt,
            team_id: Some(3),
            member_id: None,
            envelope_from: "bounce+tok@example.com".into(),
            envelope_to: vec!["zoë@example.org".into(), "b@example.org".into()],
            message_id: "prompt.abc@example.com".into(),
            state,
            attempts: 2,
            due_at: at,
            created_at: at - chrono::Duration::seconds(5),
        }
    }

    fn states() -> Vec<OutboxState> {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 18, 0, 1).unwrap();
        vec![
            OutboxState::Queued,
            OutboxState::Sending { since: at },
            OutboxState::Sent {
                at,
                reply: "250 2.0.0 Ok".into(),
            },
            OutboxState::Deferred {
                reply: "451 later".into(),
            },
            OutboxState::Failed {
                at,
                reply: "550 no such user ".repeat(20),
            },
        ]
    }

    #[test]
    fn every_state_round_trips_and_is_smaller_than_json() {
        for state in states() {
            let m = message(state);
            let bytes = encode_message(&m);
            assert_eq!(bytes[0], BINARY);
            assert_eq!(decode_message(&bytes).unwrap(), m);
            assert!(bytes.len() < encode(&m).unwrap().len());
        }
    }

    #[test]
    fn json_records_of_earlier_versions_are_read() {
        let m = message(states().remove(2));
        assert_eq!(decode_message(&encode(&m).unwrap()).unwrap(), m);
    }

    #[test]
    fn damaged_records_are_errors() {
        let bytes = encode_message(&message(OutboxState::Queued));
        for cut in 1..bytes.len() {
            assert!(decode_message(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_message(&long).is_err());
        assert!(decode_message(&[]).is_err());
        assert!(decode_message(&[BINARY, 0xff]).is_err());
        // A huge recipient count does not allocate; it is refused.
        let mut r = vec![BINARY];
        r.extend_from_slice(&1u64.to_be_bytes());
        r.extend_from_slice(&[5, b'e', b'm', b'a', b'i', b'l', 0, 0, 0, 0, 0]);
        r.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode_message(&r).is_err());
    }
}
