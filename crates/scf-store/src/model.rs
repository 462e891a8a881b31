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
    pub status: String,
    pub status_desc: String,
    pub status_reasons: Vec<StatusReason>,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub add_time_ms: i64,
    pub mod_time_ms: i64,
}
