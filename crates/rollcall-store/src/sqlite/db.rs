//! Connections to the encrypted database: one writer thread with group commit, and
//! a pool of readers.
//!
//! Every write is a closure run by the writer thread inside its own savepoint; the
//! writer takes as many queued closures as are waiting, runs them in one
//! transaction and commits once, so concurrent requests share one fsync. A closure
//! that fails rolls back only its own savepoint. Callers get their result only
//! after the commit, so an acknowledged write is durable.
//!
//! Dropping the [`Db`] closes the queue and waits for the writer to finish the jobs
//! it has and exit, so no thread is inside SQLCipher when the process exits (a test
//! process that ended during start-up maintenance crashed in exit-time cleanup).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use rollcall_core::histogram::Histogram;
use rusqlite::{Connection, OpenFlags};
use tokio::runtime::RuntimeFlavor;
use tokio::sync::{oneshot, Semaphore};

use super::key::DatabaseKey;
use crate::{StoreError, StoreResult};

type Completion = Box<dyn FnOnce(Option<String>) + Send>;
/// Run with the writer's connection inside an open transaction, or with the reason
/// no transaction could be opened.
type Job = Box<dyn FnOnce(Result<&Connection, String>) -> Completion + Send>;

/// Most closures one transaction takes before it commits.
const MAX_GROUP: usize = 256;
const READERS: usize = 4;
/// Page cache of each reader, in KiB. Every commit empties the readers' caches
/// (another connection changed the file), so they hold one report's pages
/// between commits: 16 MB each. 8 MB saved about 50 MB of a 1,000-tenant
/// server (385 → 332 MB, issue 18 #4) but doubled right-sizing at 100M events
/// (26 → 60 ms: its 90 days of bitmaps are 11 MB, re-read and decrypted on
/// every call).
const READER_CACHE_KIB: u32 = 16 << 10;
/// The writer's page cache, in KiB: it keeps the pages ingest rewrites.
const WRITER_CACHE_KIB: u32 = 64 << 10;

/// Bounds of the group-commit size histogram (writes per transaction).
const GROUP_SIZE_BOUNDS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, MAX_GROUP as u64];

/// Handle to the database; cheap to share behind an `Arc`.
pub struct Db {
    /// `None` once the [`Db`] is being dropped.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    readers: Arc<ReaderPool>,
    writer: Arc<WriterGauges>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

/// What the writer thread is doing, for `/metrics`: shared with that thread and
/// updated with relaxed atomics.
#[derive(Debug)]
pub struct WriterGauges {
    /// Jobs sent and not yet taken by the writer.
    queued: AtomicU64,
    /// Jobs per committed transaction.
    group_size: Histogram,
}

impl WriterGauges {
    fn new() -> Self {
        WriterGauges {
            queued: AtomicU64::new(0),
            group_size: Histogram::new(&GROUP_SIZE_BOUNDS),
        }
    }

    fn took_one(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// The writer's figures now.
    pub fn stats(&self) -> crate::stats::WriterStats {
        crate::stats::WriterStats {
            queue_depth: self.queued.load(Ordering::Relaxed),
            group_size: self.group_size.snapshot(),
        }
    }
}

struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    path: PathBuf,
    key: DatabaseKey,
}

fn open_connection(path: &Path, key: &DatabaseKey, flags: OpenFlags) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.execute_batch(&format!("PRAGMA key = {};", key.pragma_value()))?;
    // Reading the schema fails here, not later, when the key is wrong.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot open {} with this key (wrong ROLLCALL_DB_KEY or key file?): {e}",
                path.display()
            ))
        })?;
    // SQLCipher wipes every freed buffer by default; that protects process memory,
    // not data at rest, and costs a quarter of the insert rate (452k → 587k
    // time-ordered rows/s measured on this machine), so it is off.
    conn.execute_batch(
        "PRAGMA cipher_memory_security = OFF;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{READER_CACHE_KIB};"))?;
    // Reports prepare a statement per combination of filters; keep them all.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

