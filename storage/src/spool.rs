//! The inbound spool: raw received messages, appended to segment files and made durable in groups
//! before anyone is told they were accepted.
//!
//! This is the mail server's queue file, in the way Postfix keeps one: the raw bytes of a message
//! are appended to the active segment (`DATA/spool/<seq>.seg`) and `fdatasync`ed, and only then
//! does the sender hear `250`/`200`. One writer thread does all appends; whoever arrives while it
//! syncs is written and synced with the next batch, so C concurrent SMTP sessions cost about one
//! `fdatasync` per sync duration instead of C, without any extra thread hop per message. sled holds
//! the small [`InboundRecord`] (metadata, state, where the body lies) and the indexes, written
//! without a flush of their own: after a crash they are re-derived from the spool.
//!
//! ## Invariants
//! - An acknowledged message is in a segment that was synced after it was written (its frame is
//!   complete and checksummed). sled learns of it later: when it is settled (its record written
//!   once, in its final state, see [`Store::settle_received`]), or registered pending if it is
//!   postponed or a duplicate ([`Store::register_inbound`]).
//! - Start-up ([`Store::start_inbound_writer`]) reads every segment and registers each entry that
//!   sled does not know, pending (one that was never settled, or whose record was in sled's
//!   unflushed tail: a crash can lose that, never the spool's synced one). A torn frame can only
//!   be the unacknowledged tail of the segment that was active: it is cut off.
//! - A segment is deleted only when every one of its messages has a record in sled that is not
//!   pending *and* sled has been flushed after that was so; a message that failed has its body
//!   copied into sled first (operators read failed messages; processed ones need their body no
//!   more).
//! - Ids are the spool's own: one more than the highest id in the spool or in sled at start-up,
//!   then counting up; an id is never handed out twice, across crashes and restores too.
//!
//! ## Frame
//! `magic u32 | length u32 | crc32 u32 | payload`, little-endian, where the payload is
//! `id u64 | meta length u32 | meta (JSON) | raw message` and the CRC covers the payload.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::codec::id_key;
use crate::error::{StorageError, StorageResult};
use crate::inbound::Registered;
use crate::{InboundId, InboundRecord, InboundState, SpoolRef, Store};

const MAGIC: u32 = 0xD0_4E_B0_71;
const HEADER: usize = 12;
/// A segment is closed once it holds this much; closed segments are retired when settled.
const SEGMENT_BYTES: u64 = 64 << 20;
/// At most this many messages share one append and sync.
const MAX_BATCH: usize = 512;
/// With nothing to write for this long, the writer retires settled closed segments.
const IDLE_RETIRE: Duration = Duration::from_secs(60);
/// No frame is larger than this (the SMTP listener's limit is far below it): a larger length
/// field can only be garbage.
const MAX_FRAME: usize = 1 << 30;

/// A received message, as it goes into the spool.
#[derive(Debug, Clone)]
pub struct NewInbound {
    /// `smtp`, `http`, `sendgrid`, `mailgun`.
    pub via: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The Message-ID header (without brackets): the same message delivered twice is one record.
    pub message_id: Option<String>,
    pub raw: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// A message made durable in the spool, to be processed and settled
/// ([`Store::settle_received`], or with the dones it records: [`crate::NewReply::received`]);
/// `raw` is the message handed back, so that processing needs no second copy.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub raw: Vec<u8>,
    pub entry: SpoolEntry,
}

impl Accepted {
    /// The inbound id the spool gave the message.
    pub fn id(&self) -> InboundId {
        self.entry.id
    }
}

/// What the inbound log holds (see [`Store::inbound_usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundUsage {
    /// Registered, not yet processed.
    pub pending: usize,
    pub spool_segments: usize,
    pub spool_bytes: u64,
}

/// The metadata stored in a frame next to the raw message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SpoolMeta {
    pub received_at: DateTime<Utc>,
    pub via: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    #[serde(default)]
    pub message_id: Option<String>,
}

/// One entry of the spool, as registration needs it.
#[derive(Debug, Clone)]
pub struct SpoolEntry {
    pub(crate) id: InboundId,
    pub(crate) at: SpoolRef,
    pub(crate) meta: SpoolMeta,
    pub(crate) size: usize,
}

