//! ListFunctions: the caller's functions, searched, filtered, sorted and paged.

use super::function_view;
use super::paging;
use crate::service::{Caller, DEFAULT_NAMESPACE, Service};
use scf_derive::Params;
use scf_types::choices::Order;
use scf_store::FunctionRecord;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub order: Option<Order>,
    pub orderby: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    pub search_key: Option<String>,
    pub namespace: Option<String>,
    pub description: Option<String>,
    pub filters: Option<Vec<Filter>>,
}

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// SCF's caps on Filters (reference §6 Filter).
const MAX_FILTERS: usize = 10;
const MAX_FILTER_VALUES: usize = 20;
/// Filter names that take one value only.
const SINGLE_VALUE: &[&str] = &[
    "VpcId",
    "SubnetId",
    "ClsTopicId",
    "ClsLogsetId",
    "Role",
    "CfsId",
    "CfsMountInsId",
    "Eip",
];

/// Filter names SCF documents (reference §5 ListFunctions), besides `tag-<key>`.
const FILTER_NAMES: &[&str] = &[
    "Status",
    "Runtime",
    "Type",
    "FunctionType",
    "VpcId",
    "SubnetId",
    "ClsTopicId",
    "ClsLogsetId",
    "Role",
    "PublicNetStatus",
    "AsyncRunEnable",
    "TraceEnable",
    "CfsId",
    "CfsMountInsId",
    "Eip",
    "Stamp",
];

fn known_filter(name: &str) -> bool {
    FILTER_NAMES.contains(&name) || name.strip_prefix("tag-").is_some_and(|k| !k.is_empty())
}

/// The string at `path` inside the stored extra settings.
fn extra_at<'a>(extra: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    let mut v = extra.get(*first)?;
    for p in rest {
        v = v.get(*p)?;
    }
    v.as_str()
}

/// The values a function has for a (known) filter name.
fn filter_values(f: &FunctionRecord, name: &str) -> Vec<String> {
    let extra_str =
        |path: &[&str], default: &str| extra_at(&f.extra, path).unwrap_or(default).to_string();
    let cfs = |field: &str| -> Vec<String> {
        f.extra
            .get("CfsConfig")
            .and_then(|c| c.get("CfsInsList"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|i| i.get(field)?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    match name {
        "Status" => vec![f.status.to_string()],
        "Runtime" => vec![f.runtime.clone()],
        "Type" | "FunctionType" => vec![f.kind.clone()],
        "VpcId" => vec![extra_str(&["VpcConfig", "VpcId"], "")],
        "SubnetId" => vec![extra_str(&["VpcConfig", "SubnetId"], "")],
        "ClsTopicId" => vec![extra_str(&["ClsTopicId"], "")],
        "ClsLogsetId" => vec![extra_str(&["ClsLogsetId"], "")],
        "Role" => vec![extra_str(&["Role"], "")],
        "PublicNetStatus" => vec![extra_str(&["PublicNetConfig", "PublicNetStatus"], "ENABLE")],
        "AsyncRunEnable" => vec![extra_str(&["AsyncRunEnable"], "FALSE")],
        "TraceEnable" => vec![extra_str(&["TraceEnable"], "FALSE")],
        "CfsId" => cfs("CfsId"),
        "CfsMountInsId" => cfs("MountInsId"),
        "Eip" | "Stamp" => vec![],
        tag if tag.starts_with("tag-") => {
            let key = &tag[4..];
            f.tags
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .collect()
        }
        _ => vec![],
    }
}

fn filters_error(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterValueFilters, message)
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let (offset, limit) = paging::page(req.offset, req.limit)?;
    let orderby = req.orderby.as_deref().filter(|o| !o.is_empty());
    if let Some(o) = orderby
        && !["AddTime", "ModTime", "FunctionName"].contains(&o)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueOrderBy,
            format!("Orderby `{o}` is invalid: use AddTime, ModTime or FunctionName."),
        ));
    }
    // With no Orderby, the newest function comes first, as in the SCF console.
    let desc = Order::descending(req.order, orderby.is_none());
    let filters = req.filters.unwrap_or_default();
    if filters.len() > MAX_FILTERS {
        return Err(filters_error(format!(
            "At most {MAX_FILTERS} filters are allowed."
        )));
    }
    for flt in &filters {
        if !known_filter(&flt.name) {
            return Err(filters_error(format!(
                "Filter name `{}` is not supported.",
                flt.name
            )));
        }
        let max = if SINGLE_VALUE.contains(&flt.name.as_str()) {
            1
        } else {
            MAX_FILTER_VALUES
        };
        if flt.values.is_empty() || flt.values.len() > max {
            return Err(filters_error(format!(
                "Filter `{}` takes 1 to {max} values.",
                flt.name
            )));
        }
    }

    let namespace = req
        .namespace
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    svc.require_namespace(&caller.scope, &namespace).await?;
    let mut all = svc
        .store
        .list_functions(&caller.scope, Some(&namespace))
        .await?;
    let search = req.search_key.unwrap_or_default().to_lowercase();
    let desc_search = req.description.unwrap_or_default().to_lowercase();
    all.retain(|f| {
        f.key.name.to_lowercase().contains(&search)
            && f.description.to_lowercase().contains(&desc_search)
            && filters.iter().all(|flt| {
                let have = filter_values(f, &flt.name);
                flt.values.iter().any(|v| have.contains(v))
            })
    });
    match orderby {
        Some("FunctionName") => all.sort_by(|a, b| a.key.name.cmp(&b.key.name)),
        Some("ModTime") => all.sort_by_key(|f| (f.mod_time_ms, f.key.name.clone())),
        _ => all.sort_by_key(|f| (f.add_time_ms, f.key.name.clone())),
    }
    if desc {
        all.reverse();
    }
    let total = all.len();
    let functions: Vec<Value> = paging::slice(all, offset, limit)
        .iter()
        .map(|f| function_view::summary(svc, f))
        .collect();
    let mut out = Map::new();
    out.insert("Functions".into(), Value::Array(functions));
    out.insert("TotalCount".into(), json!(total));
    Ok(out)
}
