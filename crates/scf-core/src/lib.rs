//! scf-core: the scfd service. The gateway turns a verified request into a typed [`Action`];
//! [`Action::apply`] runs it on the [`Service`] for a [`Caller`] and returns the response
//! fields.
//!
//! # Layout
//! Modules depend downwards in this list, never back up (`scripts/module_cycles.py`, run by
//! CI, finds any import circle):
//! * [`actions`]: the one list of served actions, the `Action` enum and schema table derived
//!   from it, and one module per action (request type = schema, checks, answer), plus the views
//!   and paging rules they share.
//! * [`background`]: what a node runs beside the API, and what a restart finishes first.
//! * [`links`]: signed code-download links (GetFunctionAddress) and the download.
//! * [`invocation`]: running functions through the engine: request records, the sync path, the
//!   durable async queue and its dispatcher, retries, recovery after a restart.
//! * `lookup`: the caller's function, a Qualifier's version, and their not-found answers.
//! * [`clock`]: the wall clock records carry, and the steady and settled clocks that
//!   schedules and ages are decided on, so a jump of the system clock loses nothing.
//! * [`service`]: the service itself, its settings and limits, the caller, the namespace
//!   default.
//! * [`rules`]: SCF's validation rules for names and settings, each with its exact code.
//! * [`zip_guard`]: refusing unsafe packages (escapes, bombs, oversize) before anything is
//!   written, and unpacking accepted ones.
//! * [`packages`]: content-addressed package storage in the data dir.
//! * `journal`: outcomes held through a store outage, on disk until the store takes them.
//!
//! # Function lifecycle
//! CreateFunction checks everything first (nothing is written for a refused request), writes the
//! zip durably, records the function as `Creating` and answers; a background task unpacks the
//! package and moves it to `Active` (or `CreateFailed` with a StatusReason). UpdateFunctionCode
//! goes through `Updating` the same way. A restart resumes every unfinished unpacking, because
//! the zip was on disk before the answer.

#![recursion_limit = "256"]

pub mod actions;
pub mod background;
pub mod clock;
pub mod invocation;
mod journal;
pub mod links;
mod log_budget;
mod lookup;
pub mod packages;
pub mod rules;
mod running;
pub mod service;
pub mod zip_guard;

pub use actions::Action;

/// Locks `m`, also after a panic in another holder: every mutex of the core guards plain data
/// (maps, counters) that a panic cannot leave half-written in a way that matters, and a poisoned
/// lock must not take the server down with it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
pub use service::{Caller, Limits, Service, Settings};
