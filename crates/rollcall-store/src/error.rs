//! The storage error: what went wrong in terms a service can map to a response,
//! without any HTTP type.

/// One invalid item of a batch: its position, the field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    pub index: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist in this account.
    #[error("{0}")]
    NotFound(String),
    /// The write conflicts with existing data (a duplicate name, say).
    #[error("{0}")]
    Conflict(String),
    /// The payload is valid JSON but not acceptable (unknown event name, ...).
    #[error("{message}")]
    Invalid {
        message: String,
        items: Vec<ItemError>,
    },
    /// The database cannot be reached right now; the request may be retried.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else; details are logged, never shown.
    #[error("internal storage error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn invalid(message: impl Into<String>) -> Self {
        StoreError::Invalid {
            message: message.into(),
            items: Vec::new(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(code, _)
                if code.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                constraint_conflict(&e)
            }
            rusqlite::Error::SqliteFailure(code, _)
                if matches!(
                    code.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

/// A constraint the database enforced: the answer says what happened in words and
/// keeps the database's own text (table, constraint and column names) for the log.
fn constraint_conflict(e: &dyn std::error::Error) -> StoreError {
    tracing::warn!(error = %e, "database constraint refused a write");
    StoreError::Conflict(
        "this conflicts with existing data (something with the same name or key already exists, or it refers to something that no longer does)".into(),
    )
}

/// An error and its sources, joined with ": " (a TLS failure's reason, say).
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let Some(code) = e.code() else {
            // No SQLSTATE: the connection failed or was closed (a restart, say).
            return StoreError::Unavailable(format!("PostgreSQL: {}", with_sources(&e)));
        };
        if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::FOREIGN_KEY_VIOLATION {
            constraint_conflict(&e)
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
            || code.code().starts_with("08")
        {
            StoreError::Unavailable(format!("PostgreSQL: {e}"))
        } else {
            StoreError::Internal(format!("PostgreSQL: {e:?}"))
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored JSON is unreadable: {e}"))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
