//! The records the store keeps. Times are Unix milliseconds; rendering them is the service's job.

use serde::{Deserialize, Serialize};

/// An account in a region: the first part of every key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    pub app_id: u64,
    pub region: String,
}

/// A namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRecord {
    pub name: String,
    pub description: String,
    /// `default` for namespaces made through the API (Tencent's `TCB` kind is never made here).
    pub kind: String,
    pub add_time_ms: i64,
    pub mod_time_ms: i64,
}

/// Names one function of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FunctionKey {
    pub scope: Scope,
    pub namespace: String,
    pub name: String,
}

/// Where a function is in its lifecycle (reference §6 `Status`). Stored and shown by these
/// names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FunctionStatus {
    /// Accepted; its package is being unpacked.
    Creating,
    CreateFailed,
    Active,
    /// New code accepted; its package is being unpacked.
    Updating,
    UpdateFailed,
}

impl FunctionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionStatus::Creating => "Creating",
            FunctionStatus::CreateFailed => "CreateFailed",
            FunctionStatus::Active => "Active",
            FunctionStatus::Updating => "Updating",
            FunctionStatus::UpdateFailed => "UpdateFailed",
        }
    }

    /// A failed state: its StatusDesc and StatusReasons say why.
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            FunctionStatus::CreateFailed | FunctionStatus::UpdateFailed
        )
    }
}

impl std::fmt::Display for FunctionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a function is in a failed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReason {
    pub error_code: String,
    pub error_message: String,
}

/// A function, as stored. The fields the service reads are typed; everything the API accepted
/// and scfd stores without acting on it (VpcConfig, Layers, CLS, ...) is kept in `extra` so that
/// GetFunction can give it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// Kept in the row's key columns, not in the stored document.
    #[serde(skip)]
    pub key: FunctionKey,
    pub function_id: String,
    pub runtime: String,
    pub handler: String,
    pub description: String,
    pub memory_size: i64,
    pub timeout: i64,
    pub init_timeout: i64,
    /// `Event` or `HTTP`.
    pub kind: String,
    pub environment: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// Hex SHA-256 of the zip, which names the stored package.
    pub code_sha256: String,
    pub code_size: u64,
    /// The package's bytes once unpacked (0 in records written before scfd kept it).
    #[serde(default)]
    pub unpacked_size: u64,
    pub status: FunctionStatus,
    pub status_desc: String,
    pub status_reasons: Vec<StatusReason>,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub add_time_ms: i64,
    pub mod_time_ms: i64,
    /// Counts the writes of this record: `update_function` writes only over the revision it
    /// was read at, so two read-modify-writes cannot undo each other.
    #[serde(default)]
    pub revision: u64,
    /// PutReservedConcurrencyConfig's memory, MB (`None`: no reservation).
    #[serde(default)]
    pub reserved_concurrency_mem: Option<u64>,
    /// UpdateFunctionEventInvokeConfig's settings (`None`: SCF's defaults).
    #[serde(default)]
    pub async_retry: Option<AsyncRetry>,
}

/// How a function's async events are retried (UpdateFunctionEventInvokeConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncRetry {
    /// Runs after a failed one: 0 to 2.
    pub retry_num: i64,
    /// How long an event may wait in the queue, seconds.
    pub msg_ttl_secs: i64,
}

impl FunctionRecord {
    /// Moves the settings that records written before they were typed kept in `extra`
    /// (`ReservedConcurrencyMem`, `AsyncTriggerConfig`) into their fields. The stores call it
    /// on every record they read.
    pub fn adopt_untyped_settings(&mut self) {
        if let Some(v) = self.extra.remove("ReservedConcurrencyMem") {
            self.reserved_concurrency_mem = self.reserved_concurrency_mem.or(v.as_u64());
        }
        if let Some(cfg) = self.extra.remove("AsyncTriggerConfig")
            && self.async_retry.is_none()
        {
            let retry_num = cfg
                .pointer("/RetryConfig/0/RetryNum")
                .and_then(serde_json::Value::as_i64);
            let msg_ttl_secs = cfg.get("MsgTTL").and_then(serde_json::Value::as_i64);
            if let (Some(retry_num), Some(msg_ttl_secs)) = (retry_num, msg_ttl_secs) {
                self.async_retry = Some(AsyncRetry {
                    retry_num,
                    msg_ttl_secs,
                });
            }
        }
    }
}

