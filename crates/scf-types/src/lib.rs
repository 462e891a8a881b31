//! scf-types: the wire contract of Tencent Cloud SCF API 3.0 (`scf`, `2018-04-16`), pure and
//! without I/O, shared by the server and (later) the client commands.
//!
//! # Layout
//! * [`sign`]: TC3-HMAC-SHA256 and legacy v1 (HmacSHA1/HmacSHA256) signing and verifying.
//! * [`error`]: the one table of Tencent error codes scfd answers with, checked against
//!   Tencent's published list.
//! * [`envelope`]: the `{"Response": ...}` body for success and failure.
//! * [`schema`]: parameter types; checking JSON bodies and rebuilding flattened
//!   (`Filters.0.Values.1=`) parameters into the nested, typed shape.
//! * [`choices`]: InvocationType, LogType, Order: closed string sets as enums checked by the
//!   schema with their own codes.
//! * [`time`]: SCF's `YYYY-MM-DD HH:MM:SS` strings at a fixed offset.
//! * [`actions`]: the names of all SCF actions (the parameters of those scfd serves are
//!   declared by their request types in scf-core, see `scf_core::Action::schema`).

pub mod actions;
pub mod choices;
pub mod envelope;
pub mod error;
pub mod schema;
pub mod sign;
pub mod time;

pub use error::{ApiError, ErrorCode};
