//! The app's error: what went wrong in terms an API client or CLI user can act on.

use storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is wrong; the message says how (HTTP 400, exit 2).
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// No valid credentials (HTTP 401).
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials, but not for this (HTTP 403): a team-scoped token elsewhere.
    #[error("{0}")]
    Forbidden(String),
    /// The server is stopping or a component is gone; retry later (HTTP 503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => AppError::NotFound(what),
            StorageError::Conflict(msg) => AppError::Conflict(msg),
            other => AppError::Storage(other),
        }
    }
}

impl From<actix::MailboxError> for AppError {
    fn from(e: actix::MailboxError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

pub type AppResult<T> = Result<T, AppError>;
