//! The relay's local aw-server data: buckets and their events, in memory and in
//! an append-only journal (`journal.ndjson` in the spool directory) that is
//! fsynced before the watcher gets its answer. A restart replays the journal; a
//! torn last line (a crash mid-write) is cut off. The journal is rewritten
//! from memory when it has grown, dropping events older than the horizon the
//! caller gives (they were converted and spooled long ago).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::event::{merge, Event};

/// Journal lines written between two rewrites at most.
const COMPACT_AFTER_LINES: u64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no bucket named {0}")]
    NoBucket(String),
    #[error("no event {1} in bucket {0}")]
    NoEvent(String, i64),
    #[error("bucket {0} already exists")]
    Exists(String),
    #[error("cannot write the relay journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A bucket's description as aw-server keeps it.
#[derive(Debug, Clone)]
pub struct BucketMeta {
    pub id: String,
    pub kind: String,
    pub client: String,
    pub hostname: String,
    pub created: String,
    pub data: Map<String, Value>,
}

#[derive(Debug)]
pub struct Bucket {
    pub meta: BucketMeta,
    pub events: BTreeMap<i64, Event>,
    /// The event the last heartbeat went to (aw-server's heartbeat cache).
    last: Option<i64>,
    /// When a watcher last wrote here (not persisted: a restart counts as a write).
    pub touched: Instant,
    /// The latest end of any event.
    pub end_us: Option<i64>,
}

impl Bucket {
    fn new(meta: BucketMeta) -> Bucket {
        Bucket {
            meta,
            events: BTreeMap::new(),
            last: None,
            touched: Instant::now(),
            end_us: None,
        }
    }

    fn put(&mut self, event: Event) {
        let end = event.end_us();
        self.end_us = Some(self.end_us.map_or(end, |e| e.max(end)));
        self.events.insert(event.id, event);
    }

    fn recompute_end(&mut self) {
        self.end_us = self.events.values().map(Event::end_us).max();
    }

    /// The event a heartbeat merges with: the cached one, else the latest-starting.
    fn last_event(&self) -> Option<&Event> {
        self.last
            .and_then(|id| self.events.get(&id))
            .or_else(|| self.events.values().max_by_key(|e| (e.start_us, e.id)))
    }
}

pub struct Store {
    path: PathBuf,
    file: File,
    buckets: BTreeMap<String, Bucket>,
    next_id: i64,
    lines: u64,
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Applies one journal line to the buckets being rebuilt.
fn replay(buckets: &mut BTreeMap<String, Bucket>, next_id: &mut i64, v: &Value) {
    match v["op"].as_str() {
        Some("bucket") => {
            if let Some(meta) = meta_from_json(&v["bucket"]) {
                buckets.insert(meta.id.clone(), Bucket::new(meta));
            }
        }
        Some("drop") => {
            if let Some(id) = v["id"].as_str() {
                buckets.remove(id);
            }
        }
        Some("event") => {
            let (Some(bucket), Some(id), Some(start), Some(dur), Some(data)) = (
                v["bucket"].as_str(),
                v["id"].as_i64(),
                v["start"].as_i64(),
                v["dur"].as_i64(),
                v["data"].as_object(),
            ) else {
                return;
            };
            *next_id = (*next_id).max(id + 1);
            if let Some(b) = buckets.get_mut(bucket) {
                b.put(Event {
                    id,
                    start_us: start,
                    duration_us: dur,
                    data: data.clone(),
                });
                if v["hb"].as_bool() == Some(true) {
                    b.last = Some(id);
                }
            }
        }
        Some("del") => {
            if let (Some(bucket), Some(id)) = (v["bucket"].as_str(), v["id"].as_i64()) {
                if let Some(b) = buckets.get_mut(bucket) {
                    b.events.remove(&id);
                    if b.last == Some(id) {
                        b.last = None;
                    }
                    b.recompute_end();
                }
            }
        }
        _ => {}
    }
}

/// Opens (creating) the append-only NDJSON file at `path`, gives each whole
/// line that parses to `each`, in order, and cuts off what follows the last one
/// (a write a crash tore), fsyncing the cut; `what` names the file in the
/// warning. Returns the file, positioned for appending, and its length.
pub(super) fn open_ndjson(
    path: &Path,
    what: &str,
    mut each: impl FnMut(&Value),
) -> Result<(File, u64), StoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io(path))?;
    let mut good_len = 0u64;
    {
        let mut reader = BufReader::new(&mut file);
        reader.seek(SeekFrom::Start(0)).map_err(io(path))?;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(io(path))?;
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                break;
            };
            each(&v);
            good_len += n as u64;
        }
    }
    if file.metadata().map_err(io(path))?.len() != good_len {
        tracing::warn!(
            "the relay {what} {} ends in a torn line; cutting it off",
            path.display()
        );
        file.set_len(good_len).map_err(io(path))?;
        file.sync_all().map_err(io(path))?;
    }
    Ok((file, good_len))
}

