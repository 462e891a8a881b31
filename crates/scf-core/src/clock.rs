//! Time for the core, so that a jump of the system clock loses nothing.
//!
//! Records carry the wall clock ([`wall_ms`]): that is what users read in GetRequestStatus and
//! what other nodes compare with. But a wall clock can be set: +73 h once purged all request
//! history, +2 h failed a live request as "lost", -1 h held an async retry back for the hour.
//! So decisions use two derived clocks:
//! - [`steady_ms`]: the wall clock as read when the process started, plus the monotonic time
//!   since. Steps of the system clock do not move it (NTP's slewing moves both alike). Async
//!   schedules are stamped and compared with it: when an event is due, when a lease runs out.
//! - [`settled_ms`]: the earlier of the two, for deciding that something is old enough to
//!   delete or to give up on (the retention purge, sync requests of a node that is gone, an
//!   event's MsgTTL). A forward jump does not make anything look older; after a backward jump
//!   records written since carry the earlier time and are kept their full span too.
//!
//! The price: a correction of the system clock (it was wrong when scfd started) reaches the
//! schedules only at the next start. Timeouts and keep-alives already run on tokio's
//! monotonic clock.
//!
//! Tests move the wall clock alone with [`shift_wall_for_tests`] (a clock set by hand), or
//! both clocks with [`advance_for_tests`] (time passing: a retry interval or the retention
//! gone by without waiting for it); the end-to-end suite also runs scfd under libfaketime.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

static SHIFT_MS: AtomicI64 = AtomicI64::new(0);
/// Time passed by [`advance_for_tests`], on the steady clock.
static STEADY_SHIFT_MS: AtomicI64 = AtomicI64::new(0);
static START: OnceLock<(i64, Instant)> = OnceLock::new();

fn system_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The wall clock, in ms since the epoch.
pub fn wall_ms() -> i64 {
    system_ms() + SHIFT_MS.load(Ordering::Relaxed)
}

/// The wall clock at start plus the monotonic time since.
pub fn steady_ms() -> i64 {
    let (wall, at) = START.get_or_init(|| (wall_ms(), Instant::now()));
    wall + at.elapsed().as_millis() as i64 + STEADY_SHIFT_MS.load(Ordering::Relaxed)
}

/// The earlier of [`wall_ms`] and [`steady_ms`].
pub fn settled_ms() -> i64 {
    // Read steady first: on the first call it is anchored on the wall clock just read.
    let steady = steady_ms();
    wall_ms().min(steady)
}

/// Starts the steady clock now (the server calls it at start, before anything is scheduled).
pub fn start() {
    let _ = steady_ms();
}

/// Moves the wall clock by `delta_ms`, as a system clock set by hand would; the steady clock
/// does not follow. For tests only (each test in its own process, as nextest runs them).
#[doc(hidden)]
pub fn shift_wall_for_tests(delta_ms: i64) {
    start();
    SHIFT_MS.fetch_add(delta_ms, Ordering::Relaxed);
}

/// Lets `delta_ms` of time pass at once: both clocks move (what is scheduled on the steady
/// clock comes due, what is judged by age on the settled clock gets older). Tokio's timers do
/// not move: a loop that sleeps until something is due wakes at its next look (the async
/// dispatcher looks at least every second, the purge every `purge_interval`). For tests only.
#[doc(hidden)]
pub fn advance_for_tests(delta_ms: i64) {
    start();
    STEADY_SHIFT_MS.fetch_add(delta_ms, Ordering::Relaxed);
    SHIFT_MS.fetch_add(delta_ms, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_moves_the_wall_clock_only() {
        start();
        let (w0, s0) = (wall_ms(), steady_ms());
        assert!((w0 - s0).abs() < 1000);
        shift_wall_for_tests(73 * 3600 * 1000);
        assert!(wall_ms() - steady_ms() > 72 * 3600 * 1000);
        assert!(
            settled_ms() - s0 < 60_000,
            "settled follows the earlier clock"
        );
        shift_wall_for_tests(-74 * 3600 * 1000);
        assert!(steady_ms() - wall_ms() > 3500 * 1000);
        assert!(settled_ms() < steady_ms() - 3500 * 1000);
    }

    #[test]
    fn passing_time_moves_both_clocks() {
        start();
        let (w0, s0) = (wall_ms(), steady_ms());
        advance_for_tests(3_600_000);
        let (w1, s1) = (wall_ms(), steady_ms());
        assert!((3_600_000..3_660_000).contains(&(w1 - w0)), "{}", w1 - w0);
        assert!((3_600_000..3_660_000).contains(&(s1 - s0)), "{}", s1 - s0);
        assert!(settled_ms() >= s0 + 3_600_000);
    }
}
