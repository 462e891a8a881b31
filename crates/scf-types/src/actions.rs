//! The parameter schema of every action scfd serves, and the names of all 52 SCF actions.
//!
//! Field lists follow the SDK models (reference §5 and §6) exactly, including the fields scfd
//! accepts but cannot act on (VPC, CLS, CFS...): a request that the real service accepts must not
//! fail here with `UnknownParameter`.

use crate::schema::{Field, Ty, opt, req};

/// The API version scfd speaks.
pub const VERSION: &str = "2018-04-16";
/// The service name in the TC3 credential scope.
pub const SERVICE: &str = "scf";

/// All 52 actions of `ScfClient` (reference §4). Those without a schema below are answered with
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

const S: Ty = Ty::Str;
const I: Ty = Ty::Int;
const U: Ty = Ty::Uint;

pub const IMAGE_CONFIG: &[Field] = &[
    req("ImageType", S),
    req("ImageUri", S),
    opt("RegistryId", S),
    opt("EntryPoint", S),
    opt("Command", S),
    opt("Args", S),
    opt("ContainerImageAccelerate", Ty::Bool),
    opt("ImagePort", I),
];

pub const CODE: &[Field] = &[
    opt("CosBucketName", S),
    opt("CosObjectName", S),
    opt("ZipFile", S),
    opt("CosBucketRegion", S),
    opt("DemoId", S),
    opt("TempCosObjectName", S),
    opt("GitUrl", S),
    opt("GitUserName", S),
    opt("GitPassword", S),
    opt("GitPasswordSecret", S),
    opt("GitBranch", S),
    opt("GitDirectory", S),
    opt("GitCommitId", S),
    opt("GitUserNameSecret", S),
    opt("ImageConfig", Ty::Obj(IMAGE_CONFIG)),
];

pub const VARIABLE: &[Field] = &[opt("Key", S), opt("Value", S)];
pub const ENVIRONMENT: &[Field] = &[opt("Variables", Ty::List(&Ty::Obj(VARIABLE)))];
pub const VPC_CONFIG: &[Field] = &[opt("VpcId", S), opt("SubnetId", S)];
pub const LAYER_VERSION_SIMPLE: &[Field] = &[req("LayerName", S), req("LayerVersion", I)];
pub const DEAD_LETTER_CONFIG: &[Field] = &[req("Type", S), req("Name", S), opt("FilterType", S)];
pub const PUBLIC_NET_CONFIG_IN: &[Field] = &[
    req("PublicNetStatus", S),
    opt("EipConfig", Ty::Obj(&[req("EipStatus", S)])),
];
pub const CFS_INS_INFO: &[Field] = &[
    req("UserId", S),
    req("UserGroupId", S),
    req("CfsId", S),
    req("MountInsId", S),
    req("LocalMountDir", S),
    req("RemoteMountDir", S),
    opt("IpAddress", S),
    opt("MountVpcId", S),
    opt("MountSubnetId", S),
];
pub const CFS_CONFIG: &[Field] = &[req("CfsInsList", Ty::List(&Ty::Obj(CFS_INS_INFO)))];
pub const TAG: &[Field] = &[req("Key", S), req("Value", S)];
pub const PROTOCOL_PARAMS: &[Field] = &[opt("WSParams", Ty::Obj(&[opt("IdleTimeOut", U)]))];
pub const INSTANCE_CONCURRENCY_CONFIG: &[Field] = &[
    opt("DynamicEnabled", S),
    opt("MaxConcurrency", U),
    opt("InstanceIsolationEnabled", S),
    opt("Type", S),
    opt(
        "MixNodeConfig",
        Ty::List(&Ty::Obj(&[opt("NodeSpec", S), opt("Num", U)])),
    ),
    opt(
        "SessionConfig",
        Ty::Obj(&[
            opt("SessionSource", S),
            opt("SessionName", S),
            opt("MaximumConcurrencySessionPerInstance", U),
            opt("MaximumTTLInSeconds", U),
            opt("MaximumIdleTimeInSeconds", U),
            opt("SessionPath", S),
            opt("IdleTimeoutStrategy", S),
        ]),
    ),
];
pub const INTRANET_CONFIG_IN: &[Field] = &[req("IpFixed", S)];
pub const FILTER: &[Field] = &[req("Name", S), req("Values", Ty::List(&S))];
pub const SEARCH_KEY: &[Field] = &[req("Key", S), req("Value", S)];
pub const NAMESPACE_RESOURCE_ENV: &[Field] = &[opt("TKE", Ty::Any), opt("OFFLINE", Ty::Bool)];

