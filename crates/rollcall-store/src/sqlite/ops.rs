//! Operating the embedded database from the command line (SPEC §12): an online,
//! encrypted backup; a restore into a new data directory; and a change of the
//! database key.
//!
//! A backup runs in its own process beside a live server. It holds one read
//! transaction on the source for the whole copy, so in WAL mode it sees one
//! snapshot (every write committed before it began, none after) and never
//! blocks the server's writer; the copy goes in steps through SQLite's online
//! backup API, each page decrypted from the source and encrypted again for the
//! destination, so no plaintext reaches the disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

pub use super::key::KEY_FILE;
use super::key::{write_private, DatabaseKey};
use super::DB_FILE;

/// How fast a copy goes: pages per step of the backup API, and a pause between
/// steps that leaves the disk to the server.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub pages_per_step: u32,
    pub pause: Duration,
}

impl Default for Pace {
    /// 1024 pages (4 MiB with SQLCipher's 4 KiB pages) a step, no pause.
    fn default() -> Self {
        Pace {
            pages_per_step: 1024,
            pause: Duration::ZERO,
        }
    }
}

/// Why a backup, restore or rekey did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("there is no Rollcall database at {0}")]
    NoDatabase(PathBuf),
    #[error("cannot open {0} with this key (wrong ROLLCALL_DB_KEY, key file or backup key?)")]
    WrongKey(PathBuf),
    #[error("no key for {0}: set ROLLCALL_DB_KEY or keep its key file ({KEY_FILE}) beside it")]
    NoKey(PathBuf),
    #[error("{0} is open in another process (a running `rollcall serve`?); stop it first")]
    InUse(PathBuf),
    #[error("{0} is not empty; restore only into a new or empty directory")]
    NotEmpty(PathBuf),
    #[error("{0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    #[error("{0} failed SQLite's integrity check: {1}")]
    Corrupt(PathBuf, String),
    #[error("the key: {0}")]
    Key(#[from] crate::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

type OpsResult<T> = Result<T, OpsError>;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OpsError + '_ {
    move |source| OpsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a backup or restore copied.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Database pages copied.
    pub pages: u64,
    /// Size of the written file in bytes.
    pub bytes: u64,
    pub elapsed: Duration,
}

/// The key of an existing data directory: `explicit` (ROLLCALL_DB_KEY) if given,
/// else its key file. Unlike [`DatabaseKey::resolve`] it never creates a key.
pub fn existing_key(explicit: Option<String>, data_dir: &Path) -> OpsResult<DatabaseKey> {
    if let Some(key) = explicit {
        return Ok(DatabaseKey::new(key)?);
    }
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(DatabaseKey::new(text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(OpsError::NoKey(data_dir.to_path_buf()))
        }
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// Reads a key from a file (a copied key file), for `restore --key-file`.
pub fn key_from_file(path: &Path) -> OpsResult<DatabaseKey> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    Ok(DatabaseKey::new(text)?)
}

/// Opens `path` (which must exist) with `key`; a wrong key is [`OpsError::WrongKey`].
fn open_keyed(path: &Path, key: &DatabaseKey, flags: OpenFlags) -> OpsResult<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.execute_batch(&format!("PRAGMA key = {};", key.pragma_value()))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|_| OpsError::WrongKey(path.to_path_buf()))?;
    Ok(conn)
}

fn database_of(data_dir: &Path) -> OpsResult<PathBuf> {
    let path = data_dir.join(DB_FILE);
    if path.is_file() {
        Ok(path)
    } else {
        Err(OpsError::NoDatabase(data_dir.to_path_buf()))
    }
}

/// Creates an empty file with mode 0600 so that SQLite (and its journal, which
/// takes the database file's mode) never writes a readable file.
fn create_private_empty(path: &Path) -> OpsResult<()> {
    write_private(path, "").map_err(io_error(path))
}

