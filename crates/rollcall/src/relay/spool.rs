//! The outbox: §5 records waiting for the server, on disk.
//!
//! `outbox-<generation>.ndjson` holds one line per sealed interval,
//! `{"until": <unix s>, "records": [...]}`, appended and fsynced in one write,
//! so the records of an interval and the fact that it is sealed become durable
//! together (a torn last line is cut off on open, and that interval is sealed
//! again). `cursor.json` holds the generation and the byte offset up to which
//! the server has acknowledged; it is replaced atomically (write, fsync,
//! rename, fsync the directory) and only after an acknowledgement, so a crash
//! at any point re-sends at most one batch, which the server's idempotent
//! keys turn into duplicates. When everything is acknowledged and the file has
//! grown, a new generation starts with the sealed-until mark alone.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::store::{io, open_ndjson, StoreError};

/// Outbox size after which a fully acknowledged outbox starts a new generation.
const ROTATE_BYTES: u64 = 4 << 20;

/// Fsyncs the directory holding `path`, so a rename in it is durable.
pub fn sync_dir(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `bytes` to `path` atomically and durably.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path)
}

pub struct Spool {
    dir: PathBuf,
    generation: u64,
    file: File,
    len: u64,
    acked: u64,
    sealed_until: Option<i64>,
}

/// A batch read from the outbox: its records and the offset that acknowledges it.
pub struct Batch {
    pub records: Vec<Value>,
    pub end: u64,
}

impl Spool {
    fn outbox_path(dir: &Path, generation: u64) -> PathBuf {
        dir.join(format!("outbox-{generation}.ndjson"))
    }

    pub fn open(dir: &Path) -> Result<Spool, StoreError> {
        let cursor_path = dir.join("cursor.json");
        let (generation, acked) = match std::fs::read(&cursor_path) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                (
                    v["generation"].as_u64().unwrap_or(0),
                    v["offset"].as_u64().unwrap_or(0),
                )
            }
            Err(_) => (0, 0),
        };
        let path = Self::outbox_path(dir, generation);
        let mut sealed_until = None;
        let (file, good) = open_ndjson(&path, "outbox", |v| {
            if let Some(u) = v["until"].as_i64() {
                sealed_until = Some(u);
            }
        })?;
        Ok(Spool {
            dir: dir.to_path_buf(),
            generation,
            file,
            len: good,
            acked: acked.min(good),
            sealed_until,
        })
    }

    /// The end (Unix seconds) of the last interval converted into records.
    pub fn sealed_until(&self) -> Option<i64> {
        self.sealed_until
    }

    /// Appends sealed intervals `(until, records)` and fsyncs.
    pub fn append(&mut self, lines: &[(i64, Vec<Value>)]) -> Result<(), StoreError> {
        let Some(last) = lines.last() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        for (until, records) in lines {
            serde_json::to_writer(&mut buf, &json!({"until": until, "records": records}))
                .unwrap_or_default();
            buf.push(b'\n');
        }
        let path = Self::outbox_path(&self.dir, self.generation);
        self.file.write_all(&buf).map_err(io(&path))?;
        self.file.sync_data().map_err(io(&path))?;
        self.len += buf.len() as u64;
        self.sealed_until = Some(last.0);
        Ok(())
    }

    /// Records not yet acknowledged, whole lines only, up to `max` records
    /// (at least one line, however long).
    pub fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, StoreError> {
        if self.acked >= self.len {
            return Ok(None);
        }
        let path = Self::outbox_path(&self.dir, self.generation);
        let mut reader = File::open(&path).map_err(io(&path))?;
        reader
            .seek(SeekFrom::Start(self.acked))
            .map_err(io(&path))?;
        let mut reader = BufReader::new(reader.take(self.len - self.acked));
        let mut records = Vec::new();
        let mut end = self.acked;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(io(&path))?;
            if n == 0 {
                break;
            }
            let v: Value = serde_json::from_str(&line).unwrap_or_default();
            let line_records = v["records"].as_array().cloned().unwrap_or_default();
            if !records.is_empty() && records.len() + line_records.len() > max {
                break;
            }
            records.extend(line_records);
            end += n as u64;
        }
        Ok(Some(Batch { records, end }))
    }

    /// The server acknowledged everything up to `end`.
    pub fn ack(&mut self, end: u64) -> Result<(), StoreError> {
        self.acked = end.min(self.len);
        if self.acked == self.len && self.len >= ROTATE_BYTES {
            return self.rotate();
        }
        self.write_cursor()
    }

    fn write_cursor(&self) -> Result<(), StoreError> {
        let cursor = json!({"generation": self.generation, "offset": self.acked});
        replace_file(&self.dir.join("cursor.json"), cursor.to_string().as_bytes())
    }

    /// Starts a new outbox holding only the sealed-until mark.
    fn rotate(&mut self) -> Result<(), StoreError> {
        let old = Self::outbox_path(&self.dir, self.generation);
        let generation = self.generation + 1;
        let path = Self::outbox_path(&self.dir, generation);
        let mark = match self.sealed_until {
            Some(u) => format!("{}\n", json!({"until": u, "records": []})),
            None => String::new(),
        };
        replace_file(&path, mark.as_bytes())?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        self.generation = generation;
        self.len = mark.len() as u64;
        self.acked = self.len;
        self.write_cursor()?;
        let _ = std::fs::remove_file(old);
        Ok(())
    }

    /// Records waiting for the server (for logs and the shutdown message).
    pub fn pending_bytes(&self) -> u64 {
        self.len - self.acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: i64) -> Value {
        json!({"start": n})
    }

    #[test]
    fn batches_are_acknowledged_once_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        assert_eq!(s.sealed_until(), None);
        s.append(&[(10, vec![rec(1), rec(2)]), (20, vec![rec(3)])])
            .unwrap();
        let b = s.next_batch(2).unwrap().unwrap();
        assert_eq!(b.records, vec![rec(1), rec(2)]);
        s.ack(b.end).unwrap();
        // Reopened: the sealed mark and the cursor are where they were.
        let mut s = Spool::open(dir.path()).unwrap();
        assert_eq!(s.sealed_until(), Some(20));
        let b = s.next_batch(100).unwrap().unwrap();
        assert_eq!(b.records, vec![rec(3)]);
        s.ack(b.end).unwrap();
        assert!(s.next_batch(100).unwrap().is_none());
    }

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        s.append(&[(10, vec![rec(1)])]).unwrap();
        drop(s);
        let path = dir.path().join("outbox-0.ndjson");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"until\": 20, \"reco").unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        assert_eq!(s.sealed_until(), Some(10));
        assert_eq!(s.next_batch(10).unwrap().unwrap().records, vec![rec(1)]);
    }

    #[test]
    fn a_rotated_outbox_keeps_the_sealed_mark() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        s.append(&[(10, vec![rec(1)])]).unwrap();
        let b = s.next_batch(10).unwrap().unwrap();
        s.acked = b.end;
        s.rotate().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        assert_eq!(s.sealed_until(), Some(10));
        assert_eq!(s.generation, 1);
        assert_eq!(s.pending_bytes(), 0);
    }
}