/// One invocation, from the moment it is accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    #[serde(skip)]
    pub function: FunctionKey,
    #[serde(skip)]
    pub request_id: String,
    /// The version that ran (`$LATEST` or a number).
    pub qualifier: String,
    /// Accepted with InvocationType `Event`.
    pub is_async: bool,
    /// Running, succeeded, or failed and why. Stored as SCF's RetCode in a column of its own
    /// (indexed: the running ones are looked up) and the kind in the document's `error_kind`.
    #[serde(rename = "error_kind", default, with = "outcome_in_doc")]
    pub outcome: RequestOutcome,
    pub ret_msg: String,
    pub err_msg: String,
    pub duration_ms: f64,
    pub mem_usage_bytes: u64,
    pub retry_num: i64,
    #[serde(skip)]
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// stdout and stderr with SCF's START / END / Report lines, capped.
    pub log: String,
    pub cold_start: bool,
    pub init_duration_ms: f64,
    /// The node that accepted it (a restarted node fails only its own sync requests).
    #[serde(default)]
    pub node: String,
}

impl RequestRecord {
    /// A record for a request that has just been accepted.
    pub fn accepted(
        function: FunctionKey,
        request_id: String,
        qualifier: String,
        is_async: bool,
        now_ms: i64,
    ) -> Self {
        RequestRecord {
            function,
            request_id,
            qualifier,
            is_async,
            outcome: RequestOutcome::Running,
            ret_msg: String::new(),
            err_msg: String::new(),
            duration_ms: 0.0,
            mem_usage_bytes: 0,
            retry_num: 0,
            start_ms: now_ms,
            end_ms: None,
            log: String::new(),
            cold_start: false,
            init_duration_ms: 0.0,
            node: String::new(),
        }
    }

    /// Ends the request as failed by the platform (not by its code) with `message`, as every
    /// failure outside the function's own run is recorded: a restart, a lost node, a refused
    /// start, an abort, an expired event.
    pub fn fail(&mut self, message: &str, now_ms: i64) {
        self.outcome = RequestOutcome::Failed(ErrorKind::PlatformError);
        self.ret_msg = message.to_string();
        self.err_msg = message.to_string();
        self.end_ms = Some(now_ms);
    }
}

/// Where a request stands: SCF's RequestStatus RetCode (1 running, 0 succeeded, -1 failed), and
/// for a failure, why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RequestOutcome {
    #[default]
    Running,
    Succeeded,
    Failed(ErrorKind),
}

impl RequestOutcome {
    /// SCF's RetCode.
    pub fn ret_code(self) -> i64 {
        match self {
            RequestOutcome::Running => 1,
            RequestOutcome::Succeeded => 0,
            RequestOutcome::Failed(_) => -1,
        }
    }

    pub fn is_running(self) -> bool {
        self == RequestOutcome::Running
    }

    /// The outcome a stored record's RetCode column says, with the kind its document carried
    /// (read into `self` by the document's `error_kind`).
    pub fn with_ret_code(self, ret_code: i64) -> Self {
        match (ret_code, self) {
            (1, _) => RequestOutcome::Running,
            (0, _) => RequestOutcome::Succeeded,
            (_, RequestOutcome::Failed(kind)) => RequestOutcome::Failed(kind),
            _ => RequestOutcome::Failed(ErrorKind::Unstated),
        }
    }
}

