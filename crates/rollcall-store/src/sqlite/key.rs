//! The database encryption key: from `ROLLCALL_DB_KEY`, or from a key file created
//! with mode 0600 in the data directory on first start.

use std::fmt;
use std::io::Write;
use std::path::Path;

use crate::{StoreError, StoreResult};

/// The key file inside a data directory.
pub const KEY_FILE: &str = "rollcall.key";

/// A SQLCipher key. `Debug` never prints it.
#[derive(Clone)]
pub struct DatabaseKey(String);

impl fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseKey(..)")
    }
}

impl DatabaseKey {
    /// A passphrase or a 64-digit hex raw key.
    pub fn new(text: impl Into<String>) -> StoreResult<Self> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(StoreError::Unavailable("the database key is empty".into()));
        }
        Ok(DatabaseKey(text.trim().to_string()))
    }

    /// `explicit` if given, else the data directory's key file (created if missing).
    pub fn resolve(explicit: Option<String>, data_dir: &Path) -> StoreResult<Self> {
        if let Some(key) = explicit {
            return DatabaseKey::new(key);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => DatabaseKey::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
                })?;
                let key = rollcall_core::secret::random_hex(32);
                write_private(&path, &key).map_err(|e| {
                    StoreError::Unavailable(format!("cannot write {}: {e}", path.display()))
                })?;
                DatabaseKey::new(key)
            }
            Err(e) => Err(StoreError::Unavailable(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// The key's text, to write it into a key file (`rollcall restore`, `rollcall rekey`).
    pub(crate) fn text(&self) -> &str {
        &self.0
    }

    /// The value of `PRAGMA key`: a raw key skips SQLCipher's slow key derivation.
    pub(crate) fn pragma_value(&self) -> String {
        let is_raw = self.0.len() == 64 && self.0.bytes().all(|b| b.is_ascii_hexdigit());
        if is_raw {
            format!("\"x'{}'\"", self.0)
        } else {
            format!("'{}'", self.0.replace('\'', "''"))
        }
    }
}

pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = DatabaseKey::resolve(None, dir.path()).unwrap();
        let second = DatabaseKey::resolve(None, dir.path()).unwrap();
        assert_eq!(first.0, second.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(first.pragma_value().starts_with("\"x'"));
        assert_eq!(DatabaseKey::new("it's").unwrap().pragma_value(), "'it''s'");
        assert_eq!(format!("{first:?}"), "DatabaseKey(..)");
    }
}