/// Copies `from` into a new database file at `to`, encrypted with `to_key`, in
/// steps at `pace`; `to` is written as `<to>.partial` and
/// renamed when complete, so a file at `to` is always a whole copy.
fn copy_database(
    from: &Connection,
    to: &Path,
    to_key: &DatabaseKey,
    pace: Pace,
) -> OpsResult<CopyReport> {
    let started = Instant::now();
    let partial = PathBuf::from(format!("{}.partial", to.display()));
    // A leftover of an interrupted copy holds nothing a caller acknowledged.
    let _ = std::fs::remove_file(&partial);
    create_private_empty(&partial)?;
    let result = (|| {
        let mut dest = Connection::open_with_flags(
            &partial,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        dest.execute_batch(&format!(
            "PRAGMA key = {}; PRAGMA cipher_memory_security = OFF;",
            to_key.pragma_value()
        ))?;
        let pages = {
            let backup = Backup::new(from, &mut dest)?;
            loop {
                let pages = i32::try_from(pace.pages_per_step.max(1)).unwrap_or(i32::MAX);
                match backup.step(pages)? {
                    StepResult::Done => break,
                    // Busy/Locked: another connection holds a lock it needs; wait and retry.
                    StepResult::More | StepResult::Busy | StepResult::Locked => {
                        if !pace.pause.is_zero() {
                            std::thread::sleep(pace.pause);
                        }
                    }
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            backup.progress().pagecount as u64
        };
        // The copied header says WAL (the source's mode); a backup is one
        // self-contained file, so switch it to a rollback journal.
        dest.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
        dest.close().map_err(|(_, e)| e)?;
        sync_file(&partial)?;
        Ok::<_, OpsError>(pages)
    })();
    let pages = match result {
        Ok(pages) => pages,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to).map_err(io_error(to))?;
    if let Some(dir) = to.parent() {
        sync_dir(dir);
    }
    let bytes = std::fs::metadata(to).map_err(io_error(to))?.len();
    Ok(CopyReport {
        pages,
        bytes,
        elapsed: started.elapsed(),
    })
}

fn sync_file(path: &Path) -> OpsResult<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_error(path))
}

/// Makes a rename durable; best effort (not every platform opens directories).
fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Writes a consistent copy of the database in `data_dir` to `out` (which must
/// not exist), encrypted with `out_key`, while a server may be writing to it.
pub fn backup(
    data_dir: &Path,
    key: &DatabaseKey,
    out: &Path,
    out_key: &DatabaseKey,
    pace: Pace,
) -> OpsResult<CopyReport> {
    let source = database_of(data_dir)?;
    if out.exists() {
        return Err(OpsError::Exists(out.to_path_buf()));
    }
    let conn = open_keyed(
        &source,
        key,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA cipher_memory_security = OFF; PRAGMA busy_timeout = 5000;")?;
    // One read transaction for the whole copy: in WAL mode it pins the snapshot
    // of its first read, so the copy is consistent and the backup never restarts
    // when the server commits between steps (it would without it).
    conn.execute_batch("BEGIN DEFERRED")?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    let report = copy_database(&conn, out, out_key, pace);
    let _ = conn.execute_batch("COMMIT");
    report
}

/// Restores the backup `from` (encrypted with `key`) as the database of
/// `data_dir`, which must be missing or empty. The copy is checked page by page
/// (SQLCipher's page MACs) and with `PRAGMA quick_check` before it takes the
/// database's name. When `write_key_file`, the key goes into the directory's
/// key file, so `serve` opens it without `ROLLCALL_DB_KEY`.
pub fn restore(
    from: &Path,
    key: &DatabaseKey,
    data_dir: &Path,
    write_key_file: bool,
) -> OpsResult<CopyReport> {
    if !from.is_file() {
        return Err(OpsError::NoDatabase(from.to_path_buf()));
    }
    match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(OpsError::NotEmpty(data_dir.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(io_error(data_dir))?;
        }
        Err(e) => return Err(io_error(data_dir)(e)),
    }
    let source = open_keyed(
        from,
        key,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.execute_batch("PRAGMA cipher_memory_security = OFF;")?;
    let target = data_dir.join(DB_FILE);
    let staged = data_dir.join(format!("{DB_FILE}.restoring"));
    let report = copy_database(&source, &staged, key, Pace::default())?;
    drop(source);
    let check = (|| {
        let conn = open_keyed(&staged, key, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let verdict: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if verdict != "ok" {
            return Err(OpsError::Corrupt(from.to_path_buf(), verdict));
        }
        // The server runs in WAL mode; set it now so the first start needs no switch.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        Ok(())
    })();
    if let Err(e) = check {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    if write_key_file {
        let path = data_dir.join(KEY_FILE);
        write_private(&path, key.text()).map_err(io_error(&path))?;
    }
    std::fs::rename(&staged, &target).map_err(io_error(&target))?;
    sync_dir(data_dir);
    Ok(report)
}

/// Where a rekey took its new key from, and so what becomes of the key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKeyHome {
    /// The operator holds the new key (ROLLCALL_NEW_DB_KEY): a key file holding
    /// the old key is removed, since it opens nothing any more.
    Operator,
    /// The new key is kept in the data directory's key file.
    KeyFile,
}

/// Changes the key of the database in `data_dir` from `old` to `new` with
/// SQLCipher's `PRAGMA rekey`, every page re-encrypted in one transaction.
///
/// It needs the database to itself: a running server keeps a shared lock on the
/// database file for as long as it has it open (WAL mode), so the switch to
/// an exclusive rollback journal fails at once with SQLITE_BUSY, which is how
/// a live server is detected ([`OpsError::InUse`]); the exclusive lock is then
/// held until the end, so no server can start in between.
pub fn rekey(
    data_dir: &Path,
    old: &DatabaseKey,
    new: &DatabaseKey,
    home: NewKeyHome,
) -> OpsResult<()> {
    let path = database_of(data_dir)?;
    let key_file = data_dir.join(KEY_FILE);
    let staged_key = data_dir.join(format!("{KEY_FILE}.new"));
    if home == NewKeyHome::KeyFile && staged_key.exists() {
        // Left by an interrupted rekey: it may be the only copy of the key that
        // opens the database now, so a person must decide.
        return Err(OpsError::Exists(staged_key));
    }
    let conn = open_keyed(
        &path,
        old,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE;")?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(|e| busy_as_in_use(e, data_dir))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(OpsError::InUse(data_dir.to_path_buf()));
    }
    // The new key is on disk before the database depends on it.
    if home == NewKeyHome::KeyFile {
        write_private(&staged_key, new.text()).map_err(io_error(&staged_key))?;
    }
    conn.execute_batch(&format!("PRAGMA rekey = {};", new.pragma_value()))
        .map_err(|e| busy_as_in_use(e, data_dir))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.close().map_err(|(_, e)| e)?;
    // Proof before the old key file goes: the new key opens the database.
    open_keyed(&path, new, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    match home {
        NewKeyHome::KeyFile => {
            std::fs::rename(&staged_key, &key_file).map_err(io_error(&key_file))?;
        }
        NewKeyHome::Operator => {
            if let Ok(text) = std::fs::read_to_string(&key_file) {
                if text.trim() == old.text() {
                    std::fs::remove_file(&key_file).map_err(io_error(&key_file))?;
                }
            }
        }
    }
    sync_dir(data_dir);
    Ok(())
}

fn busy_as_in_use(e: rusqlite::Error, data_dir: &Path) -> OpsError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
            OpsError::InUse(data_dir.to_path_buf())
        }
        _ => OpsError::Sqlite(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> DatabaseKey {
        DatabaseKey::new(text).unwrap()
    }

    /// A WAL database with `rows` rows in table t, like the server's.
    fn make_db(dir: &Path, k: &DatabaseKey, rows: i64) -> Connection {
        let conn = Connection::open(dir.join(DB_FILE)).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA key = {}; PRAGMA journal_mode = WAL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
            k.pragma_value()
        ))
        .unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..rows {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [format!("row {i}")])
                .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        conn
    }

    fn count(path: &Path, k: &DatabaseKey) -> i64 {
        open_keyed(path, k, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn backup_while_open_is_encrypted_and_restores() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let k = key(&"ab".repeat(32));
        let live = make_db(&data, &k, 5000);
        let out = dir.path().join("backup.db");
        let other = key("another passphrase");
        let report = backup(
            &data,
            &k,
            &out,
            &other,
            Pace {
                pages_per_step: 3,
                pause: Duration::ZERO,
            },
        )
        .unwrap();
        assert!(report.pages > 1 && report.bytes > 0);
        live.execute("INSERT INTO t (v) VALUES ('after')", [])
            .unwrap();
        assert_eq!(count(&out, &other), 5000);
        assert!(matches!(
            open_keyed(&out, &k, OpenFlags::SQLITE_OPEN_READ_ONLY),
            Err(OpsError::WrongKey(_))
        ));
        let bytes = std::fs::read(&out).unwrap();
        assert!(
            !bytes.windows(7).any(|w| w == b"row 123"),
            "plaintext in the backup"
        );
        assert!(!bytes.starts_with(b"SQLite format 3"));
        assert!(matches!(
            backup(&data, &k, &out, &k, Pace::default()),
            Err(OpsError::Exists(_))
        ));

        let restored = dir.path().join("restored");
        assert!(matches!(
            restore(&out, &k, &restored, true),
            Err(OpsError::WrongKey(_))
        ));
        restore(&out, &other, &restored, true).unwrap();
        assert_eq!(count(&restored.join(DB_FILE), &other), 5000);
        assert_eq!(existing_key(None, &restored).unwrap().text(), other.text());
        assert!(matches!(
            restore(&out, &other, &restored, true),
            Err(OpsError::NotEmpty(_))
        ));
    }

    #[test]
    fn rekey_refuses_a_live_database_and_a_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let old = key(&"cd".repeat(32));
        std::fs::write(dir.path().join(KEY_FILE), old.text()).unwrap();
        let live = make_db(dir.path(), &old, 100);
        let new = key(&"ef".repeat(32));
        assert!(matches!(
            rekey(dir.path(), &old, &new, NewKeyHome::KeyFile),
            Err(OpsError::InUse(_))
        ));
        assert!(!dir.path().join(format!("{KEY_FILE}.new")).exists());
        drop(live);
        assert!(matches!(
            rekey(dir.path(), &key("wrong"), &new, NewKeyHome::KeyFile),
            Err(OpsError::WrongKey(_))
        ));
        rekey(dir.path(), &old, &new, NewKeyHome::KeyFile).unwrap();
        let path = dir.path().join(DB_FILE);
        assert_eq!(count(&path, &new), 100);
        assert!(matches!(
            open_keyed(&path, &old, OpenFlags::SQLITE_OPEN_READ_ONLY),
            Err(OpsError::WrongKey(_))
        ));
        assert_eq!(existing_key(None, dir.path()).unwrap().text(), new.text());

        // A key the operator keeps: the key file (old key) goes.
        let third = key("operator's passphrase");
        rekey(dir.path(), &new, &third, NewKeyHome::Operator).unwrap();
        assert_eq!(count(&path, &third), 100);
        assert!(!dir.path().join(KEY_FILE).exists());
    }
}