impl SpoolEntry {
    /// The inbound id the spool gave the message.
    pub fn id(&self) -> InboundId {
        self.id
    }

    /// Its envelope recipients.
    pub fn rcpt_to(&self) -> &[String] {
        &self.meta.rcpt_to
    }

    /// Its Message-ID header, without brackets.
    pub fn message_id(&self) -> Option<&str> {
        self.meta.message_id.as_deref()
    }

    /// The state of a second delivery of the message accepted as `first`: processed, as its
    /// duplicate, when it was received.
    pub(crate) fn duplicate_of(&self, first: InboundId) -> InboundState {
        InboundState::Processed {
            at: self.meta.received_at,
            outcome: format!("duplicate of inbound message {first}"),
        }
    }

    /// Its sled record, in `state`, pointing at its frame in the spool.
    pub(crate) fn record(&self, state: InboundState) -> InboundRecord {
        InboundRecord {
            id: self.id,
            received_at: self.meta.received_at,
            via: self.meta.via.clone(),
            mail_from: self.meta.mail_from.clone(),
            rcpt_to: self.meta.rcpt_to.clone(),
            size: self.size,
            state,
            spool: Some(self.at),
        }
    }
}

/// The spool directory and which messages each segment on disk holds. Shared by every clone of a
/// [`Store`]; the active segment's file handle belongs to the writer thread alone.
pub(crate) struct Spool {
    dir: PathBuf,
    /// Removed when dropped (the spool of a temporary store).
    temporary: bool,
    segments: Mutex<BTreeMap<u64, Vec<InboundId>>>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Spool {
    pub(crate) fn open(dir: PathBuf, temporary: bool) -> StorageResult<Spool> {
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(Spool {
            dir,
            temporary,
            segments: Mutex::default(),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Vec<InboundId>>> {
        // The map is only changed under the lock by code that cannot panic half-way.
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, segment: u64) -> PathBuf {
        self.dir.join(format!("{segment:016}.seg"))
    }

    /// Segment numbers found on disk, in order.
    fn on_disk(&self) -> StorageResult<Vec<u64>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let name = entry.map_err(io_error(&self.dir))?.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                found.push(seq);
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// The raw message stored at `at`, or `None` when its segment was retired.
    pub(crate) fn read(&self, at: SpoolRef) -> StorageResult<Option<Vec<u8>>> {
        let path = self.path(at.segment);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path)(e)),
        };
        file.seek(SeekFrom::Start(at.offset))
            .map_err(io_error(&path))?;
        let mut header = [0u8; HEADER];
        file.read_exact(&mut header).map_err(io_error(&path))?;
        let len =
            frame_len(&header).ok_or_else(|| corrupt(&path, at.offset, "bad frame header"))?;
        let mut payload = vec![0u8; len];
        file.read_exact(&mut payload).map_err(io_error(&path))?;
        let (_, _, raw) = check_payload(&header, &payload)
            .ok_or_else(|| corrupt(&path, at.offset, "checksum mismatch"))?;
        Ok(Some(raw.to_vec()))
    }

    /// Reads every frame of a segment; a torn or corrupt tail ends it. Returns the entries and
    /// the length of the valid prefix.
    fn scan(&self, segment: u64) -> StorageResult<(Vec<SpoolEntry>, u64, u64)> {
        let path = self.path(segment);
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        let mut entries = Vec::new();
        let mut at = 0usize;
        while at < bytes.len() {
            let Some(header) = bytes.get(at..at + HEADER) else {
                break;
            };
            let Some(len) = frame_len(header) else { break };
            let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
                break;
            };
            let Some((id, meta, raw)) = check_payload(header, payload) else {
                break;
            };
            let Ok(meta) = serde_json::from_slice::<SpoolMeta>(meta) else {
                break;
            };
            entries.push(SpoolEntry {
                id,
                at: SpoolRef {
                    segment,
                    offset: at as u64,
                },
                meta,
                size: raw.len(),
            });
            at += HEADER + len;
        }
        Ok((entries, at as u64, bytes.len() as u64))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn corrupt(path: &Path, offset: u64, reason: &str) -> StorageError {
    StorageError::Corrupt {
        tree: "spool",
        reason: format!("{} at offset {offset}: {reason}", path.display()),
    }
}

fn frame_len(header: &[u8]) -> Option<usize> {
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(header.get(i..i + 4)?.try_into().ok()?))
    };
    if word(0)? != MAGIC {
        return None;
    }
    let len = word(4)? as usize;
    (12..=MAX_FRAME).contains(&len).then_some(len)
}