pub const CREATE_NAMESPACE: &[Field] = &[
    req("Namespace", S),
    opt("Description", S),
    opt("ResourceEnv", Ty::Obj(NAMESPACE_RESOURCE_ENV)),
];
pub const LIST_NAMESPACES: &[Field] = &[
    opt("Limit", I),
    opt("Offset", I),
    opt("Orderby", S),
    opt("Order", S),
    opt("SearchKey", Ty::List(&Ty::Obj(SEARCH_KEY))),
];
pub const UPDATE_NAMESPACE: &[Field] = &[req("Namespace", S), req("Description", S)];
pub const DELETE_NAMESPACE: &[Field] = &[req("Namespace", S)];

pub const CREATE_FUNCTION: &[Field] = &[
    req("FunctionName", S),
    req("Code", Ty::Obj(CODE)),
    opt("Handler", S),
    opt("Description", S),
    opt("MemorySize", I),
    opt("Timeout", I),
    opt("Environment", Ty::Obj(ENVIRONMENT)),
    opt("Runtime", S),
    opt("VpcConfig", Ty::Obj(VPC_CONFIG)),
    opt("Namespace", S),
    opt("Role", S),
    opt("InstallDependency", S),
    opt("ClsLogsetId", S),
    opt("ClsTopicId", S),
    opt("Type", S),
    opt("CodeSource", S),
    opt("Layers", Ty::List(&Ty::Obj(LAYER_VERSION_SIMPLE))),
    opt("DeadLetterConfig", Ty::Obj(DEAD_LETTER_CONFIG)),
    opt("PublicNetConfig", Ty::Obj(PUBLIC_NET_CONFIG_IN)),
    opt("CfsConfig", Ty::Obj(CFS_CONFIG)),
    opt("InitTimeout", I),
    opt("Tags", Ty::List(&Ty::Obj(TAG))),
    opt("AsyncRunEnable", S),
    opt("TraceEnable", S),
    opt("AutoDeployClsTopicIndex", S),
    opt("AutoCreateClsTopic", S),
    opt("ProtocolType", S),
    opt("ProtocolParams", Ty::Obj(PROTOCOL_PARAMS)),
    opt(
        "InstanceConcurrencyConfig",
        Ty::Obj(INSTANCE_CONCURRENCY_CONFIG),
    ),
    opt("DnsCache", S),
    opt("IntranetConfig", Ty::Obj(INTRANET_CONFIG_IN)),
];
pub const GET_FUNCTION: &[Field] = &[
    opt("FunctionName", S),
    opt("Qualifier", S),
    opt("Namespace", S),
    opt("ShowCode", S),
];
pub const LIST_FUNCTIONS: &[Field] = &[
    opt("Order", S),
    opt("Orderby", S),
    opt("Offset", I),
    opt("Limit", I),
    opt("SearchKey", S),
    opt("Namespace", S),
    opt("Description", S),
    opt("Filters", Ty::List(&Ty::Obj(FILTER))),
];
pub const UPDATE_FUNCTION_CODE: &[Field] = &[
    req("FunctionName", S),
    opt("Handler", S),
    opt("CosBucketName", S),
    opt("CosObjectName", S),
    opt("ZipFile", S),
    opt("Namespace", S),
    opt("CosBucketRegion", S),
    opt("InstallDependency", S),
    opt("EnvId", S),
    opt("Publish", S),
    opt("Code", Ty::Obj(CODE)),
    opt("CodeSource", S),
];
pub const UPDATE_FUNCTION_CONFIGURATION: &[Field] = &[
    req("FunctionName", S),
    opt("Description", S),
    opt("MemorySize", I),
    opt("Timeout", I),
    opt("Runtime", S),
    opt("Environment", Ty::Obj(ENVIRONMENT)),
    opt("Namespace", S),
    opt("VpcConfig", Ty::Obj(VPC_CONFIG)),
    opt("Role", S),
    opt("InstallDependency", S),
    opt("ClsLogsetId", S),
    opt("ClsTopicId", S),
    opt("Publish", S),
    opt("L5Enable", S),
    opt("Layers", Ty::List(&Ty::Obj(LAYER_VERSION_SIMPLE))),
    opt("DeadLetterConfig", Ty::Obj(DEAD_LETTER_CONFIG)),
    opt("PublicNetConfig", Ty::Obj(PUBLIC_NET_CONFIG_IN)),
    opt("CfsConfig", Ty::Obj(CFS_CONFIG)),
    opt("InitTimeout", I),
    opt("ProtocolParams", Ty::Obj(PROTOCOL_PARAMS)),
    opt(
        "InstanceConcurrencyConfig",
        Ty::Obj(INSTANCE_CONCURRENCY_CONFIG),
    ),
    opt("DnsCache", S),
    opt("IntranetConfig", Ty::Obj(INTRANET_CONFIG_IN)),
    opt("IgnoreSysLog", Ty::Bool),
];
pub const DELETE_FUNCTION: &[Field] = &[
    req("FunctionName", S),
    opt("Namespace", S),
    opt("Qualifier", S),
];
pub const GET_FUNCTION_ADDRESS: &[Field] = &[
    req("FunctionName", S),
    opt("Qualifier", S),
    opt("Namespace", S),
];
pub const GET_ACCOUNT: &[Field] = &[];

