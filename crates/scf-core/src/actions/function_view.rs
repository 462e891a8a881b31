//! The API views of a stored function (ListFunctions' `Function`, GetFunction's answer), and the
//! input structures that several function actions share.

use crate::service::Service;
use scf_derive::Params;
use scf_store::FunctionRecord;
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Default, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    pub variables: Option<Vec<Variable>>,
}

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Variable {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The variables as `(key, value)` pairs, after the environment rules.
pub fn env_pairs(env: Environment) -> Result<Vec<(String, String)>, scf_types::ApiError> {
    let pairs: Vec<(String, String)> = env
        .variables
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.key.unwrap_or_default(), v.value.unwrap_or_default()))
        .collect();
    crate::rules::environment(&pairs)?;
    Ok(pairs)
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

fn reasons_json(f: &FunctionRecord) -> Value {
    Value::Array(
        f.status_reasons
            .iter()
            .map(|r| json!({"ErrorCode": r.error_code, "ErrorMessage": r.error_message}))
            .collect(),
    )
}

/// A `TRUE`/`FALSE` flag stored from the request, `FALSE` when never set.
fn flag(f: &FunctionRecord, name: &str) -> Value {
    f.extra.get(name).cloned().unwrap_or_else(|| json!("FALSE"))
}

/// ListFunctions' `Function` structure.
pub fn summary(svc: &Service, f: &FunctionRecord) -> Value {
    json!({
        "ModTime": svc.format_time(f.mod_time_ms),
        "AddTime": svc.format_time(f.add_time_ms),
        "Runtime": f.runtime,
        "FunctionName": f.key.name,
        "FunctionId": f.function_id,
        "Namespace": f.key.namespace,
        "Status": f.status,
        "StatusDesc": f.status_desc,
        "Description": f.description,
        "Tags": pairs_json(&f.tags),
        "Type": f.kind,
        "StatusReasons": reasons_json(f),
        "TotalProvisionedConcurrencyMem": 0,
        "ReservedConcurrencyMem": f.reserved_concurrency_mem,
        "AsyncRunEnable": flag(f, "AsyncRunEnable"),
        "TraceEnable": flag(f, "TraceEnable"),
    })
}

/// GetFunction's answer. Settings scfd stores without acting on them (VPC, CLS, CFS, ...) are
/// given back as they were set, with SCF's empty defaults otherwise.
pub fn detail(
    svc: &Service,
    f: &FunctionRecord,
    code_info: String,
    version: &str,
) -> Map<String, Value> {
    let extra = |name: &str, default: Value| f.extra.get(name).cloned().unwrap_or(default);
    let (code_result, code_error, err_no) = if f.status.is_failed() {
        ("failed", f.status_desc.clone(), 1)
    } else {
        ("success", String::new(), 0)
    };
    let value = json!({
        "ModTime": svc.format_time(f.mod_time_ms),
        "CodeInfo": code_info,
        "Description": f.description,
        "Triggers": [],
        "Handler": f.handler,
        "CodeSize": f.code_size,
        "Timeout": f.timeout,
        "FunctionVersion": version,
        "MemorySize": f.memory_size,
        "Runtime": f.runtime,
        "FunctionName": f.key.name,
        "VpcConfig": extra("VpcConfig", json!({"VpcId": "", "SubnetId": ""})),
        "UseGpu": "FALSE",
        "Environment": {"Variables": pairs_json(&f.environment)},
        "CodeResult": code_result,
        "CodeError": code_error,
        "ErrNo": err_no,
        "Namespace": f.key.namespace,
        "Role": extra("Role", json!("")),
        "InstallDependency": flag(f, "InstallDependency"),
        "Status": f.status,
        "StatusDesc": f.status_desc,
        "ClsLogsetId": extra("ClsLogsetId", json!("")),
        "ClsTopicId": extra("ClsTopicId", json!("")),
        "FunctionId": f.function_id,
        "Tags": pairs_json(&f.tags),
        "EipConfig": {"EipFixed": "FALSE", "Eips": []},
        "AccessInfo": {"Host": "", "Vip": ""},
        "Type": f.kind,
        "L5Enable": flag(f, "L5Enable"),
        "Layers": [],
        "DeadLetterConfig": extra("DeadLetterConfig", json!({"Type": "", "Name": "", "FilterType": ""})),
        "AddTime": svc.format_time(f.add_time_ms),
        "PublicNetConfig": public_net_config(f),
        "OnsEnable": "FALSE",
        "CfsConfig": extra("CfsConfig", json!({"CfsInsList": []})),
        "AvailableStatus": "Available",
        "Qualifier": version,
        "InitTimeout": f.init_timeout,
        "StatusReasons": reasons_json(f),
        "AsyncRunEnable": flag(f, "AsyncRunEnable"),
        "TraceEnable": flag(f, "TraceEnable"),
        "ImageConfig": Value::Null,
        "ProtocolType": extra("ProtocolType", Value::Null),
        "ProtocolParams": extra("ProtocolParams", Value::Null),
        "InstanceConcurrencyConfig": extra("InstanceConcurrencyConfig", Value::Null),
        "DnsCache": flag(f, "DnsCache"),
        "IntranetConfig": intranet_config(f),
    });
    match value {
        Value::Object(m) => m,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

/// `PublicNetConfig` as set (its two statuses), with SCF's defaults.
fn public_net_config(f: &FunctionRecord) -> Value {
    let set = f.extra.get("PublicNetConfig");
    let public_net = set
        .and_then(|p| p.get("PublicNetStatus"))
        .cloned()
        .unwrap_or_else(|| json!("ENABLE"));
    let eip_status = set
        .and_then(|p| p.pointer("/EipConfig/EipStatus"))
        .cloned()
        .unwrap_or_else(|| json!("DISABLE"));
    json!({"PublicNetStatus": public_net, "EipConfig": {"EipStatus": eip_status, "EipAddress": []}})
}

/// `IntranetConfig` as set (its `IpFixed`), `null` when it was not.
fn intranet_config(f: &FunctionRecord) -> Value {
    f.extra
        .get("IntranetConfig")
        .and_then(|c| c.get("IpFixed"))
        .map(|fixed| json!({"IpFixed": fixed, "IpAddress": []}))
        .unwrap_or(Value::Null)
}
