//! scf-core: the scfd service. The gateway turns a verified request into a typed [`Action`];
//! [`Service::apply`] runs it for a [`Caller`] and returns the response fields. Handlers never
//! touch the store directly.
//!
//! # Layout
//! * [`action`]: the one `Action` enum, built from an action name and checked parameters.
//! * `actions/`: one module per action (request struct, checks, answer), plus the views and
//!   paging rules they share.
//! * [`clock`]: the wall clock records carry, and the steady and settled clocks that
//!   schedules and ages are decided on, so a jump of the system clock loses nothing.
//! * [`service`]: the service itself, its settings and limits, the caller.
//! * [`rules`]: SCF's validation rules for names and settings, each with its exact code.
//! * [`zip_guard`]: refusing unsafe packages (escapes, bombs, oversize) before anything is
//!   written, and unpacking accepted ones.
//! * [`packages`]: content-addressed package storage in the data dir.
//! * `journal`: outcomes held through a store outage, on disk until the store takes them.
//! * [`invocation`]: running functions through the engine: request records, the sync path, the
//!   durable async queue and its dispatcher, retries, recovery after a restart.
//!
//! # Function lifecycle
//! CreateFunction checks everything first (nothing is written for a refused request), writes the
//! zip durably, records the function as `Creating` and answers; a background task unpacks the
//! package and moves it to `Active` (or `CreateFailed` with a StatusReason). UpdateFunctionCode
//! goes through `Updating` the same way. A restart resumes every unfinished unpacking, because
//! the zip was on disk before the answer.

#![recursion_limit = "256"]

pub mod action;
pub mod actions;
pub mod clock;
pub mod invocation;
mod journal;
mod log_budget;
pub mod packages;
pub mod rules;
mod running;
pub mod service;
pub mod zip_guard;

pub use action::Action;
pub use service::{Caller, Limits, Service, Settings};
