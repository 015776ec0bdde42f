//! Settings that are secrets (SPEC §12: never printed in logs or `Debug`): the
//! database key, and the database URL, whose password `Debug` hides.

use std::fmt;
use std::str::FromStr;

/// A secret setting: `Debug` says it is set, never what it is.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// A PostgreSQL URL (or libpq key=value string): `Debug` shows it with the
/// password replaced by `***`.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DatabaseUrl({:?})",
            rollcall_store::postgres::redact_url(&self.0)
        )
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key_and_the_password() {
        let key: Secret = "0123abcd".parse().unwrap();
        assert_eq!(format!("{key:?}"), "Secret(***)");
        assert_eq!(key.expose(), "0123abcd");
        let url: DatabaseUrl = "postgres://rc:hunter2@db/rc".parse().unwrap();
        assert_eq!(
            format!("{url:?}"),
            "DatabaseUrl(\"postgres://rc:***@db/rc\")"
        );
        assert_eq!(url.expose(), "postgres://rc:hunter2@db/rc");
    }
}
