//! The outcome journal: how sends ended, made durable in a file of its own before sled has them.
//!
//! The outbox actor may start a send only while the sends in flight plus the finished ones whose
//! outcome is not durable yet stay below a bound (the crash bound, see src/actors/outbox.rs), so
//! the time from "the server said 250" to "that is durable" paces every connection. Recording an
//! outcome in sled takes a transaction over the outbox trees and a flush; appending it here takes a
//! write and one `fdatasync` for the whole batch. So an outcome counts as durable once it is in the
//! journal, and the sled record follows in larger batches, off the connections' path.
//!
//! ## Invariants
//! - An entry is appended and synced before its outcome counts as durable.
//! - Start-up ([`Store::recover_outbox`]) replays the journal: an entry is applied to a message
//!   still as the claim it ended found it (`queued` or `deferred` one attempt before, since claims
//!   are not written; or a durable `sending` at the same attempt, written by earlier versions),
//!   and to nothing else, so replaying an entry twice, or one whose outcome sled already has,
//!   changes nothing. A torn last frame was never synced, hence never
//!   counted durable: replay stops there.
//! - The file is emptied only when every entry appended to it is in sled and sled was flushed
//!   after that ([`Store::outcomes_applied`]); the same lock orders appends and emptying, so no
//!   entry is lost between them.
//! - Frames are written one after the other from the start of the file, over zeros: the file is
//!   grown by a megabyte of zeros at a time and keeps its size, so that an append's `fdatasync`
//!   writes the data alone and not the inode too. Emptying zeroes every frame written, so a new
//!   frame is never followed by an old one; replay stops at the first bytes that are not a whole,
//!   intact frame.
//!
//! ## Frame
//! `magic u32 | length u32 | crc32 u32 | payload`, little-endian, the CRC over the payload. The
//! payload is `at` (time) and a count, then per outcome: `id u64`, `attempts u32`, a tag
//! (`0` sent, `1` deferred with its retry time, `2` failed) and the server's reply; integers
//! big-endian, lengths and strings as in [`super::record`].

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::SendOutcome;
use super::record::{Reader, put_len, put_str, put_time};
use crate::OutboxId;
use crate::error::{StorageError, StorageResult};

const MAGIC: u32 = 0xD0_4E_0C_7E;
const HEADER: usize = 12;
const TREE: &str = "outbox journal";

/// A send's outcome as journaled: which claim of which message, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledOutcome {
    pub id: OutboxId,
    /// The message's `attempts` when it was claimed for this send.
    pub attempts: u32,
    pub outcome: SendOutcome,
}

pub(crate) struct Journal {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Opened at the first append.
    file: Option<File>,
    /// Bytes at the start of the file that are whole, synced frames; the next frame goes here.
    len: u64,
    /// The file's size: zeros from `len` to here.
    size: u64,
    /// Entries appended since the file was last emptied that sled does not have durably yet.
    unapplied: usize,
}

/// The file is grown in steps of at least this many bytes of zeros (about 15,000 outcomes).
const GROW: u64 = 1 << 20;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn corrupt(reason: String) -> StorageError {
    StorageError::Corrupt { tree: TREE, reason }
}

