//! Progress of a push: on a terminal, one line redrawn in place (bytes, items/s,
//! ETA); off one (a log file, CI), a plain line every 30 seconds.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    terminal: bool,
    total: Option<u64>,
    first_offset: u64,
    offset: u64,
    items: u64,
    started: Instant,
    last_log: Instant,
    drawn: bool,
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

impl Progress {
    pub fn new(total: Option<u64>, offset: u64) -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            total,
            first_offset: offset,
            offset,
            items: 0,
            started: Instant::now(),
            last_log: Instant::now(),
            drawn: false,
        }
    }

    pub fn update(&mut self, offset: u64, items: u64) {
        self.offset = offset;
        self.items = items;
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.items as f64 / secs;
        let done = self.offset - self.first_offset;
        match self.total {
            Some(total) if total > 0 => {
                let pct = 100.0 * self.offset as f64 / total as f64;
                let left = total.saturating_sub(self.offset) as f64;
                let eta = if done > 0 {
                    format!("{:.0} s", left * secs / done as f64)
                } else {
                    "?".into()
                };
                format!(
                    "{} / {} ({pct:.1}%), {} items, {rate:.0} items/s, ETA {eta}",
                    bytes(self.offset),
                    bytes(total),
                    self.items
                )
            }
            _ => format!(
                "{} read, {} items, {rate:.0} items/s",
                bytes(self.offset),
                self.items
            ),
        }
    }

    pub fn show(&mut self) {
        if self.terminal {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[K{}", self.line());
            let _ = err.flush();
            self.drawn = true;
        } else if self.last_log.elapsed() >= Duration::from_secs(30) {
            self.last_log = Instant::now();
            eprintln!("push: {}", self.line());
        }
    }

    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}