impl Drop for Db {
    fn drop(&mut self) {
        // Closing the queue ends the writer's loop once it has run what was sent.
        if let Ok(jobs) = self.jobs.get_mut() {
            jobs.take();
        }
        if let Some(thread) = self.writer_thread.take() {
            // A job that held the last handle would be dropping it on the writer itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Db {
    pub fn open(path: &Path, key: DatabaseKey) -> StoreResult<Db> {
        let writer = open_connection(
            path,
            &key,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        writer.execute_batch(&format!(
            "PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA wal_autocheckpoint = 4000;"
        ))?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let gauges = Arc::new(WriterGauges::new());
        let thread_gauges = Arc::clone(&gauges);
        let writer_thread = std::thread::Builder::new()
            .name("rollcall-writer".into())
            .spawn(move || writer_loop(writer, receiver, &thread_gauges))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Db {
            jobs: Mutex::new(Some(sender)),
            writer_thread: Some(writer_thread),
            readers: Arc::new(ReaderPool {
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
                path: path.to_path_buf(),
                key,
            }),
            writer: gauges,
        })
    }

    /// The writer's queue and group commits.
    pub fn writer_gauges(&self) -> &WriterGauges {
        &self.writer
    }

    /// Runs `f` in the writer's transaction; resolves after the commit.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn| {
            match conn
                .map_err(|e| StoreError::Unavailable(format!("cannot begin a transaction: {e}")))
                .and_then(|conn| run_in_savepoint(conn, f))
            {
                Ok(value) => Box::new(move |commit_error: Option<String>| {
                    let _ = tx.send(match commit_error {
                        None => Ok(value),
                        Some(e) => Err(StoreError::Unavailable(format!("commit failed: {e}"))),
                    });
                }),
                Err(e) => Box::new(move |_| {
                    let _ = tx.send(Err(e));
                }),
            }
        });
        let sent = self
            .jobs
            .lock()
            .map_err(|_| StoreError::Internal("writer queue poisoned".into()))
            .and_then(|jobs| {
                // Counted before the send so the writer never takes one it was not told of.
                self.writer.queued.fetch_add(1, Ordering::Relaxed);
                let sent = match jobs.as_ref() {
                    Some(jobs) => jobs.send(job).map_err(|_| ()),
                    None => Err(()),
                };
                sent.map_err(|()| {
                    self.writer.took_one();
                    StoreError::Unavailable("the database writer has stopped".into())
                })
            });
        sent?;
        rx.await
            .map_err(|_| StoreError::Internal("the writer dropped a job".into()))?
    }

    /// Runs `f` on a reader connection inside one read transaction (a consistent snapshot),
    /// on a blocking-pool thread.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let _permit = self.readers.permit().await?;
        let pool = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || pool.run(f))
            .await
            .map_err(|e| StoreError::Internal(format!("reader task failed: {e}")))?
    }

    /// [`Db::read`] on the calling thread, for the short reads on a request's
    /// critical path (its credential, an activity-log page): the runtime moves
    /// this worker's other tasks to another thread (`block_in_place`) instead
    /// of the request waiting for a pool thread to wake and then for its worker
    /// to wake again. Reads that one task runs concurrently (`try_join!`) belong
    /// in [`Db::read`], which runs them in parallel. On a current-thread runtime
    /// (where blocking in place is not possible) this is [`Db::read`].
    pub async fn read_in_place<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        if tokio::runtime::Handle::current().runtime_flavor() != RuntimeFlavor::MultiThread {
            return self.read(f).await;
        }
        let _permit = self.readers.permit().await?;
        tokio::task::block_in_place(|| self.readers.run(f))
    }
}

impl ReaderPool {
    /// A turn on one of the pool's connections.
    async fn permit(&self) -> StoreResult<tokio::sync::SemaphorePermit<'_>> {
        self.permits
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("reader pool closed".into()))
    }

    /// Runs `f` in a read transaction on an idle connection (a new one when
    /// none is idle), then returns the connection to the pool.
    fn run<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => conn,
            None => open_connection(
                &self.path,
                &self.key,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
        };
        let result = (|| {
            let tx = conn.unchecked_transaction()?;
            let value = f(&tx)?;
            tx.finish()?;
            Ok(value)
        })();
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
    }
}

fn run_in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    // Prepared once: a savepoint per job is on the writer's hot path.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a write panicked".into())));
    match outcome {
        Ok(value) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(value)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Job>, gauges: &WriterGauges) {
    while let Ok(first) = jobs.recv() {
        gauges.took_one();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
            first(Err(e.to_string()))(None);
            continue;
        }
        let mut completions = vec![first(Ok(&conn))];
        while completions.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => {
                    gauges.took_one();
                    completions.push(job(Ok(&conn)));
                }
                Err(_) => break,
            }
        }
        let commit_error = conn.execute_batch("COMMIT").err().map(|e| {
            tracing::error!(error = %e, "commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            e.to_string()
        });
        gauges.group_size.observe(completions.len() as u64);
        for complete in completions {
            complete(commit_error.clone());
        }
    }
}

/// A random secret kept in the database, created on first use.
pub(crate) fn server_secret(conn: &Connection, name: &str) -> StoreResult<Vec<u8>> {
    use rusqlite::OptionalExtension;
    let existing: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM server_secrets WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(value) = existing {
        return Ok(value);
    }
    let value = hex::decode(rollcall_core::secret::random_hex(32))
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    conn.execute(
        "INSERT INTO server_secrets (name, value) VALUES (?1, ?2)",
        rusqlite::params![name, value],
    )?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_queued_behind_a_busy_writer_commit_as_one_group_and_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let key = DatabaseKey::new("a test passphrase").unwrap();
        let db = Db::open(&dir.path().join("t.db"), key).unwrap();
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (v INTEGER)")?))
            .await
            .unwrap();
        // The first job holds the writer until 40 more are queued behind it.
        let (release, hold) = mpsc::channel::<()>();
        let first = db.write(move |_| {
            let _ = hold.recv();
            Ok(())
        });
        let rest = futures_util::future::join_all(
            (0..40i64).map(|i| db.write(move |c| Ok(c.execute("INSERT INTO t VALUES (?1)", [i])?))),
        );
        let release_when_queued = async {
            while db.writer_gauges().stats().queue_depth < 40 {
                tokio::task::yield_now().await;
            }
            release.send(()).unwrap();
        };
        let (first, rest, ()) = tokio::join!(first, rest, release_when_queued);
        first.unwrap();
        assert!(rest.iter().all(Result::is_ok));
        let stats = db.writer_gauges().stats();
        assert_eq!(stats.queue_depth, 0);
        // Two commits: the table alone, then the held job with the 40 behind it.
        assert_eq!((stats.group_size.count, stats.group_size.sum), (2, 42));
        assert_eq!(stats.group_size.cumulative[0], (1, 1));
        assert_eq!(stats.group_size.cumulative[5], (32, 1));
        assert_eq!(stats.group_size.cumulative[6], (64, 2));
    }
}
