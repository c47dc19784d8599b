//! Backups: a consistent snapshot of the whole database while the server keeps running.
//!
//! A backup holds the write gate exclusively, so it sees no transaction half-applied and no write
//! lands while it copies; reads go on. Outcomes of sends that so far are durable only in the
//! outbox's journal are applied to the snapshot. The snapshot is itself a sled database in
//! `DIR/db`, plus a `DIR/backup.json` manifest; `restore_from` imports it into an empty data
//! directory.

use std::path::Path;

use crate::Store;
use crate::error::{StorageError, StorageResult};
use crate::trees::NAMES;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    created_at: chrono::DateTime<chrono::Utc>,
    schema_version: u32,
    trees: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn ensure_empty(dir: &Path) -> StorageResult<()> {
    if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(StorageError::Conflict(format!(
            "{} is not empty; choose a new directory",
            dir.display()
        )));
    }
    crate::private::make_private(dir).map(|_| ())
}

fn copy_trees(from: &sled::Db, to: &sled::Db) -> StorageResult<()> {
    for name in NAMES {
        let src = from.open_tree(name)?;
        let dst = to.open_tree(name)?;
        for kv in src.iter() {
            let (k, v) = kv?;
            dst.insert(k, v)?;
        }
    }
    // The copy's id generator starts at zero: lift its floor so that it never hands out an id the
    // snapshot already used.
    let floor = crate::codec::id_floor(&from.open_tree("meta")?)? + from.generate_id()? + 1;
    to.open_tree("meta")?
        .insert(crate::codec::ID_FLOOR, &floor.to_be_bytes())?;
    to.flush()?;
    Ok(())
}

/// Pending messages keep their bodies in the spool, outside sled: the snapshot gets them in its
/// `inbound_bodies` tree, so that the restored database processes them without the spool.
fn copy_pending_bodies(store: &Store, to: &sled::Db) -> StorageResult<()> {
    let bodies = to.open_tree("inbound_bodies")?;
    for key in store.t.inbound_pending.iter().keys() {
        let key = key?;
        if bodies.contains_key(&key)? {
            continue;
        }
        let id = crate::codec::key_id("inbound_pending", &key)?;
        bodies.insert(key, store.inbound_body(id)?)?;
    }
    to.flush()?;
    Ok(())
}

/// Messages acknowledged but not yet registered by the processor exist only in the spool: the
/// snapshot gets them as pending records with their bodies, so that nothing acknowledged before
/// the backup is missing from it.
fn copy_unregistered(store: &Store, to: &sled::Db) -> StorageResult<()> {
    let (records, bodies, pending, by_mid) = (
        to.open_tree("inbound")?,
        to.open_tree("inbound_bodies")?,
        to.open_tree("inbound_pending")?,
        to.open_tree("inbound_by_message_id")?,
    );
    for (entry, raw) in store.unregistered_spool_entries()? {
        let key = crate::codec::id_key(entry.id);
        let duplicate_of = match &entry.meta.message_id {
            Some(mid) => match by_mid.get(mid.as_bytes())? {
                Some(prev) => Some(crate::codec::key_id("inbound_by_message_id", &prev)?),
                None => {
                    by_mid.insert(mid.as_bytes(), &key)?;
                    None
                }
            },
            None => None,
        };
        let state = match duplicate_of {
            Some(prev) => entry.duplicate_of(prev),
            None => {
                pending.insert(key, &[])?;
                bodies.insert(key, raw)?;
                crate::InboundState::Pending
            }
        };
        // The snapshot has no spool: the body is in its `inbound_bodies`.
        let record = crate::InboundRecord {
            spool: None,
            ..entry.record(state)
        };
        records.insert(key, crate::codec::encode(&record)?)?;
    }
    to.flush()?;
    Ok(())
}

/// Sends whose outcome is durable only in the outbox's journal (sled records them a batch later)
/// get it in the snapshot, so that a restored database does not send them again. Under the
/// exclusive gate no outcome is recorded, so each one is in the trees just copied or still in
/// the journal.
fn apply_outcome_journal(store: &Store, to: &sled::Db) -> StorageResult<()> {
    let frames = store.journal.frames()?;
    if frames.is_empty() {
        return Ok(());
    }
    crate::outbox::apply_journal(&crate::trees::Trees::open(to)?, &frames)?;
    to.flush()?;
    Ok(())
}

/// Writes a consistent snapshot of `store` into the empty (or new) directory `dir`.
pub fn backup_to(
    store: &Store,
    dir: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> StorageResult<()> {
    ensure_empty(dir)?;
    let target = sled::Config::new().path(dir.join("db")).open()?;
    {
        let _exclusive = store.gate.write().unwrap_or_else(|p| p.into_inner());
        store.db.flush()?;
        copy_trees(&store.db, &target)?;
        copy_pending_bodies(store, &target)?;
        copy_unregistered(store, &target)?;
        apply_outcome_journal(store, &target)?;
    }
    let manifest = Manifest {
        created_at: now,
        schema_version: crate::codec::SCHEMA_VERSION,
        trees: NAMES.len(),
    };
    let path = dir.join("backup.json");
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| StorageError::Corrupt {
        tree: "(manifest)",
        reason: e.to_string(),
    })?;
    std::fs::write(&path, json).map_err(io(&path))?;
    drop(target);
    // A backup holds everything the data directory does: as private as it.
    crate::private::tighten(dir).map_err(io(dir))
}

/// Restores the backup in `backup_dir` into `data_dir`, which must be empty or absent.
pub fn restore_from(backup_dir: &Path, data_dir: &Path) -> StorageResult<()> {
    let manifest_path = backup_dir.join("backup.json");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).map_err(io(&manifest_path))?)
            .map_err(|e| StorageError::Corrupt {
                tree: "(manifest)",
                reason: format!("{}: {e}", manifest_path.display()),
            })?;
    if manifest.schema_version > crate::codec::SCHEMA_VERSION {
        return Err(StorageError::SchemaTooNew {
            found: manifest.schema_version,
            supported: crate::codec::SCHEMA_VERSION,
        });
    }
    ensure_empty(data_dir)?;
    let source = sled::Config::new()
        .path(backup_dir.join("db"))
        .open()
        .map_err(|e| StorageError::from_open(e, backup_dir))?;
    let target = sled::Config::new().path(data_dir.join("db")).open()?;
    copy_trees(&source, &target)
}
