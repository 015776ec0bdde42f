//! What Linux's /proc tells of a process: its resident memory, the CPU time it
//! has used (0 where /proc is not there) and how busy one of its threads was.

/// A `kB` line of /proc/PID/status (`VmRSS:`, `VmHWM:`), in MB; `None` is this process.
pub fn status_mb(pid: Option<u32>, key: &str) -> f64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User plus system CPU seconds used so far (`utime + stime` of
/// /proc/PID/stat); `None` is this process.
pub fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / CLOCK_TICKS
}

/// The embedded store's one writer thread, which bounds its ingest.
const WRITER_THREAD: &str = "rollcall-writer";

/// A thread's scheduler figures at one moment (`/proc/PID/task/TID/schedstat`).
#[derive(Debug, Clone, Copy)]
pub struct ThreadSample {
    on_cpu_ns: u64,
    runnable_ns: u64,
    at: std::time::Instant,
}

/// How a thread spent a stage, in percent of its wall time: on a CPU, and
/// runnable but waiting for one. The rest it was blocked: on I/O, or waiting
/// for work. Near 100 together, the thread was what the stage waited on.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadBusy {
    pub stage: String,
    pub on_cpu_percent: f64,
    pub runnable_percent: f64,
}

impl ThreadSample {
    /// The first thread of `pid` named `name`; `None` when there is none (a
    /// server on PostgreSQL has no writer thread) or /proc is not there.
    pub fn of(pid: Option<u32>, name: &str) -> Option<ThreadSample> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", pid?)).ok()?;
        for task in tasks.flatten() {
            let path = task.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let stat = std::fs::read_to_string(path.join("schedstat")).ok()?;
            let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().ok());
            return Some(ThreadSample {
                on_cpu_ns: fields.next()??,
                runnable_ns: fields.next()??,
                at: std::time::Instant::now(),
            });
        }
        None
    }

    /// How the thread spent the time since `earlier`.
    pub fn since(&self, earlier: &ThreadSample, stage: &str) -> ThreadBusy {
        let wall_ns = self.at.duration_since(earlier.at).as_nanos().max(1) as f64;
        let share = |now: u64, then: u64| 100.0 * now.saturating_sub(then) as f64 / wall_ns;
        ThreadBusy {
            stage: stage.to_string(),
            on_cpu_percent: share(self.on_cpu_ns, earlier.on_cpu_ns),
            runnable_percent: share(self.runnable_ns, earlier.runnable_ns),
        }
    }
}

/// The server's writer thread now (`None` without one).
pub fn writer_sample(pid: Option<u32>) -> Option<ThreadSample> {
    ThreadSample::of(pid, WRITER_THREAD)
}

/// How the server's writer thread spent the time since `earlier` (a
/// [`writer_sample`]) was taken, as `stage`; `None` without one.
pub fn writer_busy_since(
    earlier: Option<ThreadSample>,
    pid: Option<u32>,
    stage: &str,
) -> Option<ThreadBusy> {
    Some(writer_sample(pid)?.since(&earlier?, stage))
}

/// `sysconf(_SC_CLK_TCK)`, which is 100 on every Linux the harness runs on.
const CLOCK_TICKS: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_its_cpu_time_grows() {
        assert!(status_mb(None, "VmRSS:") > 0.0);
        let before = cpu_seconds(None);
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed().as_millis() < 50 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0 && cpu_seconds(None) >= before);
    }

    #[test]
    fn a_busy_named_thread_is_found_and_seen_on_a_cpu() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (started_tx, started) = std::sync::mpsc::channel();
        let spinner = std::thread::Builder::new()
            .name("bench-spinner".into())
            .spawn(move || {
                // The thread names itself as it starts.
                started_tx.send(()).unwrap();
                let mut x = 0u64;
                while rx.try_recv().is_err() {
                    x = x.wrapping_add(std::hint::black_box(1));
                }
                x
            })
            .unwrap();
        started.recv().unwrap();
        let me = Some(std::process::id());
        let first = ThreadSample::of(me, "bench-spinner").expect("the thread");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let busy = ThreadSample::of(me, "bench-spinner")
            .unwrap()
            .since(&first, "spinning");
        tx.send(()).unwrap();
        spinner.join().unwrap();
        // Spinning, it is on a CPU or waiting for one nearly all the time.
        assert!(
            busy.on_cpu_percent + busy.runnable_percent > 80.0,
            "{busy:?}"
        );
        assert!(ThreadSample::of(me, "no-such-thread").is_none());
    }
}
