//! A read-only REPEATABLE READ transaction whose `BEGIN` travels with the first
//! queries of a read and whose `COMMIT` travels with the last ones, so a report
//! pays no round trip of its own for them.
//!
//! tokio-postgres sends a request when its future is first polled and
//! `tokio::try_join!` polls its futures in order, so `try_join!(snap.begin(),
//! a, b)` puts `BEGIN` on the wire before `a` and `b`. `COMMIT` goes last in a
//! `try_join!` the same way; every statement of that last flight must already be
//! prepared (a statement that still had to be parsed would send its execution
//! after the `COMMIT`, outside the snapshot), which is why the readers prepare
//! their last flight's statements before sending it.
//!
//! After the `COMMIT` the connection stays usable for reads of immutable rows.
//! A snapshot dropped before its `COMMIT` succeeded (an error, or a request
//! abandoned midway) sends `ROLLBACK` before its connection goes back to the
//! pool, so no pooled connection is ever left inside a transaction.

use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Object;

use crate::StoreResult;

/// A pooled connection inside (or about to enter) a read-only snapshot.
pub(crate) struct Snapshot {
    client: Option<Object>,
    /// Until `COMMIT` succeeded.
    open: AtomicBool,
}

impl Snapshot {
    pub(crate) fn new(client: Object) -> Snapshot {
        Snapshot {
            client: Some(client),
            open: AtomicBool::new(true),
        }
    }

    /// The connection, for the snapshot's queries.
    pub(crate) fn client(&self) -> &Object {
        self.client
            .as_ref()
            .expect("a snapshot holds its connection until dropped")
    }

    /// Starts the transaction; join it first with the first queries.
    pub(crate) async fn begin(&self) -> StoreResult<()> {
        self.client()
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        Ok(())
    }

    /// Like [`Snapshot::begin`], with planner settings for this transaction only
    /// (`SET LOCAL …` statements).
    pub(crate) async fn begin_with(&self, set_local: &str) -> StoreResult<()> {
        self.client()
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; {set_local}"
            ))
            .await?;
        Ok(())
    }

    /// Ends the transaction; join it last with already-prepared last queries.
    pub(crate) async fn commit(&self) -> StoreResult<()> {
        self.client().batch_execute("COMMIT").await?;
        self.open.store(false, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if !self.open.load(Ordering::Relaxed) {
            return;
        }
        if let Some(client) = self.client.take() {
            // The pool gets the connection back once the rollback is done.
            tokio::spawn(async move {
                let _ = client.batch_execute("ROLLBACK").await;
            });
        }
    }
}
