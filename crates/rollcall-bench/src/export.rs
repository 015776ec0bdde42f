//! `--export-events PATH`: the synthetic account as CSV for other engines
//! (scripts/duckdb-compare.py asks them the same questions): the usage events
//! at PATH, the org chart at PATH.org.csv and each event's feature group at
//! PATH.groups.csv. Written before any timing.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::data::Dataset;

/// Writes the three files; the number of usage events written.
pub fn write(data: &Dataset, app_ids: &[String], path: &Path) -> anyhow::Result<u64> {
    let events = to_file(path, |out| data.write_usage_csv(app_ids, out))?;
    to_file(&sibling(path, "org.csv"), |out| {
        writeln!(out, "email,team")?;
        for i in 0..data.employees() {
            writeln!(out, "{},{}", data.employee_email(i), data.team(i))?;
        }
        Ok(())
    })?;
    to_file(&sibling(path, "groups.csv"), |out| {
        writeln!(out, "app,event,feature_group")?;
        for app in app_ids {
            for e in 0..data.events_per_app() {
                writeln!(out, "{app},event-{e},{}", data.event_group(e))?;
            }
        }
        Ok(())
    })?;
    Ok(events)
}

/// `PATH.suffix`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn to_file<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<T>,
) -> anyhow::Result<T> {
    let context = || format!("writing {}", path.display());
    let mut out = BufWriter::new(File::create(path).with_context(context)?);
    let written = write(&mut out).with_context(context)?;
    out.flush().with_context(context)?;
    Ok(written)
}