/// Checks the CRC and splits a payload into id, meta and raw message.
fn check_payload<'a>(header: &[u8], payload: &'a [u8]) -> Option<(InboundId, &'a [u8], &'a [u8])> {
    let crc = u32::from_le_bytes(header.get(8..12)?.try_into().ok()?);
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let id = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let meta_len = u32::from_le_bytes(payload.get(8..12)?.try_into().ok()?) as usize;
    let meta = payload.get(12..12 + meta_len)?;
    let raw = payload.get(12 + meta_len..)?;
    Some((id, meta, raw))
}

/// Appends one frame to `buf`.
fn encode_frame(buf: &mut Vec<u8>, id: InboundId, meta: &[u8], raw: &[u8]) {
    let start = buf.len();
    let len = 12 + meta.len() + raw.len();
    buf.extend_from_slice(&MAGIC.to_le_bytes());
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&id.to_le_bytes());
    buf.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    buf.extend_from_slice(meta);
    buf.extend_from_slice(raw);
    let crc = crc32fast::hash(&buf[start + HEADER..]);
    buf[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// Makes a directory entry (a new or removed segment) durable.
fn sync_dir(dir: &Path) -> StorageResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// The answer to one [`InboundWriter::accept`]: await it, or [`Receipt::wait`] for it.
#[must_use = "a message is accepted only once its receipt says so"]
pub struct Receipt(oneshot::Receiver<StorageResult<Accepted>>);

impl Receipt {
    /// Blocks until the message is durable (or could not be made so).
    pub fn wait(self) -> StorageResult<Accepted> {
        self.0
            .blocking_recv()
            .unwrap_or_else(|_| Err(writer_gone()))
    }
}

impl std::future::Future for Receipt {
    type Output = StorageResult<Accepted>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(writer_gone())))
    }
}

fn writer_gone() -> StorageError {
    StorageError::Conflict("the inbound spool writer has stopped".into())
}

struct Job {
    mail: NewInbound,
    done: oneshot::Sender<StorageResult<Accepted>>,
}

/// The handle of the spool's writer thread. Dropping it lets the thread write what it was given,
/// then stop; the drop waits for that.
pub struct InboundWriter {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl InboundWriter {
    /// Hands a received message to the writer. The [`Receipt`] resolves once the message is
    /// durable (then, and only then, may the sender be told), or with the error that prevented it
    /// (tell the sender to try again later).
    pub fn accept(&self, mail: NewInbound) -> Receipt {
        let (done, rx) = oneshot::channel();
        if let Some(tx) = &self.tx
            && let Err(mpsc::SendError(job)) = tx.send(Job { mail, done })
        {
            let _ = job.done.send(Err(writer_gone()));
        }
        Receipt(rx)
    }
}

impl Drop for InboundWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the inbound spool writer panicked");
        }
    }
}

/// The active segment, owned by the writer thread.
struct Active {
    seq: u64,
    file: File,
    len: u64,
}

struct Writer {
    store: Store,
    active: Active,
    /// The next inbound id. The spool hands out its own ids: sled's id generator waits for any
    /// transaction in progress, and receipt must never wait for the database.
    next_id: InboundId,
}

