//! Resuming an interrupted push: `<FILE>.rollcall-push` beside the file records
//! how far every batch has been acknowledged (byte offset and line), the counts
//! so far and the rejected lines, replaced atomically after each advance. A
//! push that finishes removes it, so the next run of the same file starts over
//! (and finds everything already stored: all duplicates).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub kind: String,
    pub app: Option<String>,
    pub server: String,
    pub file_len: u64,
    /// Every line before this byte offset (and up to `line`) is acknowledged.
    pub offset: u64,
    pub line: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<Rejected>,
    /// The org-chart snapshot being filled.
    pub snapshot: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rejected {
    pub line: u64,
    pub message: String,
}

pub fn path_for(file: &Path) -> Option<PathBuf> {
    if file == Path::new("-") {
        return None;
    }
    let mut name = file.file_name()?.to_os_string();
    name.push(".rollcall-push");
    Some(file.with_file_name(name))
}

/// The saved state of `file` when it was a push of the same kind, app, server and file.
pub fn load(path: &Path, fresh: &State) -> Option<State> {
    let bytes = std::fs::read(path).ok()?;
    let saved: State = serde_json::from_slice(&bytes).ok()?;
    (saved.kind == fresh.kind
        && saved.app == fresh.app
        && saved.server == fresh.server
        && saved.file_len == fresh.file_len)
        .then_some(saved)
}

pub fn save(path: &Path, state: &State) -> std::io::Result<()> {
    let tmp = path.with_extension("rollcall-push.tmp");
    std::fs::write(&tmp, serde_json::to_vec(state).unwrap_or_default())?;
    std::fs::rename(&tmp, path)
}