pub(crate) fn encode(at: DateTime<Utc>, outcomes: &[JournaledOutcome]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(16 + outcomes.len() * 64);
    put_time(&mut payload, &at);
    put_len(&mut payload, outcomes.len());
    for o in outcomes {
        payload.extend_from_slice(&o.id.to_be_bytes());
        payload.extend_from_slice(&o.attempts.to_be_bytes());
        match &o.outcome {
            SendOutcome::Sent { reply } => {
                payload.push(0);
                put_str(&mut payload, reply);
            }
            SendOutcome::Deferred { retry_at, reply } => {
                payload.push(1);
                put_time(&mut payload, retry_at);
                put_str(&mut payload, reply);
            }
            SendOutcome::Failed { reply } => {
                payload.push(2);
                put_str(&mut payload, reply);
            }
        }
    }
    let mut frame = Vec::with_capacity(HEADER + payload.len());
    frame.extend_from_slice(&MAGIC.to_le_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    frame
}

fn decode_payload(payload: &[u8]) -> StorageResult<(DateTime<Utc>, Vec<JournaledOutcome>)> {
    let mut r = Reader(payload);
    let at = r.time()?;
    let n = r.len()?;
    // Each entry takes at least 14 bytes: a count beyond that is damage, not a reason to allocate.
    let mut out = Vec::with_capacity(n.min(payload.len() / 14));
    for _ in 0..n {
        let id = r.u64()?;
        let attempts = u32::from_be_bytes(r.array()?);
        let outcome = match r.byte()? {
            0 => SendOutcome::Sent { reply: r.string()? },
            1 => {
                let retry_at = r.time()?;
                SendOutcome::Deferred {
                    retry_at,
                    reply: r.string()?,
                }
            }
            2 => SendOutcome::Failed { reply: r.string()? },
            tag => return Err(corrupt(format!("unknown outcome tag {tag}"))),
        };
        out.push(JournaledOutcome {
            id,
            attempts,
            outcome,
        });
    }
    if !r.0.is_empty() {
        return Err(corrupt(format!("{} bytes after the outcomes", r.0.len())));
    }
    Ok((at, out))
}

/// The frames of a journal file in order, up to the first that is not whole and intact (the
/// unsynced tail of an append a crash cut short, or the zeros after the last frame).
pub(crate) fn decode_frames(bytes: &[u8]) -> Vec<Frame> {
    decode(bytes).0
}

/// Where the whole, intact frames at the start of `bytes` end: the next frame goes there.
pub(crate) fn frames_end(bytes: &[u8]) -> usize {
    decode(bytes).1
}

/// One append: when, and the outcomes.
pub(crate) type Frame = (DateTime<Utc>, Vec<JournaledOutcome>);

fn decode(all: &[u8]) -> (Vec<Frame>, usize) {
    let mut frames = Vec::new();
    let mut bytes = all;
    while bytes.len() >= HEADER {
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let (magic, len, crc) = (word(0), word(4) as usize, word(8));
        let Some(payload) = bytes.get(HEADER..HEADER + len) else {
            break;
        };
        if magic != MAGIC || crc32fast::hash(payload) != crc {
            break;
        }
        match decode_payload(payload) {
            Ok(frame) => frames.push(frame),
            Err(_) => break,
        }
        bytes = &bytes[HEADER + len..];
    }
    (frames, all.len() - bytes.len())
}

/// Writes `n` zero bytes at `offset` (not synced).
fn write_zeros(file: &File, offset: u64, n: u64) -> std::io::Result<()> {
    static CHUNK: [u8; 64 * 1024] = [0; 64 * 1024];
    let mut done = 0;
    while done < n {
        let step = (n - done).min(CHUNK.len() as u64);
        file.write_all_at(&CHUNK[..step as usize], offset + done)?;
        done += step;
    }
    Ok(())
}

impl Journal {
    pub(crate) fn new(path: PathBuf) -> Journal {
        Journal {
            path,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // State changes under the lock cannot panic half-way; a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one frame and syncs it. The frame is written over zeros the file already has
    /// (the file grows by [`GROW`] at a time): its size then stays as it is, and `fdatasync` has
    /// only the data to write, not the inode (a third less time than an append, measured on ext4).
    /// On failure nothing of it counts: its bytes are zeroed again (or, if even that fails, the
    /// file is closed and reopened by the next append, which starts after the last intact frame:
    /// the caller treats the outcomes as not durable either way).
    pub(crate) fn append(
        &self,
        at: DateTime<Utc>,
        outcomes: &[JournaledOutcome],
    ) -> StorageResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let frame = encode(at, outcomes);
        let mut state = self.lock();
        if state.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                // The frames in it are the journal; the next one goes after them.
                .truncate(false)
                .mode(0o600)
                .open(&self.path)
                .map_err(io_error(&self.path))?;
            let mut bytes = Vec::new();
            (&file)
                .read_to_end(&mut bytes)
                .map_err(io_error(&self.path))?;
            state.len = frames_end(&bytes) as u64;
            state.size = bytes.len() as u64;
            state.file = Some(file);
        }
        let (len, size) = (state.len, state.size);
        let end = len + frame.len() as u64;
        let Some(file) = state.file.as_ref() else {
            unreachable!("opened above");
        };
        let grown = end.max(size + GROW);
        let written = (|| {
            if end > size {
                write_zeros(file, size, grown - size)?;
            }
            file.write_all_at(&frame, len)?;
            file.sync_data()
        })();
        match written {
            Ok(()) => {
                state.len = end;
                if end > size {
                    state.size = grown;
                }
                state.unapplied += outcomes.len();
                Ok(())
            }
            Err(e) => {
                if write_zeros(file, len, frame.len() as u64)
                    .and_then(|()| file.sync_data())
                    .is_err()
                {
                    state.file = None;
                }
                Err(io_error(&self.path)(e))
            }
        }
    }

    /// `n` journaled outcomes are now in sled, durably. When none is left unapplied the frames
    /// are zeroed (all of them, so that no old frame can follow a new one) and the next append
    /// starts at the beginning again.
    pub(crate) fn applied(&self, n: usize) -> StorageResult<()> {
        let mut state = self.lock();
        state.unapplied = state.unapplied.saturating_sub(n);
        if state.unapplied > 0 || state.len == 0 {
            return Ok(());
        }
        let Some(file) = state.file.as_ref() else {
            return Ok(());
        };
        match write_zeros(file, 0, state.len).and_then(|()| file.sync_data()) {
            Ok(()) => {
                state.len = 0;
                Ok(())
            }
            Err(e) => {
                // Some frames may be zeroed and others not: the next append reopens the file and
                // starts after whatever intact frames are left at its start. (Those are in sled
                // already; replaying them changes nothing.)
                state.file = None;
                Err(io_error(&self.path)(e))
            }
        }
    }

    /// The frames in the file: at start-up, or for a backup while appends go on (an append
    /// holds the same lock until its frame is synced, so no frame is read half-written).
    pub(crate) fn frames(&self) -> StorageResult<Vec<Frame>> {
        let _appends = self.lock();
        let mut bytes = Vec::new();
        match File::open(&self.path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(io_error(&self.path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&self.path)(e)),
        }
        Ok(decode_frames(&bytes))
    }

    /// Empties the file after a replay made every entry durable in sled.
    pub(crate) fn clear(&self) -> StorageResult<()> {
        let mut state = self.lock();
        state.unapplied = 0;
        state.len = 0;
        state.file = None;
        match OpenOptions::new().write(true).open(&self.path) {
            Ok(f) => f
                .set_len(0)
                .and_then(|()| f.sync_data())
                .map_err(io_error(&self.path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&self.path)(e)),
        }
    }
}
