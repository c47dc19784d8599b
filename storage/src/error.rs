//! Storage errors: each variant is something a caller can act on.

use std::path::Path;

pub type StorageResult<T> = Result<T, StorageError>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "the data directory {path} is in use by another donebot process (a running server?); stop it, or use the API of the running server"
    )]
    Locked { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record in tree {tree}: {reason}")]
    Corrupt { tree: &'static str, reason: String },
    #[error(
        "the database has schema version {found}, this donebot understands up to {supported}; upgrade donebot"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

impl StorageError {
    pub(crate) fn from_open(e: sled::Error, dir: &Path) -> StorageError {
        match e {
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StorageError::Locked {
                    path: dir.display().to_string(),
                }
            }
            other => StorageError::Sled(other),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound(_))
    }
}

/// Lets a transaction closure abort with a [`StorageError`].
pub(crate) type TxResult<T> =
    Result<T, sled::transaction::ConflictableTransactionError<StorageError>>;

pub(crate) fn abort<T>(e: StorageError) -> TxResult<T> {
    Err(sled::transaction::ConflictableTransactionError::Abort(e))
}

impl From<sled::transaction::TransactionError<StorageError>> for StorageError {
    fn from(e: sled::transaction::TransactionError<StorageError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StorageError::Sled(e),
        }
    }
}
