//! ListNamespaces: the caller's namespaces, searched, sorted and paged.

use super::paging;
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::choices::Order;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub orderby: Option<String>,
    pub order: Option<Order>,
    pub search_key: Option<Vec<SearchKey>>,
}

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct SearchKey {
    pub key: String,
    pub value: String,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let (offset, limit) = paging::page(req.offset, req.limit)?;
    // With no Orderby the newest comes first, as in SCF's own example answer.
    let by_name = match req.orderby.as_deref() {
        None | Some("") => None,
        Some("Name") => Some(true),
        Some("Updatetime") => Some(false),
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueOrderBy,
                format!("Orderby `{other}` is invalid: use Name or Updatetime."),
            ));
        }
    };
    let desc = Order::descending(req.order, by_name.is_none());
    let keys = req.search_key.unwrap_or_default();
    for k in &keys {
        if k.key != "Namespace" && k.key != "Description" {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueSearchKey,
                format!(
                    "SearchKey `{}` is invalid: use Namespace or Description.",
                    k.key
                ),
            ));
        }
    }
    svc.ensure_default_namespace(&caller.scope).await?;
    let mut all = svc.store.list_namespaces(&caller.scope).await?;
    all.retain(|ns| {
        keys.iter().all(|k| {
            let field = if k.key == "Namespace" {
                &ns.name
            } else {
                &ns.description
            };
            field.contains(k.value.as_str())
        })
    });
    match by_name {
        Some(true) => all.sort_by(|a, b| a.name.cmp(&b.name)),
        Some(false) => all.sort_by_key(|n| (n.mod_time_ms, n.name.clone())),
        None => all.sort_by_key(|n| (n.add_time_ms, n.name.clone())),
    }
    if desc {
        all.reverse();
    }
    let total = all.len();
    let namespaces: Vec<Value> = paging::slice(all, offset, limit)
        .into_iter()
        .map(|ns| {
            json!({
                "Name": ns.name,
                "Description": ns.description,
                "AddTime": svc.format_time(ns.add_time_ms),
                "ModTime": svc.format_time(ns.mod_time_ms),
                "Type": ns.kind,
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("Namespaces".into(), Value::Array(namespaces));
    out.insert("TotalCount".into(), json!(total));
    Ok(out)
}
