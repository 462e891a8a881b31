//! Structures that appear in the parameters of several actions (reference §6), each declared
//! once: its fields are both what deserializes and, through `#[derive(Deserialize, Params)]`, what the
//! gateway accepts (names, types, required).
//!
//! These are the structures scfd accepts and stores as sent without reading them (VPC, CFS,
//! CLS, dead-letter, layers until they are served, Git and image code sources, ...): declared
//! so that the schema knows their shape, and kept by the actions as JSON (`#[params(schema =
//! ...)]` on a `Value` or a flattened map), so their fields are never read (`allow(dead_code)`).
//! A structure an action reads lives in that action's module.

use scf_derive::Params;
use serde::Deserialize;

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct GitSettings {
    git_user_name: Option<String>,
    git_password: Option<String>,
    git_password_secret: Option<String>,
    git_branch: Option<String>,
    git_directory: Option<String>,
    git_commit_id: Option<String>,
    git_user_name_secret: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    image_type: String,
    image_uri: String,
    registry_id: Option<String>,
    entry_point: Option<String>,
    command: Option<String>,
    args: Option<String>,
    container_image_accelerate: Option<bool>,
    image_port: Option<i64>,
}

/// What CreateFunction and UpdateFunctionConfiguration accept and store as sent, without
/// acting on it (scfd runs everything locally): GetFunction shows it back.
#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct StoredConfig {
    vpc_config: Option<VpcConfig>,
    role: Option<String>,
    install_dependency: Option<String>,
    cls_logset_id: Option<String>,
    cls_topic_id: Option<String>,
    layers: Option<Vec<LayerVersionSimple>>,
    dead_letter_config: Option<DeadLetterConfig>,
    public_net_config: Option<PublicNetConfigIn>,
    cfs_config: Option<CfsConfig>,
    protocol_params: Option<ProtocolParams>,
    instance_concurrency_config: Option<InstanceConcurrencyConfig>,
    dns_cache: Option<String>,
    intranet_config: Option<IntranetConfigIn>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfig {
    vpc_id: Option<String>,
    subnet_id: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct LayerVersionSimple {
    layer_name: String,
    layer_version: i64,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    #[serde(rename = "Type")]
    kind: String,
    name: String,
    filter_type: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct PublicNetConfigIn {
    public_net_status: String,
    eip_config: Option<EipConfigIn>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct EipConfigIn {
    eip_status: String,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct CfsConfig {
    cfs_ins_list: Vec<CfsInsInfo>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct CfsInsInfo {
    user_id: String,
    user_group_id: String,
    cfs_id: String,
    mount_ins_id: String,
    local_mount_dir: String,
    remote_mount_dir: String,
    ip_address: Option<String>,
    mount_vpc_id: Option<String>,
    mount_subnet_id: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct ProtocolParams {
    #[serde(rename = "WSParams")]
    ws_params: Option<WsParams>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct WsParams {
    idle_time_out: Option<u64>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceConcurrencyConfig {
    dynamic_enabled: Option<String>,
    max_concurrency: Option<u64>,
    instance_isolation_enabled: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    mix_node_config: Option<Vec<MixNodeConfig>>,
    session_config: Option<SessionConfig>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct MixNodeConfig {
    node_spec: Option<String>,
    num: Option<u64>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct SessionConfig {
    session_source: Option<String>,
    session_name: Option<String>,
    maximum_concurrency_session_per_instance: Option<u64>,
    #[serde(rename = "MaximumTTLInSeconds")]
    maximum_ttl_in_seconds: Option<u64>,
    maximum_idle_time_in_seconds: Option<u64>,
    session_path: Option<String>,
    idle_timeout_strategy: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct IntranetConfigIn {
    ip_fixed: String,
}
