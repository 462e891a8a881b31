//! Why the launcher stopped before PROGRAM took over, and with which exit code.

/// Any setup step failed (bad option, cgroup, namespace, mount, credentials).
pub const SETUP_FAILED: i32 = 125;
/// PROGRAM exists but could not be executed (permissions, bad format).
pub const CANNOT_EXECUTE: i32 = 126;
/// PROGRAM was not found.
pub const NOT_FOUND: i32 = 127;

/// A message for stderr plus the exit code the server will see.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn setup(message: impl Into<String>) -> Self {
        Failure {
            code: SETUP_FAILED,
            message: message.into(),
        }
    }

    /// Prints `scf-sandbox: MESSAGE` on stderr (never stdout: that is the
    /// instance's channel to the server) and returns the exit code.
    pub fn report(&self) -> i32 {
        eprintln!("scf-sandbox: {}", self.message);
        self.code
    }
}

/// `result.context(|| "what we were doing")?` turns any displayable error into
/// a setup failure that says which step broke.
pub trait Context<T> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, Failure>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, Failure> {
        self.map_err(|e| Failure::setup(format!("{}: {e}", what().into())))
    }
}