pub const INVOKE: &[Field] = &[
    req("FunctionName", S),
    opt("InvocationType", S),
    opt("Qualifier", S),
    opt("ClientContext", S),
    opt("LogType", S),
    opt("Namespace", S),
    opt("RoutingKey", S),
];
pub const INVOKE_FUNCTION: &[Field] = &[
    req("FunctionName", S),
    opt("Qualifier", S),
    opt("Event", S),
    opt("LogType", S),
    opt("Namespace", S),
    opt("RoutingKey", S),
];
pub const GET_REQUEST_STATUS: &[Field] = &[
    req("FunctionName", S),
    req("FunctionRequestId", S),
    opt("Namespace", S),
    opt("StartTime", S),
    opt("EndTime", S),
];
pub const LOG_FILTER: &[Field] = &[opt("RetCode", S)];
pub const LOG_SEARCH_CONTEXT: &[Field] = &[
    req("Offset", S),
    req("Limit", U),
    opt("Keyword", S),
    opt("Type", S),
];
pub const GET_FUNCTION_LOGS: &[Field] = &[
    opt("FunctionName", S),
    opt("Offset", I),
    opt("Limit", I),
    opt("Order", S),
    opt("OrderBy", S),
    opt("Filter", Ty::Obj(LOG_FILTER)),
    opt("Namespace", S),
    opt("Qualifier", S),
    opt("FunctionRequestId", S),
    opt("StartTime", S),
    opt("EndTime", S),
    opt("SearchContext", Ty::Obj(LOG_SEARCH_CONTEXT)),
];
pub const PUBLISH_VERSION: &[Field] = &[
    req("FunctionName", S),
    opt("Description", S),
    opt("Namespace", S),
];
pub const LIST_VERSION_BY_FUNCTION: &[Field] = &[
    req("FunctionName", S),
    opt("Namespace", S),
    opt("Offset", U),
    opt("Limit", U),
    opt("Order", S),
    opt("OrderBy", S),
];
pub const PUT_RESERVED_CONCURRENCY_CONFIG: &[Field] = &[
    req("FunctionName", S),
    req("ReservedConcurrencyMem", U),
    opt("Namespace", S),
];
pub const FUNCTION_IN_NAMESPACE: &[Field] = &[req("FunctionName", S), opt("Namespace", S)];
pub const RETRY_CONFIG: &[Field] = &[req("RetryNum", I)];
pub const ASYNC_TRIGGER_CONFIG: &[Field] = &[
    req("RetryConfig", Ty::List(&Ty::Obj(RETRY_CONFIG))),
    req("MsgTTL", I),
];
pub const UPDATE_FUNCTION_EVENT_INVOKE_CONFIG: &[Field] = &[
    req("AsyncTriggerConfig", Ty::Obj(ASYNC_TRIGGER_CONFIG)),
    req("FunctionName", S),
    opt("Namespace", S),
];
pub const GET_FUNCTION_EVENT_INVOKE_CONFIG: &[Field] = &[
    req("FunctionName", S),
    opt("Namespace", S),
    opt("Qualifier", S),
];
pub const GET_ASYNC_EVENT_STATUS: &[Field] = &[req("InvokeRequestId", S)];
pub const TIME_INTERVAL: &[Field] = &[req("Start", S), req("End", S)];
pub const LIST_ASYNC_EVENTS: &[Field] = &[
    req("FunctionName", S),
    opt("Namespace", S),
    opt("Qualifier", S),
    opt("InvokeType", Ty::List(&S)),
    opt("Status", Ty::List(&S)),
    opt("StartTimeInterval", Ty::Obj(TIME_INTERVAL)),
    opt("EndTimeInterval", Ty::Obj(TIME_INTERVAL)),
    opt("Order", S),
    opt("Orderby", S),
    opt("Offset", I),
    opt("Limit", I),
    opt("InvokeRequestId", S),
];
pub const TERMINATE_ASYNC_EVENT: &[Field] = &[
    req("FunctionName", S),
    req("InvokeRequestId", S),
    opt("Namespace", S),
    opt("GraceShutdown", Ty::Bool),
];

