//! ListVersionByFunction: `$LATEST` and every published version.

use crate::lookup::load;
use super::paging;
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::choices::Order;
use scf_store::FunctionStatus;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub namespace: Option<String>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub order: Option<Order>,
    pub order_by: Option<String>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    let (offset, limit) = paging::page(
        req.offset.map(|o| o as i64),
        req.limit.map(|l| l.min(i64::MAX as u64) as i64),
    )?;
    let by_mod = match req.order_by.as_deref() {
        None | Some("") | Some("AddTime") => false,
        Some("ModTime") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueOrderBy,
                format!("OrderBy `{other}` is invalid: use AddTime or ModTime."),
            ));
        }
    };
    let desc = Order::descending(req.order, false);
    // (name, description, add, mod, status)
    let mut all: Vec<(String, String, i64, i64, FunctionStatus)> = vec![(
        "$LATEST".into(),
        f.description.clone(),
        f.add_time_ms,
        f.mod_time_ms,
        f.status,
    )];
    for v in svc.store.list_versions(&f.key).await? {
        all.push((
            v.version,
            v.description,
            v.add_time_ms,
            v.add_time_ms,
            FunctionStatus::Active,
        ));
    }
    if by_mod {
        all.sort_by_key(|v| v.3);
    }
    if desc {
        all.reverse();
    }
    let total = all.len();
    let page = paging::slice(all, offset, limit);
    let mut out = Map::new();
    out.insert(
        "FunctionVersion".into(),
        json!(page.iter().map(|v| v.0.clone()).collect::<Vec<_>>()),
    );
    out.insert(
        "Versions".into(),
        Value::Array(
            page.iter()
                .map(|(name, d, add, m, status)| {
                    json!({"Version": name, "Description": d, "AddTime": svc.format_time(*add), "ModTime": svc.format_time(*m), "Status": status})
                })
                .collect(),
        ),
    );
    out.insert("TotalCount".into(), json!(total));
    Ok(out)
}
