//! The names of all 52 SCF actions, the API version and the service name.
//!
//! The parameters of each action scfd serves are declared by its request type in scf-core
//! (`scf_core::Action::schema`), following the SDK models (reference §5 and §6) exactly,
//! including the fields scfd accepts but cannot act on (VPC, CLS, CFS...): a request that the
//! real service accepts must not fail with `UnknownParameter`.

/// The API version scfd speaks.
pub const VERSION: &str = "2018-04-16";
/// The service name in the TC3 credential scope.
pub const SERVICE: &str = "scf";

/// All 52 actions of `ScfClient` (reference §4). Those scfd does not serve are answered with
/// `UnsupportedOperation`; any other name is `InvalidAction`.
pub const SCF_ACTIONS: &[&str] = &[
    "CopyFunction",
    "CreateAlias",
    "CreateCustomDomain",
    "CreateFunction",
    "CreateNamespace",
    "CreateTrigger",
    "DeleteAlias",
    "DeleteCustomDomain",
    "DeleteFunction",
    "DeleteFunctionVersion",
    "DeleteLayerVersion",
    "DeleteNamespace",
    "DeleteProvisionedConcurrencyConfig",
    "DeleteReservedConcurrencyConfig",
    "DeleteTrigger",
    "GetAccount",
    "GetAlias",
    "GetAsyncEventStatus",
    "GetCustomDomain",
    "GetFunction",
    "GetFunctionAddress",
    "GetFunctionEventInvokeConfig",
    "GetFunctionLogs",
    "GetLayerVersion",
    "GetProvisionedConcurrencyConfig",
    "GetRequestStatus",
    "GetReservedConcurrencyConfig",
    "Invoke",
    "InvokeFunction",
    "ListAliases",
    "ListAsyncEvents",
    "ListCustomDomains",
    "ListFunctions",
    "ListLayerVersions",
    "ListLayers",
    "ListNamespaces",
    "ListTriggers",
    "ListVersionByFunction",
    "PublishLayerVersion",
    "PublishVersion",
    "PutProvisionedConcurrencyConfig",
    "PutReservedConcurrencyConfig",
    "PutTotalConcurrencyConfig",
    "TerminateAsyncEvent",
    "UpdateAlias",
    "UpdateCustomDomain",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "UpdateFunctionEventInvokeConfig",
    "UpdateNamespace",
    "UpdateTrigger",
    "UpdateTriggerStatus",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scf_action_once() {
        assert_eq!(SCF_ACTIONS.len(), 52);
        let mut sorted = SCF_ACTIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 52);
    }
}
