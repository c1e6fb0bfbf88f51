//! Gives memory freed after a burst back to the system.
//!
//! glibc's allocator keeps freed memory in its arenas: after 40 clients that
//! stopped reading had their full outbound queues (175 MB) dropped, the
//! sandbox still held 156 MB a minute later (`cargo bench --bench hostile`).
//! mimalloc, tried instead, kept it too: it only purges on later allocator
//! activity, and an idle sandbox has none. `malloc_trim` returns the free
//! pages of every arena; called periodically, memory is back near its
//! baseline within one period after a burst.

use std::time::Duration;

pub const TRIM_PERIOD: Duration = Duration::from_secs(5);

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes no pointers, has no preconditions, and takes
    // each arena's lock itself, so it is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}

/// Other allocators (macOS's, musl's) return freed pages without being asked.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

pub async fn give_back_every(period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // It walks every arena: off the async workers.
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}
