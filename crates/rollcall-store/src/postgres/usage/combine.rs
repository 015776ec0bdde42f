//! Group commit of the pushes one store receives for one app.
//!
//! Concurrent pushes to one app mostly touch the same rollup rows (the latest
//! timestamps of the busy emails, the bitmaps of the current days), which each
//! push holds locked until its commit is flushed: pushed one transaction each,
//! they queue on each other and pay one WAL flush each. So a push joins its
//! app's queue, and a worker task writes everything queued as one group in one
//! transaction ([`push::push_group`]): each distinct latest timestamp and
//! bitmap written once, one flush for all.
//!
//! Each batch keeps its own answer, exactly as if the group's batches had been
//! pushed one after the other in queue order (a row two batches hold counts
//! for the first). A batch the app refuses (an undefined event name) gets its
//! error and writes nothing, without affecting the others. When the group's
//! transaction fails (the database, a lock timeout), nothing of it is stored
//! and each of its batches is tried again alone, so one batch's failure never
//! becomes another's.
//!
//! The queues are the store's ([`PushQueues`], kept beside its caches in
//! [`PgCaches`]), so every request of the store joins the same ones. Only
//! pushes waiting in this store are grouped; nothing outlives the requests (the
//! queue holds no data another process could make stale), and the groups of
//! different processes (or stores) stay exact together through the lock order
//! `push` describes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use super::super::caches::PgCaches;
use super::email_ids::EmailIds;
use super::push::{self, Raw};
use crate::usage::{NewEvent, PushOutcome};
use crate::{StoreError, StoreResult};

/// Workers writing one app's groups at once per store: while one group
/// commits (or waits for its flush), the next one's raw rows are already
/// being inserted by a second backend (its rollup writes then wait for the
/// first's row locks). With one worker, every push to an app ran on one
/// database backend, one core: at full scale that capped ingest near 71k
/// events/s with the machine half idle.
const MAX_WORKERS: usize = 2;

/// A worker stops adding batches to a group once it holds this many events.
const MAX_GROUP_EVENTS: usize = 8_000;

/// (account, public app id).
type AppKey = (i64, String);

/// A push waiting for its answer.
struct Waiting {
    events: Vec<NewEvent>,
    answer: oneshot::Sender<StoreResult<PushOutcome>>,
}

/// One app's queue and how many workers are draining it.
#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    workers: usize,
}

/// Every app's queue, of one store.
#[derive(Default)]
pub(in crate::postgres) struct PushQueues(Mutex<HashMap<AppKey, Queue>>);

fn poisoned() -> StoreError {
    StoreError::Internal("the push queue is poisoned".into())
}

/// Stores `events` in the app (all or nothing), grouped with the pushes to
/// the same app waiting in this store (`caches`' queues).
pub(super) async fn push(
    pool: &Pool,
    caches: &Arc<PgCaches>,
    account_id: i64,
    app_id: &str,
    events: Vec<NewEvent>,
) -> StoreResult<PushOutcome> {
    let key: AppKey = (account_id, app_id.to_string());
    let (answer, answered) = oneshot::channel();
    let start_worker = {
        let mut queues = caches.push_queues.0.lock().map_err(|_| poisoned())?;
        let queue = queues.entry(key.clone()).or_default();
        queue.waiting.push(Waiting { events, answer });
        let start = queue.workers < MAX_WORKERS;
        if start {
            queue.workers += 1;
        }
        start
    };
    if start_worker {
        // A task of its own, so a caller going away never strands the others.
        let worker = Worker {
            key,
            pool: pool.clone(),
            caches: Arc::clone(caches),
            stopped: false,
        };
        tokio::spawn(worker.run());
    }
    answered
        .await
        .map_err(|_| StoreError::Internal("a push was dropped unanswered".into()))?
}

/// Drains one app's queue, a group at a time.
struct Worker {
    key: AppKey,
    pool: Pool,
    /// The store's queues and email ids.
    caches: Arc<PgCaches>,
    /// Whether [`Worker::take`] found the queue empty and stopped counting this
    /// worker.
    stopped: bool,
}

impl Drop for Worker {
    /// A worker that ends without stopping (it panicked) stops counting; the
    /// last one gone drops the pushes still waiting, which answers them with an
    /// error rather than never.
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let Ok(mut queues) = self.caches.push_queues.0.lock() else {
            return;
        };
        if let Some(queue) = queues.get_mut(&self.key) {
            queue.workers = queue.workers.saturating_sub(1);
            if queue.workers == 0 {
                queues.remove(&self.key);
            }
        }
    }
}

impl Worker {
    async fn run(mut self) {
        while let Some(group) = self.take() {
            self.write(group).await;
        }
    }

    /// The next group (the oldest waiting pushes); `None`, and this worker
    /// stops counting, when nothing waits (decided under the lock a push
    /// joins the queue under, so no push is left without a worker).
    fn take(&mut self) -> Option<Vec<Waiting>> {
        let Ok(mut queues) = self.caches.push_queues.0.lock() else {
            return None;
        };
        let queue = queues.get_mut(&self.key)?;
        if queue.waiting.is_empty() {
            self.stopped = true;
            queue.workers -= 1;
            if queue.workers == 0 {
                queues.remove(&self.key);
            }
            return None;
        }
        let mut events = 0;
        let n = queue
            .waiting
            .iter()
            .take_while(|w| {
                let fits = events == 0 || events + w.events.len() <= MAX_GROUP_EVENTS;
                events += w.events.len();
                fits
            })
            .count();
        Some(queue.waiting.drain(..n).collect())
    }

    /// Writes `group` in one transaction (each batch alone if that fails) and
    /// answers its pushes.
    async fn write(&self, group: Vec<Waiting>) {
        let (account_id, app_id) = &self.key;
        let ids = &self.caches.email_ids;
        let batches: Vec<&[NewEvent]> = group.iter().map(|w| w.events.as_slice()).collect();
        let answers = match transaction(&self.pool, ids, *account_id, app_id, &batches).await {
            Ok(answers) => answers,
            Err(e) if group.len() == 1 => vec![Err(e)],
            Err(_) => {
                let mut answers = Vec::with_capacity(group.len());
                for batch in &batches {
                    let one = transaction(&self.pool, ids, *account_id, app_id, &[batch]).await;
                    answers.push(one.and_then(|mut a| a.pop().unwrap_or_else(|| Err(lost()))));
                }
                answers
            }
        };
        let mut answers = answers.into_iter();
        for waiting in group {
            // The push may have gone away (its request was dropped); its batch
            // is stored all the same.
            let _ = waiting
                .answer
                .send(answers.next().unwrap_or_else(|| Err(lost())));
        }
    }
}

fn lost() -> StoreError {
    StoreError::Internal("a push of a group got no answer".into())
}

/// Pushes `batches` in one transaction (see [`push::push_group`]): its raw
/// rows as new ones, and if one was already stored, again skipping those.
async fn transaction(
    pool: &Pool,
    ids: &EmailIds,
    account_id: i64,
    app_id: &str,
    batches: &[&[NewEvent]],
) -> StoreResult<Vec<StoreResult<PushOutcome>>> {
    let mut client = super::super::checkout(pool).await?;
    for raw in [Raw::New, Raw::SkipStored] {
        let tx = client.transaction().await?;
        if let Some(answers) = push::push_group(tx, ids, account_id, app_id, batches, raw).await? {
            return Ok(answers);
        }
    }
    Err(StoreError::Internal(
        "a push skipping stored rows met a stored row".into(),
    ))
}
