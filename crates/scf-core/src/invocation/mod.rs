//! Running functions: resolving what to run, recording every request before it runs, the
//! synchronous path, the durable async queue and its dispatcher, retries, and recovery after a
//! restart.
//!
//! A request's record is written with RetCode 1 before the function starts (for an async
//! request, together with its queue entry, before Invoke answers), and rewritten with the
//! outcome when it ends. After a crash, `recover` fails the synchronous requests that were in
//! flight (nobody waits for them any more) and puts running async events back in the queue, so
//! every accepted async request reaches a final state (at least once).

//!
//! # Layout
//! * `target`: what an Invoke runs (function or version), its engine spec, environment and
//!   context, and the event's checks.
//! * `outcome`: what an invocation produced, as a record: log, error kind, metrics, and the
//!   outcome's write (held through a store outage).
//! * `sync`: the synchronous path.
//! * `queue`: the durable async queue: accepting, the dispatcher, leases, retries.
//! * `recovery`: after a restart, and the retention purge.

use crate::clock;
use crate::log_budget::LogBudget;
use crate::service::{Caller, Service, now_ms};
use scf_engine::instance::Failure;
use scf_engine::{EngineError, FunctionSpec, Outcome};
use scf_store::{
    AsyncEventRecord, AsyncStatus, FunctionKey, FunctionRecord, FunctionStatus, RequestRecord,
    Scope,
};
use scf_types::{ApiError, ErrorCode};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// SCF's payload caps (reference §9).
pub const MAX_SYNC_EVENT_BYTES: usize = 6 << 20;
pub const MAX_ASYNC_EVENT_BYTES: usize = 128 << 10;
/// The log kept per request; LogType Tail returns the last [`TAIL_BYTES`] of it.
const MAX_LOG_BYTES: usize = 64 << 10;
const TAIL_BYTES: usize = 4 << 10;
/// SCF's defaults for async retries (GetAccount: RetryNumLimit 2; MsgTTL up to 21600 s).
pub const DEFAULT_RETRY_NUM: i64 = 2;
pub const DEFAULT_MSG_TTL_SECS: i64 = 21_600;
/// Events claimed by the dispatcher per round.
const CLAIM_BATCH: usize = 64;

/// A sync request still running after this long had its node stop for good (SCF's longest
/// run is 900 s, plus its init): any node marks it failed.
const STALE_SYNC_MS: i64 = 30 * 60 * 1000;
pub const LOST_MESSAGE: &str =
    "The node running this request stopped; its outcome is unknown. Invoke it again.";

pub const RESTARTED_MESSAGE: &str = "The platform restarted while this request was running; its outcome is unknown. Invoke it again.";

mod outcome;
mod queue;
mod recovery;
mod sync;
mod target;

pub use outcome::bill_duration;
pub(crate) use queue::{dispatch, invoke_async};
pub(crate) use recovery::{purge_loop, recover};
pub(crate) use sync::invoke_sync;
pub(crate) use target::{async_settings, drain_instances, parse_event, resolve};

/// Runs its closure when dropped, also while a panic unwinds through it.
struct Finally<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Finally<F> {
    fn new(f: F) -> Self {
        Finally(Some(f))
    }
}

impl<F: FnOnce()> Drop for Finally<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::outcome::tail;
    use super::*;

    #[test]
    fn bill_durations() {
        assert_eq!(bill_duration(0.0), 100);
        assert_eq!(bill_duration(0.826), 100);
        assert_eq!(bill_duration(100.0), 100);
        assert_eq!(bill_duration(100.1), 200);
        assert_eq!(bill_duration(2999.0), 3000);
    }

    #[test]
    fn events() {
        assert_eq!(
            parse_event(None, ErrorCode::InvalidParameterValueParam, "Event", 10)
                .expect("default")
                .get(),
            "{}"
        );
        assert_eq!(
            parse_event(
                Some(" "),
                ErrorCode::InvalidParameterValueParam,
                "Event",
                10
            )
            .expect("default")
            .get(),
            "{}"
        );
        assert_eq!(
            parse_event(
                Some("{oops"),
                ErrorCode::InvalidParameterValueParam,
                "Event",
                10
            )
            .expect_err("bad")
            .code,
            ErrorCode::InvalidParameterValueParam
        );
        assert_eq!(
            parse_event(
                Some("[1,2,3,4,5,6]"),
                ErrorCode::InvalidParameterValueParam,
                "Event",
                10
            )
            .expect_err("big")
            .code,
            ErrorCode::InvalidParameterRequestTooLarge
        );
    }

    #[test]
    fn tails_respect_char_boundaries() {
        assert_eq!(tail("héllo", 3), "llo");
        assert_eq!(tail("hé", 1), "");
        assert_eq!(tail("abc", 10), "abc");
    }
}
