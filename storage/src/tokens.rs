//! API tokens, stored by the SHA-256 of the token (the caller hashes; the token itself is never kept).

use crate::codec::{decode, encode};
use crate::error::StorageResult;
use crate::{ApiToken, Store};

impl Store {
    pub fn create_token(&self, hash: &[u8; 32], mut token: ApiToken) -> StorageResult<ApiToken> {
        let _w = self.write_gate();
        token.id = self.next_id_of(crate::IdKind::Token)?;
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
    /// Every API token (never the secret: only its hash is stored), by id.
    pub fn tokens(&self) -> StorageResult<Vec<ApiToken>> {
        let mut out: Vec<ApiToken> = self
            .t
            .tokens
            .iter()
            .values()
            .map(|v| decode("tokens", &v?))
            .collect::<StorageResult<_>>()?;
        out.sort_by_key(|t| t.id);
        Ok(out)
    }

    /// Deletes the token with `id` (flushed before it answers); `false` if there is none.
    pub fn revoke_token(&self, id: u64) -> StorageResult<bool> {
        let _w = self.write_gate();
        for kv in self.t.tokens.iter() {
            let (hash, v) = kv?;
            let token: ApiToken = decode("tokens", &v)?;
            if token.id == id {
                self.t.tokens.remove(hash)?;
                self.flush()?;
                return Ok(true);
            }
        }
        Ok(false)
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

    /// Whether `key` was recorded by [`Store::mark_once`].
    pub fn is_marked(&self, key: &str) -> StorageResult<bool> {
        Ok(self.t.meta.contains_key(format!("once.{key}").as_bytes())?)
    }
}

impl Store {
    /// Remembers a one-time `nonce` of `scope` (a webhook's signed token) seen at `now` (unix
    /// seconds): `true` the first time, `false` while it is remembered. Nonces older than
    /// `window_secs` are forgotten (the webhook refuses such old posts anyway). Flushed before it
    /// answers, so a restart does not forget what was accepted; shared by every web worker.
    pub fn claim_nonce(
        &self,
        scope: &str,
        nonce: &str,
        now: i64,
        window_secs: i64,
    ) -> StorageResult<bool> {
        let _w = self.write_gate();
        let prefix = format!("nonce.{scope}.");
        for entry in self.t.meta.scan_prefix(prefix.as_bytes()) {
            let (key, seen) = entry?;
            let seen = <[u8; 8]>::try_from(seen.as_ref()).map_or(i64::MIN, i64::from_be_bytes);
            if now.saturating_sub(seen) > window_secs {
                self.t.meta.remove(key)?;
            }
        }
        let key = format!("{prefix}{nonce}");
        let fresh = self
            .t
            .meta
            .compare_and_swap(key.as_bytes(), None::<&[u8]>, Some(&now.to_be_bytes()[..]))?
            .is_ok();
        if fresh {
            self.flush()?;
        }
        Ok(fresh)
    }
}