/// The document's `error_kind`: the kind of a failure, `""` otherwise (the RetCode column says
/// which). Read back as `Failed(kind)` or `Running`, which [`RequestOutcome::with_ret_code`]
/// settles once the column is read.
mod outcome_in_doc {
    use super::{ErrorKind, RequestOutcome};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(o: &RequestOutcome, s: S) -> Result<S::Ok, S::Error> {
        match o {
            RequestOutcome::Failed(kind) => kind.serialize(s),
            _ => ErrorKind::Unstated.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RequestOutcome, D::Error> {
        Ok(match ErrorKind::deserialize(d)? {
            ErrorKind::Unstated => RequestOutcome::Running,
            kind => RequestOutcome::Failed(kind),
        })
    }
}

/// Why a request failed, by GetFunctionLogs' RetCode filter names (reference §5). Stored by
/// these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// A failure whose record does not say why (written before scfd stored the kind); stored as
    /// the empty string, which is also what a record that did not fail carries.
    #[serde(rename = "")]
    Unstated,
    /// The function raised, or its process ended with an error.
    UserCodeException,
    /// It ran past its Timeout.
    TimeLimitExceeded,
    /// It went over its MemorySize.
    ResourceLimitExceeded,
    /// The platform failed it (see [`RequestRecord::fail`]).
    PlatformError,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unstated => "",
            ErrorKind::UserCodeException => "UserCodeException",
            ErrorKind::TimeLimitExceeded => "TimeLimitExceeded",
            ErrorKind::ResourceLimitExceeded => "ResourceLimitExceeded",
            ErrorKind::PlatformError => "PlatformError",
        }
    }
}

/// Where an async event is in its life. `Queued` is shown as `RUNNING` by the API (SCF has no
/// separate waiting state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AsyncStatus {
    Queued,
    Running,
    Finished,
    Failed,
    Aborted,
}

impl AsyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AsyncStatus::Queued => "QUEUED",
            AsyncStatus::Running => "RUNNING",
            AsyncStatus::Finished => "FINISHED",
            AsyncStatus::Failed => "FAILED",
            AsyncStatus::Aborted => "ABORTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "QUEUED" => AsyncStatus::Queued,
            "RUNNING" => AsyncStatus::Running,
            "FINISHED" => AsyncStatus::Finished,
            "FAILED" => AsyncStatus::Failed,
            "ABORTED" => AsyncStatus::Aborted,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            AsyncStatus::Finished | AsyncStatus::Failed | AsyncStatus::Aborted
        )
    }
}

/// An accepted async invocation: what to run and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsyncEventRecord {
    #[serde(skip)]
    pub function: FunctionKey,
    #[serde(skip)]
    pub request_id: String,
    pub qualifier: String,
    /// SCF's InvokeType; API calls are `OTHERS`.
    pub invoke_type: String,
    #[serde(skip, default = "queued")]
    pub status: AsyncStatus,
    /// The event, as JSON text.
    pub payload: String,
    /// Runs started so far (the first run and its retries).
    pub attempts: i64,
    /// Retries allowed after a failed run.
    pub max_retries: i64,
    #[serde(skip)]
    pub next_run_ms: i64,
    /// After this, an event that has not run yet fails as expired (MsgTTL).
    pub expires_ms: i64,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// The node whose lease covers the current run (while `Running`); a run's outcome is
    /// written only under its own lease.
    #[serde(default)]
    pub lease_owner: String,
    /// Names the current claim: set anew at every claim, it must match for the run's lease
    /// renewals and outcome to count. A node that lost its lease (its renewals failed for a
    /// whole lease) and whose event was claimed again, even by itself, writes nothing more.
    #[serde(default)]
    pub lease_token: String,
    /// Claimed again after its lease ran out (its node died mid-run): the same attempt runs
    /// again, rather than a new one.
    #[serde(skip)]
    pub resumed: bool,
}

fn queued() -> AsyncStatus {
    AsyncStatus::Queued
}

/// A published version: an immutable snapshot of the function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: String,
    pub description: String,
    pub add_time_ms: i64,
    pub function: FunctionRecord,
}