impl Store {
    /// Recovers the spool (every entry sled does not know is registered as pending, a torn tail
    /// is cut off), then starts the writer thread on a fresh segment. Call once per process, at
    /// start-up, before processing [`Store::pending_inbound`].
    pub fn start_inbound_writer(&self) -> StorageResult<InboundWriter> {
        let spool = &self.spool;
        let found = spool.on_disk()?;
        let mut recovered = 0usize;
        // Above every id in use: those of the spool's frames and those of sled's records (whose
        // frames may have been retired).
        let mut max_id = self.last_inbound_id()?;
        for (i, &seq) in found.iter().enumerate() {
            let (entries, valid, total) = spool.scan(seq)?;
            if valid < total {
                let path = spool.path(seq);
                if i + 1 == found.len() {
                    // Only the active segment's last append can be torn, and it was never
                    // acknowledged: cut it off.
                    warn!(path = %path.display(), valid, total, "cutting off the torn tail of the inbound spool");
                    OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .and_then(|f| {
                            f.set_len(valid)?;
                            f.sync_all()
                        })
                        .map_err(io_error(&path))?;
                } else {
                    // A failed append (its batch was answered "try again later") or damage on disk.
                    error!(path = %path.display(), valid, total, "inbound spool segment ends in an unreadable frame at offset {valid}; the entries before it are kept");
                }
            }
            // Nothing else writes yet: what sled knows now, it knows at registration. (Those
            // are most entries after a clean stop; registering them would rewrite each.)
            let unknown: Vec<SpoolEntry> = entries
                .iter()
                .filter(|e| !matches!(self.t.inbound.contains_key(id_key(e.id)), Ok(true)))
                .cloned()
                .collect();
            recovered += self
                .register_inbound(&unknown)?
                .iter()
                .filter(|r| matches!(r, Registered::Fresh))
                .count();
            max_id = entries.iter().map(|e| e.id).fold(max_id, u64::max);
            spool
                .lock()
                .insert(seq, entries.iter().map(|e| e.id).collect());
        }
        if recovered > 0 {
            info!(
                messages = recovered,
                "inbound spool: registered messages sled had not kept"
            );
        }
        let seq = found.last().map_or(1, |s| s + 1);
        let active = self.open_segment(seq)?;
        let mut writer = Writer {
            store: self.clone(),
            active,
            next_id: max_id + 1,
        };
        if let Err(e) = writer.retire_settled() {
            warn!(error = %e, "cannot retire settled inbound spool segments");
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("inbound-spool".into())
            .spawn(move || writer.run(rx))
            .map_err(io_error(&self.spool.dir))?;
        Ok(InboundWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn open_segment(&self, seq: u64) -> StorageResult<Active> {
        let path = self.spool.path(seq);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        sync_dir(&self.spool.dir)?;
        self.spool.lock().insert(seq, Vec::new());
        Ok(Active { seq, file, len: 0 })
    }

    /// Messages in the spool that sled has no record of (accepted, not yet registered), with
    /// their raw bytes. Reads only: a frame being appended right now is simply not seen yet.
    pub(crate) fn unregistered_spool_entries(&self) -> StorageResult<Vec<(SpoolEntry, Vec<u8>)>> {
        let mut out = Vec::new();
        for seq in self.spool.on_disk()? {
            let (entries, _, _) = match self.spool.scan(seq) {
                Ok(scanned) => scanned,
                // Retired between the listing and the read: everything in it was registered.
                Err(StorageError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            for entry in entries {
                if self.inbound(entry.id).is_ok() {
                    continue;
                }
                if let Some(raw) = self.spool.read(entry.at)? {
                    out.push((entry, raw));
                }
            }
        }
        Ok(out)
    }

    /// How much the inbound log holds now, for operators.
    pub fn inbound_usage(&self) -> StorageResult<InboundUsage> {
        let mut usage = InboundUsage {
            pending: self.t.inbound_pending.len(),
            ..InboundUsage::default()
        };
        for seq in self.spool.on_disk()? {
            // A segment retired since the listing simply counts no more.
            if let Ok(meta) = std::fs::metadata(self.spool.path(seq)) {
                usage.spool_segments += 1;
                usage.spool_bytes += meta.len();
            }
        }
        Ok(usage)
    }

    /// The raw body of a message in the spool, if its segment is still there.
    pub(crate) fn spool_read(&self, at: SpoolRef) -> StorageResult<Option<Vec<u8>>> {
        self.spool.read(at)
    }
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut batch = Vec::new();
        loop {
            match rx.recv_timeout(IDLE_RETIRE) {
                Ok(job) => batch.push(job),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.retire_settled() {
                        warn!(error = %e, "cannot retire settled inbound spool segments");
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            // Everyone who arrived while the last batch was syncing shares this append and sync.
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.write(&mut batch);
        }
    }

    /// Appends and syncs a batch, then answers every job in it. Nothing touches sled here:
    /// receipt never waits for the database.
    fn write(&mut self, batch: &mut Vec<Job>) {
        match self.append(batch.as_mut_slice()) {
            Ok(entries) => {
                for (job, entry) in batch.drain(..).zip(entries) {
                    let _ = job.done.send(Ok(Accepted {
                        raw: job.mail.raw,
                        entry,
                    }));
                }
            }
            Err(e) => {
                error!(error = %e, "cannot append to the inbound spool; answering try-again-later");
                answer_all(batch, &e);
                // Whatever the failed append left behind must not precede later frames.
                self.replace_active();
            }
        }
        if self.active.len >= SEGMENT_BYTES {
            self.replace_active();
            if let Err(e) = self.retire_settled() {
                warn!(error = %e, "cannot retire settled inbound spool segments");
            }
        }
    }

    fn append(&mut self, batch: &mut [Job]) -> StorageResult<Vec<SpoolEntry>> {
        let path = self.store.spool.path(self.active.seq);
        let mut buf = Vec::with_capacity(batch.iter().map(|j| j.mail.raw.len() + 256).sum());
        let mut entries = Vec::with_capacity(batch.len());
        for job in batch.iter_mut() {
            let id = self.next_id;
            self.next_id += 1;
            let meta = SpoolMeta {
                received_at: job.mail.received_at,
                // Only the raw message goes back to the sender's task; the rest moves here.
                via: std::mem::take(&mut job.mail.via),
                mail_from: std::mem::take(&mut job.mail.mail_from),
                rcpt_to: std::mem::take(&mut job.mail.rcpt_to),
                message_id: job.mail.message_id.take(),
            };
            let meta_json = serde_json::to_vec(&meta).map_err(|e| StorageError::Corrupt {
                tree: "spool",
                reason: e.to_string(),
            })?;
            let offset = self.active.len + buf.len() as u64;
            encode_frame(&mut buf, id, &meta_json, &job.mail.raw);
            entries.push(SpoolEntry {
                id,
                at: SpoolRef {
                    segment: self.active.seq,
                    offset,
                },
                meta,
                size: job.mail.raw.len(),
            });
        }
        self.active
            .file
            .write_all(&buf)
            .and_then(|()| self.active.file.sync_data())
            .map_err(io_error(&path))?;
        self.active.len += buf.len() as u64;
        self.store
            .spool
            .lock()
            .entry(self.active.seq)
            .or_default()
            .extend(entries.iter().map(|e| e.id));
        Ok(entries)
    }

    /// Closes the active segment and starts the next one. After a failed append the old segment
    /// may end in a partial frame: nothing is ever appended after it.
    fn replace_active(&mut self) {
        let next = self.active.seq + 1;
        match self.store.open_segment(next) {
            Ok(active) => self.active = active,
            Err(e) => error!(error = %e, "cannot start a new inbound spool segment"),
        }
    }

    /// Deletes closed segments none of whose messages is pending, after a flush of sled that
    /// makes their final states durable.
    fn retire_settled(&mut self) -> StorageResult<()> {
        let spool = &self.store.spool;
        let candidates: Vec<(u64, Vec<InboundId>)> = spool
            .lock()
            .iter()
            .filter(|(seq, _)| **seq != self.active.seq)
            .map(|(seq, ids)| (*seq, ids.clone()))
            .collect();
        let mut settled = Vec::new();
        for (seq, ids) in candidates {
            if self.store.all_inbound_settled(&ids)? {
                settled.push(seq);
            }
        }
        if settled.is_empty() {
            return Ok(());
        }
        self.store.flush()?;
        for seq in &settled {
            let path = spool.path(*seq);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path)(e)),
            }
            spool.lock().remove(seq);
        }
        sync_dir(&spool.dir)?;
        info!(
            segments = settled.len(),
            "retired settled inbound spool segments"
        );
        Ok(())
    }
}

fn answer_all(batch: &mut Vec<Job>, e: &StorageError) {
    for job in batch.drain(..) {
        let _ = job
            .done
            .send(Err(StorageError::Conflict(format!("inbound spool: {e}"))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(n: u32) -> NewInbound {
        NewInbound {
            via: "smtp".into(),
            mail_from: "ada@example.com".into(),
            rcpt_to: vec!["donebot@done.example".into()],
            message_id: Some(format!("m{n}@example.com")),
            raw: format!("Message-ID: <m{n}@example.com>\r\n\r\nline {n}\r\n").into_bytes(),
            received_at: Utc::now(),
        }
    }

    fn accept_registered(store: &Store, writer: &InboundWriter, n: u32) -> InboundId {
        let accepted = writer.accept(mail(n)).wait().expect("accepted");
        assert_eq!(
            store
                .register_inbound(std::slice::from_ref(&accepted.entry))
                .expect("registered"),
            vec![Registered::Fresh]
        );
        accepted.id()
    }

    fn segments(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("spool"))
            .expect("spool dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// sled's unflushed tail is lost in a crash; the spool's synced frames are not: start-up
    /// registers them again, pending, with their bodies readable.
    #[test]
    fn recovery_registers_what_sled_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids: Vec<InboundId> = {
            let store = Store::open(dir.path()).expect("open");
            let writer = store.start_inbound_writer().expect("writer");
            let ids = (0..5)
                .map(|n| {
                    let accepted = writer.accept(mail(n)).wait().expect("accepted");
                    store
                        .register_inbound(std::slice::from_ref(&accepted.entry))
                        .expect("registered");
                    accepted.id()
                })
                .collect();
            drop(writer);
            // Simulate the lost tail: sled forgets the registrations.
            for key in store.t.inbound.iter().keys() {
                store.t.inbound.remove(key.expect("key")).expect("remove");
            }
            store.t.inbound_pending.clear().expect("clear");
            store.t.inbound_by_message_id.clear().expect("clear");
            store.flush().expect("flush");
            ids
        };
        let store = crate::reopen(dir.path()).expect("reopen");
        assert!(store.pending_inbound().expect("pending").is_empty());
        let writer = store.start_inbound_writer().expect("writer");
        assert_eq!(store.pending_inbound().expect("pending"), ids);
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(store.inbound_body(*id).expect("body"), mail(n as u32).raw);
        }
        // The re-registered Message-IDs still make a second delivery a duplicate.
        let again = writer.accept(mail(3)).wait().expect("accepted");
        assert_eq!(
            store.register_inbound(&[again.entry]).expect("registered"),
            vec![Registered::Duplicate(ids[3])]
        );
    }

    /// A crash in the middle of an append leaves a partial frame that was never acknowledged:
    /// start-up cuts it off and keeps every complete frame before it.
    #[test]
    fn a_torn_tail_is_cut_off_and_the_frames_before_it_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ids, seg) = {
            let store = Store::open(dir.path()).expect("open");
            let writer = store.start_inbound_writer().expect("writer");
            let ids: Vec<InboundId> = (0..3)
                .map(|n| writer.accept(mail(n)).wait().expect("accepted").id())
                .collect();
            drop(writer);
            let seg = segments(dir.path()).pop().expect("a segment");
            (ids, seg)
        };
        let path = dir.path().join("spool").join(&seg);
        let whole = std::fs::metadata(&path).expect("meta").len();
        let mut torn = Vec::new();
        encode_frame(&mut torn, 999, b"{}", b"half a message");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(&torn[..torn.len() / 2]).expect("write");
        drop(f);

        let store = crate::reopen(dir.path()).expect("reopen");
        let _writer = store.start_inbound_writer().expect("writer");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), whole);
        assert_eq!(store.pending_inbound().expect("pending"), ids);
        assert!(store.inbound(999).is_err());
    }

    /// A closed segment goes once none of its messages is pending; a failed message keeps its
    /// body in sled, a processed one needs it no more.
    #[test]
    fn settled_segments_are_retired_and_failed_bodies_survive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let (ok, bad) = {
            let writer = store.start_inbound_writer().expect("writer");
            let ok = accept_registered(&store, &writer, 1);
            let bad = accept_registered(&store, &writer, 2);
            (ok, bad)
        };
        let first = segments(dir.path());
        assert_eq!(first.len(), 1);
        // A restart closes the segment; nothing is settled yet, so it stays.
        drop(store.start_inbound_writer().expect("writer"));
        assert_eq!(segments(dir.path()).len(), 2);

        let at = Utc::now();
        store
            .set_inbound_state(
                ok,
                InboundState::Processed {
                    at,
                    outcome: "recorded".into(),
                },
            )
            .expect("processed");
        store
            .set_inbound_state(
                bad,
                InboundState::Failed {
                    at,
                    error: "stranger".into(),
                },
            )
            .expect("failed");
        drop(store.start_inbound_writer().expect("writer"));
        let left = segments(dir.path());
        assert!(!left.contains(&first[0]), "{left:?}");
        assert_eq!(store.inbound_body(bad).expect("kept"), mail(2).raw);
        assert!(store.inbound_body(ok).expect_err("retired").is_not_found());
    }