/// The schema of an action scfd serves, by its wire name.
pub fn schema(action: &str) -> Option<&'static [Field]> {
    Some(match action {
        "CreateNamespace" => CREATE_NAMESPACE,
        "ListNamespaces" => LIST_NAMESPACES,
        "UpdateNamespace" => UPDATE_NAMESPACE,
        "DeleteNamespace" => DELETE_NAMESPACE,
        "CreateFunction" => CREATE_FUNCTION,
        "GetFunction" => GET_FUNCTION,
        "ListFunctions" => LIST_FUNCTIONS,
        "UpdateFunctionCode" => UPDATE_FUNCTION_CODE,
        "UpdateFunctionConfiguration" => UPDATE_FUNCTION_CONFIGURATION,
        "DeleteFunction" => DELETE_FUNCTION,
        "GetFunctionAddress" => GET_FUNCTION_ADDRESS,
        "GetAccount" => GET_ACCOUNT,
        "Invoke" => INVOKE,
        "InvokeFunction" => INVOKE_FUNCTION,
        "GetRequestStatus" => GET_REQUEST_STATUS,
        "GetFunctionLogs" => GET_FUNCTION_LOGS,
        "PublishVersion" => PUBLISH_VERSION,
        "ListVersionByFunction" => LIST_VERSION_BY_FUNCTION,
        "PutReservedConcurrencyConfig" => PUT_RESERVED_CONCURRENCY_CONFIG,
        "GetReservedConcurrencyConfig" | "DeleteReservedConcurrencyConfig" => FUNCTION_IN_NAMESPACE,
        "UpdateFunctionEventInvokeConfig" => UPDATE_FUNCTION_EVENT_INVOKE_CONFIG,
        "GetFunctionEventInvokeConfig" => GET_FUNCTION_EVENT_INVOKE_CONFIG,
        "GetAsyncEventStatus" => GET_ASYNC_EVENT_STATUS,
        "ListAsyncEvents" => LIST_ASYNC_EVENTS,
        "TerminateAsyncEvent" => TERMINATE_ASYNC_EVENT,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_action_is_an_scf_action() {
        assert_eq!(SCF_ACTIONS.len(), 52);
        let served: Vec<&str> = SCF_ACTIONS
            .iter()
            .copied()
            .filter(|a| schema(a).is_some())
            .collect();
        assert_eq!(served.len(), 26, "{served:?}");
    }
}
