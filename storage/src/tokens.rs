//! API tokens, stored by the SHA-256 of the token (the caller hashes; the token itself is never kept).

use crate::codec::{decode, encode};
use crate::error::StorageResult;
use crate::{ApiToken, Store};

impl Store {
    pub fn create_token(&self, hash: &[u8; 32], mut token: ApiToken) -> StorageResult<ApiToken> {
        let _w = self.write_gate();
        token.id = self.next_id()?;
        self.t.tokens.insert(hash, encode(&token)?)?;
        self.flush()?;
        Ok(token)
    }

    pub fn token_by_hash(&self, hash: &[u8; 32]) -> StorageResult<Option<ApiToken>> {
        match self.t.tokens.get(hash)? {
            Some(v) => Ok(Some(decode("tokens", &v)?)),
            None => Ok(None),
        }
    }
}

impl Store {
    /// How many API tokens exist (none on a fresh data directory).
    pub fn token_count(&self) -> usize {
        self.t.tokens.len()
    }
}

impl Store {
    /// Records `key` as done; `true` the first time, `false` ever after (idempotency of actions that
    /// have no record of their own, such as a chat message to a team's group).
    pub fn mark_once(&self, key: &str) -> StorageResult<bool> {
        let _w = self.write_gate();
        let k = format!("once.{key}");
        Ok(self
            .t
            .meta
            .compare_and_swap(k.as_bytes(), None::<&[u8]>, Some(&[1u8][..]))?
            .is_ok())
    }
}
