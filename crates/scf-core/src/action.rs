//! The core's one door: a typed [`Action`] parsed from an action name and its checked
//! parameters, applied by the module of the same name under `actions/`.

use crate::actions::*;
use crate::service::{Caller, Service};
use scf_types::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::sync::Arc;

macro_rules! actions {
    ($($name:ident => $module:ident,)*) => {
        /// Every action the service applies.
        #[derive(Debug)]
        pub enum Action { $($name($module::Request),)* }

        impl Action {
            /// Builds the action `name` from parameters already checked against its schema
            /// (`scf_types::actions::schema`). `None` for a name the service does not apply.
            pub fn parse(name: &str, params: Map<String, Value>) -> Option<Result<Action, ApiError>> {
                Some(match name {
                    $(stringify!($name) => typed(params).map(Action::$name),)*
                    _ => return None,
                })
            }

            /// The action's wire name.
            pub fn name(&self) -> &'static str {
                match self { $(Action::$name(_) => stringify!($name),)* }
            }

            pub(crate) async fn apply(self, svc: &Arc<Service>, caller: &Caller) -> Result<Map<String, Value>, ApiError> {
                match self { $(Action::$name(req) => $module::apply(svc, caller, req).await,)* }
            }
        }
    };
}

actions! {
    CreateNamespace => create_namespace,
    ListNamespaces => list_namespaces,
    UpdateNamespace => update_namespace,
    DeleteNamespace => delete_namespace,
    CreateFunction => create_function,
    GetFunction => get_function,
    ListFunctions => list_functions,
    UpdateFunctionCode => update_function_code,
    UpdateFunctionConfiguration => update_function_configuration,
    DeleteFunction => delete_function,
    GetFunctionAddress => get_function_address,
    GetAccount => get_account,
    Invoke => invoke,
    InvokeFunction => invoke_function,
    GetRequestStatus => get_request_status,
    GetFunctionLogs => get_function_logs,
    PublishVersion => publish_version,
    ListVersionByFunction => list_version_by_function,
    PutReservedConcurrencyConfig => put_reserved_concurrency_config,
    GetReservedConcurrencyConfig => get_reserved_concurrency_config,
    DeleteReservedConcurrencyConfig => delete_reserved_concurrency_config,
    UpdateFunctionEventInvokeConfig => update_function_event_invoke_config,
    GetFunctionEventInvokeConfig => get_function_event_invoke_config,
    GetAsyncEventStatus => get_async_event_status,
    ListAsyncEvents => list_async_events,
    TerminateAsyncEvent => terminate_async_event,
}

fn typed<T: DeserializeOwned>(params: Map<String, Value>) -> Result<T, ApiError> {
    // The schema check has run, so this only fails if a module's struct and the schema
    // disagree: say so plainly rather than guess a code.
    serde_json::from_value(Value::Object(params)).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!("Invalid parameters: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action the gateway has a schema for parses here, and the other way round.
    #[test]
    fn schemas_and_actions_agree() {
        for name in scf_types::actions::SCF_ACTIONS {
            let has_schema = scf_types::actions::schema(name).is_some();
            let parsed = Action::parse(name, Map::new());
            assert_eq!(has_schema, parsed.is_some(), "{name}");
        }
    }
}
