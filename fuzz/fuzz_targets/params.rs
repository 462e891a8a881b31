//! Parameters (`scf_types::schema`), checked against the real action schemas
//! (`scf_types::actions`) and typed by the core (`scf_core::Action::parse`), as the gateway
//! does.
//!
//! Input (invalid UTF-8 replaced): an action name, a newline, then the parameters: a JSON body
//! when it starts with `{`, else a form or query string (`Filters.0.Name=Status&...`), decoded
//! as the gateway decodes one. A name scfd does not serve picks one that it does. Properties:
//! * a refusal is one of the codes the schema module promises (UnknownParameter,
//!   MissingParameter, InvalidParameter, or the own code of a closed choice the action has);
//! * what the schema accepts, the action's typed request accepts too (`Action::parse` would
//!   otherwise answer a plain InvalidParameter for a well-formed request);
//! * flattened pairs rebuild into an object the JSON check accepts, and flattening that object
//!   again rebuilds the very same object;
//! * a JSON body the check accepts, flattened (when it has no null and no empty array or
//!   object, which pairs cannot say), is accepted as pairs too;
//! * the rebuild runs on a 2 MiB stack, a tokio worker's: no key may take more.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scf_core::Action;
use scf_types::ErrorCode;
use scf_types::actions::SCF_ACTIONS;
use scf_types::schema::{Field, RawParams, Ty, check_object, unflatten};
use serde_json::{Map, Value};

/// What a tokio worker thread gets (the gateway runs on them).
const WORKER_STACK: usize = 2 << 20;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let (name, body) = text.split_once('\n').unwrap_or((&text, ""));
    let (action, fields) = pick(name);
    let body = body.to_string();
    let run = move || {
        if body.trim_start().starts_with('{') {
            json_body(action, fields, &body);
        } else {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            flattened(action, fields, &pairs);
        }
    };
    let worker = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(run)
        .expect("spawn");
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
});

/// The action named, or one scfd serves chosen by the name's length.
fn pick(name: &str) -> (&'static str, &'static [Field]) {
    let served: Vec<&'static str> = SCF_ACTIONS
        .iter()
        .copied()
        .filter(|a| Action::schema(a).is_some())
        .collect();
    let action = served
        .iter()
        .copied()
        .find(|a| *a == name)
        .unwrap_or(served[name.len() % served.len()]);
    (action, Action::schema(action).expect("served"))
}

fn refused_as_promised(fields: &[Field], code: ErrorCode, what: &str) {
    assert!(
        matches!(
            code,
            ErrorCode::UnknownParameter | ErrorCode::MissingParameter | ErrorCode::InvalidParameter
        ) || choice_codes(fields).contains(&code),
        "{what}: {code:?}"
    );
}

/// The codes of the closed choices (`Ty::Enum`) among `fields`, at any depth: a value outside
/// one is refused with its own code.
fn choice_codes(fields: &[Field]) -> Vec<ErrorCode> {
    fn walk(ty: &Ty, out: &mut Vec<ErrorCode>) {
        match ty {
            Ty::Enum(spec) => out.push(spec.code),
            Ty::List(inner) => walk(inner, out),
            Ty::Obj(fields) => fields.iter().for_each(|f| walk(&f.ty, out)),
            _ => {}
        }
    }
    let mut out = vec![];
    fields.iter().for_each(|f| walk(&f.ty, &mut out));
    out
}

fn typed(action: &str, params: &Map<String, Value>) {
    match scf_core::Action::parse(action, RawParams::Json(params.clone())) {
        Some(Ok(_)) => {}
        Some(Err(e)) => panic!(
            "{action}: the schema accepts {params:?} but the typed request does not: {}",
            e.message
        ),
        None => panic!("{action} has a schema but no Action"),
    }
}

fn json_body(action: &str, fields: &[Field], body: &str) {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return;
    };
    if let Err(e) = check_object(fields, &map, "") {
        refused_as_promised(fields, e.code, body);
        return;
    }
    typed(action, &map);
    if !map.values().any(has_null_or_empty) {
        let value = Value::Object(map);
        let mut pairs = vec![];
        flatten("", &value, &mut pairs);
        if let Err(e) = unflatten(fields, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            panic!("{action}: {body} is accepted as JSON; as {pairs:?}: {e:?}");
        }
    }
}

fn flattened(action: &str, fields: &[Field], pairs: &[(String, String)]) {
    let rebuilt = match unflatten(fields, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(rebuilt) => rebuilt,
        Err(e) => {
            refused_as_promised(fields, e.code, &format!("{pairs:?}"));
            return;
        }
    };
    if let Err(e) = check_object(fields, &rebuilt, "") {
        panic!("{action}: {pairs:?} rebuilt into {rebuilt:?}, which the check refuses: {e:?}");
    }
    typed(action, &rebuilt);
    let mut again = vec![];
    flatten("", &Value::Object(rebuilt.clone()), &mut again);
    let twice = unflatten(fields, again.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .unwrap_or_else(|e| panic!("{action}: {again:?} (from {pairs:?}): {e:?}"));
    assert_eq!(twice, rebuilt, "{action}: {pairs:?} then {again:?}");
}

/// The pairs a client would send for `value` (numbers and booleans as text).
fn flatten(path: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&join(k), v, out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&join(&i.to_string()), v, out)),
        Value::String(s) => out.push((path.to_string(), s.clone())),
        Value::Number(n) => out.push((path.to_string(), n.to_string())),
        Value::Bool(b) => out.push((path.to_string(), b.to_string())),
        Value::Null => {}
    }
}

fn has_null_or_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty() || map.values().any(has_null_or_empty),
        Value::Array(items) => items.is_empty() || items.iter().any(has_null_or_empty),
        _ => false,
    }
}
