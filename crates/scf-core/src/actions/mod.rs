//! The core's one door: a typed [`Action`] parsed from an action name and its checked
//! parameters, applied by the module of the same name in this folder.
//!
//! # Adding an action
//! One file and one line: `actions/<snake_name>.rs` with its `Request` (deriving
//! `Deserialize` and `scf_derive::Params`: the type is the action's schema) and `pub async fn
//! apply(svc, caller, req)`, and the line `Name => snake_name,` in the list below. The list declares the module, and from it come the [`Action`] enum, the
//! schema table ([`Action::schema`], which the gateway checks parameters with and answers
//! `UnsupportedOperation` without), the router ([`Action::apply`]) and the tests at the end
//! (every served action is an SCF action; `src/schemas.txt` holds what each accepts).

use scf_types::schema::RawParams;
use scf_types::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Declares the action modules and the [`Action`] enum from the one list (in `actions/mod.rs`).
macro_rules! actions {
    ($($name:ident => $module:ident,)*) => {
        $(pub mod $module;)*

        /// Every action the service applies.
        #[derive(Debug)]
        pub enum Action { $($name($module::Request),)* }

        impl Action {
            /// Builds the action `name` from its parameters as they arrived: checked against
            /// the request type's schema (each refusal with its Tencent code) and typed.
            /// `None` for a name the service does not apply.
            pub fn parse(name: &str, params: RawParams) -> Option<Result<Action, ApiError>> {
                Some(match name {
                    $(stringify!($name) => typed::<$module::Request>(params).map(Action::$name),)*
                    _ => return None,
                })
            }

            /// The parameters of action `name`, from its request type: what the gateway
            /// checks and rebuilds flattened parameters with. `None` for a name the service
            /// does not apply.
            pub fn schema(name: &str) -> Option<&'static [scf_types::schema::Field]> {
                use scf_types::schema::Params;
                Some(match name {
                    $(stringify!($name) => <$module::Request as Params>::FIELDS,)*
                    _ => return None,
                })
            }

            /// The action's wire name.
            pub fn name(&self) -> &'static str {
                match self { $(Action::$name(_) => stringify!($name),)* }
            }

            /// Applies the action for `caller` and returns the fields of its response.
            pub async fn apply(self, svc: &std::sync::Arc<$crate::service::Service>, caller: &$crate::service::Caller) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
                match self { $(Action::$name(req) => $module::apply(svc, caller, req).await,)* }
            }
        }
    };
}

mod code_source;
mod function_view;
mod paging;
mod wire;

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
    ListTriggers => list_triggers,
}

fn typed<T: DeserializeOwned + scf_types::schema::Params>(
    params: RawParams,
) -> Result<T, ApiError> {
    let checked = scf_types::schema::check(T::FIELDS, params)?;
    // The schema is the type's, so this only fails if a hand-written part of it (a
    // `#[params(schema = ...)]`) and the type disagree: say so plainly rather than guess a code.
    serde_json::from_value(Value::Object(checked)).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!("Invalid parameters: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(fields: &[scf_types::schema::Field]) -> Vec<String> {
        use scf_types::schema::Ty;
        fn ty(t: &Ty) -> String {
            match t {
                Ty::List(inner) => format!("[{}]", ty(inner)),
                Ty::Obj(fields) => format!("{{{}}}", render(fields).join(", ")),
                Ty::Enum(spec) => format!(
                    "Str of {}{}, else {}",
                    spec.values.join("|"),
                    if spec.any_case { " (any case)" } else { "" },
                    spec.code.as_str()
                ),
                other => format!("{other:?}"),
            }
        }
        let mut out: Vec<String> = fields
            .iter()
            .map(|f| {
                format!(
                    "{}{}: {}",
                    f.name,
                    if f.required { "!" } else { "" },
                    ty(&f.ty)
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Every served action's parameters as the SDK models declare them (first compiled from
    /// the models, reference §5 and §6). A request type that loses or changes a field changes
    /// what the gateway accepts: this says so. After a deliberate change, rewrite the file
    /// with `SCF_WRITE_SCHEMAS=1 cargo test -p scf-core schemas_are_the_sdk_models`.
    #[test]
    fn schemas_are_the_sdk_models() {
        let mut text = String::new();
        for name in scf_types::actions::SCF_ACTIONS {
            if let Some(fields) = Action::schema(name) {
                text.push_str(name);
                text.push('\n');
                for line in render(fields) {
                    text.push_str("    ");
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/schemas.txt");
        if std::env::var_os("SCF_WRITE_SCHEMAS").is_some() {
            std::fs::write(path, &text).expect("write schemas.txt");
        }
        let want = std::fs::read_to_string(path).expect("src/schemas.txt");
        assert!(
            text == want,
            "the request types no longer declare what src/schemas.txt says; diff:\n{}",
            diff(&want, &text)
        );
    }

    fn diff(want: &str, got: &str) -> String {
        let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
        let mut out = String::new();
        for l in w.iter().filter(|l| !g.contains(l)) {
            out.push_str(&format!("- {l}\n"));
        }
        for l in g.iter().filter(|l| !w.contains(l)) {
            out.push_str(&format!("+ {l}\n"));
        }
        out
    }

    /// Every action served is an SCF action, parses, and has a schema (the same list).
    #[test]
    fn every_served_action_is_an_scf_action() {
        let mut served = 0;
        for name in scf_types::actions::SCF_ACTIONS {
            let has_schema = Action::schema(name).is_some();
            let parsed = Action::parse(name, RawParams::Json(serde_json::Map::new()));
            assert_eq!(has_schema, parsed.is_some(), "{name}");
            served += usize::from(has_schema);
        }
        assert!(served > 0);
    }
}
