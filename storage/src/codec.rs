//! How records and keys are laid out in bytes.
//!
//! A record is one version byte followed by JSON. JSON keeps the database readable with generic
//! tools and lets fields be added with `#[serde(default)]`; the version byte lets a future format
//! change be detected instead of misread. Keys are big-endian integers so that sled's byte order is
//! numeric order, and dates are days since the common era, so a range of days is a key range.

use chrono::{Datelike, NaiveDate};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{StorageError, StorageResult};

/// Version byte of every record written by this code.
const RECORD_VERSION: u8 = 1;
/// Schema version of the database as a whole (trees, key layouts, record encodings). 2: binary
/// outbox records, per-kind id counters, the web's `sign_ins` and `web_sessions`. A database
/// of version 1 is read as it is (every old record still decodes) and marked 2 at open, so that
/// an older binary refuses it clearly instead of failing on the records it cannot read.
pub(crate) const SCHEMA_VERSION: u32 = 2;

pub(crate) fn encode<T: Serialize>(value: &T) -> StorageResult<Vec<u8>> {
    let mut out = vec![RECORD_VERSION];
    serde_json::to_writer(&mut out, value).map_err(|e| StorageError::Corrupt {
        tree: "(encode)",
        reason: e.to_string(),
    })?;
    Ok(out)
}

pub(crate) fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> StorageResult<T> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, json)) => {
            serde_json::from_slice(json).map_err(|e| StorageError::Corrupt {
                tree,
                reason: e.to_string(),
            })
        }
        Some((v, _)) => Err(StorageError::Corrupt {
            tree,
            reason: format!("unknown record version {v}"),
        }),
        None => Err(StorageError::Corrupt {
            tree,
            reason: "empty record".into(),
        }),
    }
}

pub(crate) fn check_schema(meta: &sled::Tree) -> StorageResult<()> {
    match meta.get("schema_version")? {
        None => {
            meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
        Some(v) => {
            let found =
                u32::from_be_bytes(v.as_ref().try_into().map_err(|_| StorageError::Corrupt {
                    tree: "meta",
                    reason: "schema_version is not 4 bytes".into(),
                })?);
            if found > SCHEMA_VERSION {
                return Err(StorageError::SchemaTooNew {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            if found < SCHEMA_VERSION {
                meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
            }
            Ok(())
        }
    }
}

/// Meta key of the id floor: ids handed out are sled's generated id plus this (set by a restore).
pub(crate) const ID_FLOOR: &str = "id_floor";

pub(crate) fn id_floor(meta: &sled::Tree) -> StorageResult<u64> {
    match meta.get(ID_FLOOR)? {
        Some(v) => Ok(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
            StorageError::Corrupt {
                tree: "meta",
                reason: "id_floor is not 8 bytes".into(),
            }
        })?)),
        None => Ok(0),
    }
}

pub(crate) fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub(crate) fn key_id(tree: &'static str, key: &[u8]) -> StorageResult<u64> {
    let tail: [u8; 8] = key
        .get(key.len().saturating_sub(8)..)
        .and_then(|s| s.try_into().ok())
        .ok_or(StorageError::Corrupt {
            tree,
            reason: format!("key of {} bytes has no id", key.len()),
        })?;
    Ok(u64::from_be_bytes(tail))
}

pub(crate) fn day_bytes(day: NaiveDate) -> [u8; 4] {
    // Days from the common era are positive for every date donebot can meet; clamp anyway.
    (day.num_days_from_ce().max(0) as u32).to_be_bytes()
}

/// Concatenates key parts.
pub(crate) fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_versions_are_checked() {
        let bytes = encode(&vec!["a", "b"]).unwrap();
        assert_eq!(bytes[0], RECORD_VERSION);
        let back: Vec<String> = decode("t", &bytes).unwrap();
        assert_eq!(back, ["a", "b"]);
        let mut future = bytes.clone();
        future[0] = 9;
        assert!(decode::<Vec<String>>("t", &future).is_err());
        assert!(decode::<Vec<String>>("t", &[]).is_err());
    }

    #[test]
    fn day_keys_sort_like_dates() {
        let a = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
        let b = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(day_bytes(a) < day_bytes(b));
    }
}