    /// A message acknowledged but not yet registered (the processor had not got to it) keeps
    /// its segment, however often the spool restarts, until it is settled.
    #[test]
    fn an_unregistered_message_keeps_its_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let accepted = {
            let writer = store.start_inbound_writer().expect("writer");
            writer.accept(mail(1)).wait().expect("accepted")
        };
        let first = segments(dir.path()).remove(0);
        // Start-up registers it (pending) and keeps its segment, every time.
        for _ in 0..2 {
            drop(store.start_inbound_writer().expect("writer"));
            assert!(segments(dir.path()).contains(&first));
        }
        assert_eq!(
            store.pending_inbound().expect("pending"),
            vec![accepted.id()]
        );
        let usage = store.inbound_usage().expect("usage");
        // Its segment and the active one (the empty one between them was retired).
        assert_eq!((usage.pending, usage.spool_segments), (1, 2));
        assert!(usage.spool_bytes > mail(1).raw.len() as u64, "{usage:?}");
        let at = Utc::now();
        store
            .set_inbound_state(
                accepted.id(),
                InboundState::Processed {
                    at,
                    outcome: "recorded".into(),
                },
            )
            .expect("processed");
        drop(store.start_inbound_writer().expect("writer"));
        assert!(!segments(dir.path()).contains(&first));
    }

    /// Ids are never handed out twice: a restart continues above both the spool's frames and
    /// sled's records, even when every segment was retired.
    #[test]
    fn ids_continue_above_everything_ever_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let first = {
            let writer = store.start_inbound_writer().expect("writer");
            accept_registered(&store, &writer, 1)
        };
        let at = Utc::now();
        store
            .set_inbound_state(
                first,
                InboundState::Processed {
                    at,
                    outcome: "recorded".into(),
                },
            )
            .expect("processed");
        drop(store.start_inbound_writer().expect("writer"));
        assert!(
            store
                .inbound_body(first)
                .expect_err("retired")
                .is_not_found()
        );
        let writer = store.start_inbound_writer().expect("writer");
        let second = writer.accept(mail(2)).wait().expect("accepted").id();
        assert!(second > first, "{second} after {first}");
    }

    /// A backup taken while messages are pending (registered or not yet) carries them with their
    /// bodies, so the restored database processes them without the spool.
    #[test]
    fn a_backup_carries_the_bodies_of_pending_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backup = tempfile::tempdir().expect("tempdir");
        let restored = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let writer = store.start_inbound_writer().expect("writer");
        let id = accept_registered(&store, &writer, 7);
        // Acknowledged, not yet registered by the processor: in the backup all the same.
        let unregistered = writer.accept(mail(8)).wait().expect("accepted").id();
        crate::backup_to(&store, &backup.path().join("b"), Utc::now()).expect("backup");
        crate::unlocked(|| {
            crate::restore_from(&backup.path().join("b"), &restored.path().join("d"))
        })
        .expect("restore");
        let copy = Store::open(&restored.path().join("d")).expect("open copy");
        assert_eq!(
            copy.pending_inbound().expect("pending"),
            vec![id, unregistered]
        );
        assert_eq!(copy.inbound_body(id).expect("body"), mail(7).raw);
        assert_eq!(copy.inbound_body(unregistered).expect("body"), mail(8).raw);
    }

    #[test]
    fn frames_round_trip_and_reject_any_flipped_byte() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 42, b"{\"m\":1}", b"Subject: hi\r\n\r\nbody");
        let len = frame_len(&buf).expect("valid header");
        let (id, meta, raw) =
            check_payload(&buf[..HEADER], &buf[HEADER..HEADER + len]).expect("valid");
        assert_eq!(
            (id, meta, raw),
            (42, &b"{\"m\":1}"[..], &b"Subject: hi\r\n\r\nbody"[..])
        );
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x01;
            let ok = frame_len(&bad)
                .filter(|l| *l == len)
                .and_then(|_| check_payload(&bad[..HEADER], &bad[HEADER..HEADER + len]));
            assert!(ok.is_none(), "flipping byte {i} went unnoticed");
        }
    }
}
