//! How the process's allocator keeps freed memory.
//!
//! glibc's malloc gives each thread that allocates an arena of its own, up to
//! eight per core, and keeps what was freed in the arena that held it. The
//! async runtime's threads take turns at serving requests (a request that
//! reads in place hands its worker's other tasks to another thread), so over a
//! long ingest each of those arenas grows to the largest requests it happened
//! to serve and keeps that memory, free but resident: at ten times the
//! benchmark's data, 16 arenas held 264 MB free of 501 MB. One arena per core
//! lets that memory be used again by whichever thread allocates next, while
//! threads running at once still rarely wait for each other's arena.
//!
//! A `MALLOC_ARENA_MAX` (or `GLIBC_TUNABLES`) set by whoever runs the server is
//! left as it is.

/// Caps glibc's arenas at one per core. Called first thing in `main`, before
/// any other thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    let set_by_user = ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if set_by_user {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = i32::try_from(cores.max(2)).unwrap_or(i32::MAX);
    // SAFETY: mallopt only changes an allocator setting, and it is called
    // before the process starts any other thread.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

/// Other allocators keep their own defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}
