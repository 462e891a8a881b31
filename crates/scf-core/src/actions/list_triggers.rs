//! ListTriggers: a function's triggers, filtered, ordered and paged as SCF does.
//!
//! scfd serves no trigger type yet (CreateTrigger answers `UnsupportedOperation`), so every
//! function has none: the answer is the empty page, after the same checks SCF makes (the
//! function exists in the caller's namespace; Order, OrderBy and the filter names are valid).
//! Added with the one-file-one-line recipe of [`crate::action`].

use crate::lookup::load;
use super::list_functions::Filter;
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
    pub function_name: String,
    pub namespace: Option<String>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub order_by: Option<String>,
    pub order: Option<Order>,
    pub filters: Option<Vec<Filter>>,
}

/// The filter names ListTriggers knows (reference, ListTriggers).
const FILTER_NAMES: &[&str] = &["Qualifier", "TriggerName", "Description"];

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    paging::page(
        req.offset.map(|o| o.min(i64::MAX as u64) as i64),
        req.limit.map(|l| l.min(i64::MAX as u64) as i64),
    )?;
    match req.order_by.as_deref() {
        None | Some("") | Some("add_time") | Some("mod_time") => {}
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueOrderBy,
                format!("OrderBy `{other}` is invalid: use add_time or mod_time."),
            ));
        }
    }
    for f in req.filters.iter().flatten() {
        if !FILTER_NAMES.contains(&f.name.as_str()) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueFilters,
                format!(
                    "Filter `{}` is invalid: ListTriggers filters on {}.",
                    f.name,
                    FILTER_NAMES.join(", ")
                ),
            ));
        }
    }
    let mut out = Map::new();
    out.insert("TotalCount".into(), json!(0));
    out.insert("Triggers".into(), json!([]));
    Ok(out)
}
