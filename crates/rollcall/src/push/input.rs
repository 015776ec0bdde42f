//! Reading a push file: NDJSON (one JSON object a line) or CSV (a header row of
//! field names; `a.b` headers build nested objects, so `computer.name` becomes
//! `{"computer": {"name": …}}`). Each item keeps its line number, and the reader
//! reports the byte offset after each item so a push can resume there.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

/// One line of input: a JSON object, or why it is not one.
pub enum Line {
    Item(u64, Value),
    Bad(u64, String),
}

/// How CSV cells become JSON values for one kind of data.
pub struct Typing {
    pub integers: &'static [&'static str],
    pub numbers: &'static [&'static str],
    pub booleans: &'static [&'static str],
}

pub struct Input {
    reader: BufReader<Box<dyn Read + Send>>,
    format: Format,
    /// CSV: the header's field paths.
    header: Vec<Vec<String>>,
    /// The raw header line (CSV uploads send it with every chunk).
    pub header_line: Option<String>,
    typing: &'static Typing,
    /// CSV rows are kept as their text (for CSV uploads) instead of becoming objects.
    raw: bool,
    /// Byte offset after the last line read.
    pub offset: u64,
    /// Number of the last line read (1-based).
    pub line: u64,
    pub total_bytes: Option<u64>,
    buf: String,
}

fn split_csv_line(text: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    match reader.records().next() {
        Some(Ok(r)) => Ok(r.iter().map(str::to_string).collect()),
        Some(Err(e)) => Err(format!("not a CSV row: {e}")),
        None => Ok(Vec::new()),
    }
}

impl Input {
    /// Opens `path` (`-` = stdin) at `offset`/`line` (0 = from the start).
    pub fn open(
        path: &Path,
        format: Format,
        typing: &'static Typing,
        raw: bool,
        offset: u64,
        line: u64,
    ) -> std::io::Result<Input> {
        let (reader, total_bytes): (Box<dyn Read + Send>, Option<u64>) = if path == Path::new("-") {
            (Box::new(std::io::stdin()), None)
        } else {
            let file = File::open(path)?;
            let len = file.metadata()?.len();
            (Box::new(file), Some(len))
        };
        let mut input = Input {
            reader: BufReader::with_capacity(1 << 20, reader),
            format,
            header: Vec::new(),
            header_line: None,
            typing,
            raw,
            offset: 0,
            line: 0,
            total_bytes,
            buf: String::new(),
        };
        if format == Format::Csv {
            let Some(header) = input.raw_line()? else {
                return Ok(input);
            };
            let fields = split_csv_line(header.trim_end())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            input.header = fields
                .iter()
                .map(|f| f.trim().split('.').map(str::to_string).collect())
                .collect();
            input.header_line = Some(header.trim_end().to_string());
        }
        if offset > input.offset {
            // Resume: only files can seek; the reader is rebuilt at the offset.
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(offset))?;
            input.reader = BufReader::with_capacity(1 << 20, Box::new(file));
            input.offset = offset;
            input.line = line;
        }
        Ok(input)
    }

    /// The next physical line, with its newline; `None` at the end.
    fn raw_line(&mut self) -> std::io::Result<Option<String>> {
        self.buf.clear();
        let n = self.reader.read_line(&mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.offset += n as u64;
        self.line += 1;
        Ok(Some(std::mem::take(&mut self.buf)))
    }

    /// The next item or bad line; `None` at the end. Blank lines are skipped.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let Some(mut text) = self.raw_line()? else {
                return Ok(None);
            };
            if self.format == Format::Csv {
                // A quoted cell may span lines: read on while the quotes are unbalanced.
                while text.matches('"').count() % 2 == 1 {
                    match self.raw_line()? {
                        Some(more) => text.push_str(&more),
                        None => break,
                    }
                }
            }
            let trimmed = text.trim();
            if trimmed.is_empty() {
                continue;
            }
            let line = self.line;
            return Ok(Some(match self.format {
                Format::Ndjson => match serde_json::from_str::<Value>(trimmed) {
                    Ok(v @ Value::Object(_)) => Line::Item(line, v),
                    Ok(_) => Line::Bad(line, "the line is not a JSON object".into()),
                    Err(e) => Line::Bad(line, format!("not JSON: {e}")),
                },
                Format::Csv => match split_csv_line(trimmed) {
                    Ok(cells) if cells.len() == self.header.len() => {
                        if self.raw {
                            Line::Item(line, Value::String(trimmed.to_string()))
                        } else {
                            Line::Item(line, self.object(&cells))
                        }
                    }
                    Ok(cells) => Line::Bad(
                        line,
                        format!(
                            "{} cells where the header has {}",
                            cells.len(),
                            self.header.len()
                        ),
                    ),
                    Err(e) => Line::Bad(line, e),
                },
            }));
        }
    }

    fn typed(&self, name: &str, cell: &str) -> Value {
        let t = self.typing;
        if t.integers.contains(&name) {
            if let Ok(n) = cell.parse::<i64>() {
                return Value::from(n);
            }
        }
        if t.numbers.contains(&name) {
            if let Ok(n) = cell.parse::<f64>() {
                if let Some(n) = serde_json::Number::from_f64(n) {
                    return Value::Number(n);
                }
            }
        }
        if t.booleans.contains(&name) {
            match cell.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => return Value::Bool(true),
                "false" | "0" | "no" => return Value::Bool(false),
                _ => {}
            }
        }
        Value::String(cell.to_string())
    }

    fn object(&self, cells: &[String]) -> Value {
        let mut root = Map::new();
        for (path, cell) in self.header.iter().zip(cells) {
            // An empty cell is an absent field.
            if cell.is_empty() {
                continue;
            }
            let Some(leaf) = path.last() else {
                continue;
            };
            insert_path(&mut root, path, self.typed(leaf, cell));
        }
        Value::Object(root)
    }
}

/// Sets `path` (`["computer", "name"]`) in `node`, making the objects on the way.
fn insert_path(node: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [leaf] => {
            node.insert(leaf.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = node
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(child) = entry {
                insert_path(child, rest, value);
            }
        }
    }
}