impl Store {
    /// Opens (replaying) or creates the journal in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("journal.ndjson");
        let mut buckets = BTreeMap::new();
        let mut next_id = 1;
        let mut lines = 0;
        let (file, _) = open_ndjson(&path, "journal", |v| {
            replay(&mut buckets, &mut next_id, v);
            lines += 1;
        })?;
        Ok(Store {
            path,
            file,
            buckets,
            next_id,
            lines,
        })
    }

    /// Appends journal lines and fsyncs: the change is durable when this returns.
    fn write(&mut self, lines: &[Value]) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(256 * lines.len());
        for line in lines {
            // A Value always serialises.
            serde_json::to_writer(&mut buf, line).unwrap_or_default();
            buf.push(b'\n');
        }
        self.file.write_all(&buf).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.lines += lines.len() as u64;
        Ok(())
    }

    pub fn buckets(&self) -> &BTreeMap<String, Bucket> {
        &self.buckets
    }

    pub fn bucket(&self, id: &str) -> Result<&Bucket, StoreError> {
        self.buckets
            .get(id)
            .ok_or_else(|| StoreError::NoBucket(id.to_string()))
    }

    pub fn create_bucket(&mut self, meta: BucketMeta) -> Result<(), StoreError> {
        if self.buckets.contains_key(&meta.id) {
            return Err(StoreError::Exists(meta.id));
        }
        self.write(&[json!({"op": "bucket", "bucket": meta_json(&meta)})])?;
        self.buckets.insert(meta.id.clone(), Bucket::new(meta));
        Ok(())
    }

    pub fn delete_bucket(&mut self, id: &str) -> Result<(), StoreError> {
        self.bucket(id)?;
        self.write(&[json!({"op": "drop", "id": id})])?;
        self.buckets.remove(id);
        Ok(())
    }

    fn event_line(bucket: &str, e: &Event, heartbeat: bool) -> Value {
        json!({"op": "event", "bucket": bucket, "id": e.id, "start": e.start_us,
               "dur": e.duration_us, "data": e.data, "hb": heartbeat})
    }

    /// Inserts events (an event naming an existing id replaces it, as in aw-server).
    pub fn insert(&mut self, bucket: &str, events: Vec<Event>) -> Result<Vec<Event>, StoreError> {
        self.bucket(bucket)?;
        let mut stored = Vec::with_capacity(events.len());
        for mut e in events {
            if e.id <= 0 {
                e.id = self.next_id;
                self.next_id += 1;
            } else {
                self.next_id = self.next_id.max(e.id + 1);
            }
            stored.push(e);
        }
        let lines: Vec<Value> = stored
            .iter()
            .map(|e| Self::event_line(bucket, e, false))
            .collect();
        self.write(&lines)?;
        let b = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| StoreError::NoBucket(bucket.into()))?;
        for e in &stored {
            b.put(e.clone());
        }
        b.touched = Instant::now();
        Ok(stored)
    }

    /// aw-server's heartbeat: merge into the last event or start a new one.
    pub fn heartbeat(
        &mut self,
        bucket: &str,
        mut heartbeat: Event,
        pulsetime_us: i64,
    ) -> Result<Event, StoreError> {
        let b = self.bucket(bucket)?;
        let merged = b.last_event().and_then(|last| {
            merge(last, &heartbeat, pulsetime_us).map(|(start_us, duration_us)| Event {
                id: last.id,
                start_us,
                duration_us,
                data: last.data.clone(),
            })
        });
        let event = match merged {
            Some(event) => event,
            None => {
                heartbeat.id = self.next_id;
                self.next_id += 1;
                heartbeat
            }
        };
        // An unchanged merge (a heartbeat inside the event) needs no write.
        let unchanged = self.bucket(bucket)?.events.get(&event.id) == Some(&event);
        if !unchanged {
            self.write(&[Self::event_line(bucket, &event, true)])?;
        }
        let b = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| StoreError::NoBucket(bucket.into()))?;
        b.last = Some(event.id);
        b.touched = Instant::now();
        b.put(event.clone());
        Ok(event)
    }

    pub fn delete_event(&mut self, bucket: &str, id: i64) -> Result<(), StoreError> {
        if !self.bucket(bucket)?.events.contains_key(&id) {
            return Err(StoreError::NoEvent(bucket.to_string(), id));
        }
        self.write(&[json!({"op": "del", "bucket": bucket, "id": id})])?;
        if let Some(b) = self.buckets.get_mut(bucket) {
            b.events.remove(&id);
            if b.last == Some(id) {
                b.last = None;
            }
            b.recompute_end();
        }
        Ok(())
    }

    /// Rewrites the journal from memory once it has grown, without the events
    /// that ended before `horizon_us`. Crash-safe: a new file is written,
    /// fsynced and renamed over the old one.
    pub fn compact_if_grown(&mut self, horizon_us: i64) -> Result<(), StoreError> {
        if self.lines < COMPACT_AFTER_LINES {
            return Ok(());
        }
        for b in self.buckets.values_mut() {
            b.events.retain(|_, e| e.end_us() >= horizon_us);
            if b.last.is_some_and(|id| !b.events.contains_key(&id)) {
                b.last = None;
            }
        }
        let tmp = self.path.with_extension("ndjson.new");
        let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(io(&tmp))?);
        let mut lines = 0u64;
        for b in self.buckets.values() {
            let mut all = vec![json!({"op": "bucket", "bucket": meta_json(&b.meta)})];
            all.extend(
                b.events
                    .values()
                    .map(|e| Self::event_line(&b.meta.id, e, b.last == Some(e.id))),
            );
            for line in all {
                serde_json::to_writer(&mut out, &line).unwrap_or_default();
                out.write_all(b"\n").map_err(io(&tmp))?;
                lines += 1;
            }
        }
        let file = out.into_inner().map_err(|e| StoreError::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        super::spool::sync_dir(&self.path)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io(&self.path))?;
        self.lines = lines;
        Ok(())
    }
}

pub fn meta_json(m: &BucketMeta) -> Value {
    json!({"id": m.id, "name": m.id, "type": m.kind, "client": m.client,
           "hostname": m.hostname, "created": m.created, "data": m.data})
}

fn meta_from_json(v: &Value) -> Option<BucketMeta> {
    Some(BucketMeta {
        id: v["id"].as_str()?.to_string(),
        kind: v["type"].as_str().unwrap_or_default().to_string(),
        client: v["client"].as_str().unwrap_or_default().to_string(),
        hostname: v["hostname"].as_str().unwrap_or_default().to_string(),
        created: v["created"].as_str().unwrap_or_default().to_string(),
        data: v["data"].as_object().cloned().unwrap_or_default(),
    })
}
