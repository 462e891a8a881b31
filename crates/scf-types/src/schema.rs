//! Parameter schemas, and the two ways parameters arrive.
//!
//! A JSON body (TC3 POST) is checked against the action's schema as it is. Flattened pairs (TC3
//! GET, v1 GET/POST: `Filters.0.Values.1=Active`) are first rebuilt into the nested shape,
//! walking the schema so that every leaf string is coerced to its declared type, and then checked
//! the same way. Both paths give the same three answers for bad input: `UnknownParameter` for a
//! name the schema lacks, `MissingParameter` for a required one that is absent, `InvalidParameter`
//! for a value of the wrong type. A string of a closed set ([`Ty::Enum`]: InvocationType,
//! LogType, Order) is refused here too, with the code its [`EnumSpec`] names. Values that are
//! well typed but out of range are the action's business.

use crate::error::{ApiError, ErrorCode};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The type of a parameter, as the SDK models declare it.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Int,
    Uint,
    Float,
    Bool,
    List(&'static Ty),
    Obj(&'static [Field]),
    /// A structure scfd accepts and stores without looking inside.
    Any,
    /// A string from a closed set (see [`EnumSpec`]).
    Enum(&'static EnumSpec),
}

/// The values a [`Ty::Enum`] parameter takes, and the code a value outside them gets.
#[derive(Debug)]
pub struct EnumSpec {
    /// The wire spellings, in the order the refusal lists them.
    pub values: &'static [&'static str],
    /// Matched in any case (`Order`: `asc`, `DESC`).
    pub any_case: bool,
    /// The code for a value outside the set (SCF's codes differ by parameter).
    pub code: ErrorCode,
}

impl EnumSpec {
    /// The index in [`EnumSpec::values`] of `value`; `None` for the empty string (absent) too.
    pub fn find(&self, value: &str) -> Option<usize> {
        self.values.iter().position(|v| {
            if self.any_case {
                v.eq_ignore_ascii_case(value)
            } else {
                *v == value
            }
        })
    }

    /// The refusal of `value` for the parameter at `path`: "use A, B or C".
    pub fn refuse(&self, path: &str, value: &str) -> ApiError {
        let shown: String = value.chars().take(64).collect();
        let choices = match self.values.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        ApiError::new(
            self.code,
            format!("{path} `{shown}` is invalid: use {choices}."),
        )
    }
}

/// The parameters of a request as they arrived: a JSON body, or flattened pairs (query string
/// or form).
#[derive(Debug)]
pub enum RawParams {
    Json(Map<String, Value>),
    Pairs(Vec<(String, String)>),
}

/// Checks (and for pairs, rebuilds) `raw` against `fields`: the one object an action's request
/// type deserializes from. An optional choice sent as the empty string (how some clients say
/// "unset") is taken out, so that the type reads it as absent.
pub fn check(fields: &[Field], raw: RawParams) -> Result<Map<String, Value>, ApiError> {
    let mut map = match raw {
        RawParams::Json(map) => {
            check_object(fields, &map, "")?;
            map
        }
        RawParams::Pairs(pairs) => {
            unflatten(fields, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?
        }
    };
    drop_unset_choices(fields, &mut map);
    Ok(map)
}

/// Removes the optional [`Ty::Enum`] fields whose value is `""`, in `obj` and the objects
/// below it (already checked against `fields`).
fn drop_unset_choices(fields: &[Field], obj: &mut Map<String, Value>) {
    // By the field's type first: most fields are none of these, and cost no lookup (this runs
    // on every request).
    for field in fields {
        match &field.ty {
            Ty::Enum(_)
                if !field.required && obj.get(field.name).and_then(Value::as_str) == Some("") =>
            {
                obj.remove(field.name);
            }
            Ty::Obj(inner) => {
                if let Some(Value::Object(child)) = obj.get_mut(field.name) {
                    drop_unset_choices(inner, child);
                }
            }
            Ty::List(Ty::Obj(inner)) => {
                if let Some(Value::Array(items)) = obj.get_mut(field.name) {
                    for child in items.iter_mut().filter_map(Value::as_object_mut) {
                        drop_unset_choices(inner, child);
                    }
                }
            }
            _ => {}
        }
    }
}

/// One named parameter of an action or a structure.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
}

/// A type whose values are a structure of named parameters: an action's request, or an object
/// inside one. Derived with `#[derive(scf_derive::Params)]` from the type's serde shape.
pub trait Params {
    const FIELDS: &'static [Field];
}

/// A type that can be a parameter's value, and how the schema calls it.
pub trait Param {
    const TY: Ty;
}

macro_rules! param {
    ($ty:expr => $($t:ty),*) => { $(impl Param for $t { const TY: Ty = $ty; })* };
}
param!(Ty::Str => String);
param!(Ty::Int => i64, i32);
param!(Ty::Uint => u64, u32, u16);
param!(Ty::Float => f64);
param!(Ty::Bool => bool);
param!(Ty::Any => Map<String, Value>);

/// `a` then `b`, for the fields of a `#[serde(flatten)]` structure (used by the derive).
pub const fn concat<const N: usize>(a: &[Field], b: &[Field]) -> [Field; N] {
    assert!(
        a.len() + b.len() == N,
        "concat: N is the sum of the lengths"
    );
    let mut out = [opt("", Ty::Any); N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[i + j] = b[j];
        j += 1;
    }
    out
}

/// An optional field.
pub const fn opt(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: false,
    }
}

/// A required field.
pub const fn req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: true,
    }
}

fn unknown(path: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownParameter,
        format!("The parameter `{path}` is not recognized."),
    )
}

fn missing(path: &str) -> ApiError {
    ApiError::new(
        ErrorCode::MissingParameter,
        format!("The request is missing a required parameter `{path}`."),
    )
}

fn wrong_type(path: &str, ty: &Ty) -> ApiError {
    let want = match ty {
        Ty::Str | Ty::Enum(_) => "a string",
        Ty::Int => "an integer",
        Ty::Uint => "a non-negative integer",
        Ty::Float => "a number",
        Ty::Bool => "a boolean",
        Ty::List(_) => "an array",
        Ty::Obj(_) | Ty::Any => "an object",
    };
    ApiError::new(
        ErrorCode::InvalidParameter,
        format!("The value of parameter `{path}` must be {want}."),
    )
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Checks a JSON object against `fields`. `null` counts as absent (the SDKs leave unset fields
/// out; a hand-written client may send null).
pub fn check_object(
    fields: &[Field],
    obj: &Map<String, Value>,
    path: &str,
) -> Result<(), ApiError> {
    for (name, value) in obj {
        let field = fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| unknown(&join(path, name)))?;
        if !value.is_null() {
            check_value(&field.ty, value, &join(path, name))?;
        }
    }
    for field in fields.iter().filter(|f| f.required) {
        if obj.get(field.name).is_none_or(Value::is_null) {
            return Err(missing(&join(path, field.name)));
        }
    }
    Ok(())
}

fn check_value(ty: &Ty, value: &Value, path: &str) -> Result<(), ApiError> {
    let ok = match (ty, value) {
        (Ty::Str, Value::String(_)) => true,
        // The empty string is how clients leave an optional choice unset.
        (Ty::Enum(spec), Value::String(s)) => {
            if s.is_empty() || spec.find(s).is_some() {
                true
            } else {
                return Err(spec.refuse(path, s));
            }
        }
        (Ty::Int, Value::Number(n)) => {
            n.is_i64() || n.is_u64() && n.as_u64().is_some_and(|u| i64::try_from(u).is_ok())
        }
        (Ty::Uint, Value::Number(n)) => n.is_u64(),
        (Ty::Float, Value::Number(_)) => true,
        (Ty::Bool, Value::Bool(_)) => true,
        (Ty::Any, Value::Object(_)) => true,
        (Ty::List(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_value(inner, item, &join(path, &i.to_string()))?;
            }
            true
        }
        (Ty::Obj(fields), Value::Object(obj)) => {
            check_object(fields, obj, path)?;
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(wrong_type(path, ty))
    }
}

/// The most parts (`A.0.B` has three) a flattened key may have: as deep as a JSON body may nest
/// (serde_json stops at 128), so both ways in are bounded alike. The rebuild recurses once per
/// part: a key of thousands (`ResourceEnv.TKE.a.a...`, easily within a request's 10 MB)
/// overflowed a tokio worker's 2 MiB stack and aborted the whole server.
const MAX_KEY_PARTS: usize = 128;

fn too_deep(key: &str) -> ApiError {
    let shown: String = key.chars().take(64).collect();
    ApiError::new(
        ErrorCode::InvalidParameter,
        format!("The parameter `{shown}...` has more than {MAX_KEY_PARTS} parts."),
    )
}

/// A node of the tree rebuilt from flattened keys.
enum Node {
    Leaf(String),
    Obj(BTreeMap<String, Node>),
    List(BTreeMap<usize, Node>),
}

/// Rebuilds flattened `(key, value)` pairs into a JSON object shaped and typed by `fields`.
pub fn unflatten<'a>(
    fields: &[Field],
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Map<String, Value>, ApiError> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for (key, value) in pairs {
        if key.bytes().filter(|b| *b == b'.').count() >= MAX_KEY_PARTS {
            return Err(too_deep(key));
        }
        let mut segments = key.split('.');
        let first = segments.next().unwrap_or_default();
        let field = fields
            .iter()
            .find(|f| f.name == first)
            .ok_or_else(|| unknown(key))?;
        let rest: Vec<&str> = segments.collect();
        insert(&mut root, first, &field.ty, &rest, value, key)?;
    }
    let mut out = Map::new();
    for (name, node) in root {
        let field = fields
            .iter()
            .find(|f| f.name == name)
            .expect("only schema names were inserted");
        out.insert(name.clone(), to_value(&field.ty, node, &name)?);
    }
    check_object(fields, &out, "")?;
    Ok(out)
}

/// Puts `value` at `name.rest...` below `map`, checking each segment against `ty`.
fn insert(
    map: &mut BTreeMap<String, Node>,
    name: &str,
    ty: &Ty,
    rest: &[&str],
    value: &str,
    key: &str,
) -> Result<(), ApiError> {
    let Some((next, deeper)) = rest.split_first() else {
        if matches!(ty, Ty::List(_) | Ty::Obj(_) | Ty::Any) {
            return Err(wrong_type(key, ty));
        }
        map.insert(name.to_string(), Node::Leaf(value.to_string()));
        return Ok(());
    };
    match ty {
        Ty::Obj(fields) => {
            let field = fields
                .iter()
                .find(|f| f.name == *next)
                .ok_or_else(|| unknown(key))?;
            let slot = map
                .entry(name.to_string())
                .or_insert_with(|| Node::Obj(BTreeMap::new()));
            let Node::Obj(inner) = slot else {
                return Err(wrong_type(key, ty));
            };
            insert(inner, next, &field.ty, deeper, value, key)
        }
        Ty::Any => {
            let slot = map
                .entry(name.to_string())
                .or_insert_with(|| Node::Obj(BTreeMap::new()));
            let Node::Obj(inner) = slot else {
                return Err(wrong_type(key, ty));
            };
            insert(inner, next, &Ty::Any, deeper, value, key).or_else(|_| {
                inner.insert(next.to_string(), Node::Leaf(value.to_string()));
                Ok(())
            })
        }
        Ty::List(item) => {
            let index: usize = next.parse().map_err(|_| wrong_type(key, ty))?;
            let slot = map
                .entry(name.to_string())
                .or_insert_with(|| Node::List(BTreeMap::new()));
            let Node::List(items) = slot else {
                return Err(wrong_type(key, ty));
            };
            // Lists are keyed by their index as a string inside a one-entry map, so the same
            // `insert` walks their items.
            let mut holder: BTreeMap<String, Node> = BTreeMap::new();
            if let Some(existing) = items.remove(&index) {
                holder.insert(String::new(), existing);
            }
            let result = insert(&mut holder, "", item, deeper, value, key);
            if let Some(node) = holder.remove("") {
                items.insert(index, node);
            }
            result
        }
        _ => Err(wrong_type(key, ty)),
    }
}

fn to_value(ty: &Ty, node: Node, path: &str) -> Result<Value, ApiError> {
    match (ty, node) {
        (Ty::Str | Ty::Enum(_), Node::Leaf(s)) => Ok(Value::String(s)),
        (Ty::Int, Node::Leaf(s)) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| wrong_type(path, ty)),
        (Ty::Uint, Node::Leaf(s)) => s
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| wrong_type(path, ty)),
        (Ty::Float, Node::Leaf(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| wrong_type(path, ty)),
        (Ty::Bool, Node::Leaf(s)) => match s.trim() {
            "true" | "True" | "TRUE" | "1" => Ok(Value::Bool(true)),
            "false" | "False" | "FALSE" | "0" => Ok(Value::Bool(false)),
            _ => Err(wrong_type(path, ty)),
        },
        (Ty::List(item), Node::List(items)) => items
            .into_iter()
            .map(|(i, n)| to_value(item, n, &join(path, &i.to_string())))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (Ty::Obj(fields), Node::Obj(map)) => {
            let mut out = Map::new();
            for (name, n) in map {
                let field = fields
                    .iter()
                    .find(|f| f.name == name)
                    .expect("only schema names were inserted");
                let v = to_value(&field.ty, n, &join(path, &name))?;
                out.insert(name, v);
            }
            Ok(Value::Object(out))
        }
        (Ty::Any, Node::Obj(map)) => {
            let mut out = Map::new();
            for (name, n) in map {
                let v = to_value(&Ty::Any, n, &join(path, &name))?;
                out.insert(name, v);
            }
            Ok(Value::Object(out))
        }
        (Ty::Any, Node::Leaf(s)) => Ok(Value::String(s)),
        (Ty::Any, Node::List(items)) => items
            .into_iter()
            .map(|(i, n)| to_value(&Ty::Any, n, &join(path, &i.to_string())))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (ty, _) => Err(wrong_type(path, ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILTER: &[Field] = &[req("Name", Ty::Str), req("Values", Ty::List(&Ty::Str))];
    const PARAMS: &[Field] = &[
        opt("Limit", Ty::Int),
        opt("Offset", Ty::Uint),
        opt("Ratio", Ty::Float),
        opt("Flag", Ty::Bool),
        opt("Namespace", Ty::Str),
        opt("Filters", Ty::List(&Ty::Obj(FILTER))),
        opt(
            "Env",
            Ty::Obj(&[opt(
                "Variables",
                Ty::List(&Ty::Obj(&[opt("Key", Ty::Str), opt("Value", Ty::Str)])),
            )]),
        ),
        opt("Extra", Ty::Any),
    ];

    fn code(r: Result<impl std::fmt::Debug, ApiError>) -> ErrorCode {
        r.expect_err("should fail").code
    }

    #[test]
    fn rebuilds_nested_lists_and_coerces_types() {
        let got = unflatten(
            PARAMS,
            [
                ("Limit", "2"),
                ("Filters.0.Name", "Status"),
                ("Filters.0.Values.0", "Active"),
                ("Filters.0.Values.1", "Creating"),
                ("Filters.1.Name", "Runtime"),
                ("Filters.1.Values.0", "Python3.9"),
                ("Env.Variables.0.Key", "A"),
                ("Env.Variables.0.Value", "1"),
                ("Flag", "True"),
                ("Ratio", "0.5"),
                ("Extra.Some.Deep", "x"),
            ],
        )
        .expect("valid");
        assert_eq!(
            Value::Object(got),
            json!({
                "Limit": 2,
                "Flag": true,
                "Ratio": 0.5,
                "Filters": [
                    {"Name": "Status", "Values": ["Active", "Creating"]},
                    {"Name": "Runtime", "Values": ["Python3.9"]}
                ],
                "Env": {"Variables": [{"Key": "A", "Value": "1"}]},
                "Extra": {"Some": {"Deep": "x"}}
            })
        );
    }

    #[test]
    fn list_order_follows_indices_not_arrival() {
        let got = unflatten(
            PARAMS,
            [
                ("Filters.0.Values.1", "b"),
                ("Filters.0.Name", "n"),
                ("Filters.0.Values.0", "a"),
            ],
        )
        .expect("valid");
        assert_eq!(got["Filters"], json!([{"Name": "n", "Values": ["a", "b"]}]));
    }

    #[test]
    fn flattened_errors_have_exact_codes() {
        assert_eq!(
            code(unflatten(PARAMS, [("Bogus", "1")])),
            ErrorCode::UnknownParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Filters.0.Bogus", "1")])),
            ErrorCode::UnknownParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Limit", "abc")])),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Offset", "-1")])),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Flag", "maybe")])),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Ratio", "x")])),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Filters", "x")])),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Filters.x.Name", "x")])),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Limit.0", "1")])),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(unflatten(PARAMS, [("Filters.0.Name", "Status")])),
            ErrorCode::MissingParameter
        );
    }

    #[test]
    fn json_errors_have_exact_codes() {
        let check = |v: Value| check_object(PARAMS, v.as_object().expect("object"), "");
        assert!(check(json!({"Limit": 3, "Filters": [{"Name": "a", "Values": []}]})).is_ok());
        assert!(check(json!({"Limit": null})).is_ok());
        assert_eq!(code(check(json!({"Nope": 1}))), ErrorCode::UnknownParameter);
        assert_eq!(
            code(check(json!({"Limit": "3"}))),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(check(json!({"Limit": 1.5}))),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(check(json!({"Offset": -1}))),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(check(json!({"Flag": "true"}))),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(check(json!({"Filters": {"Name": "a"}}))),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(check(json!({"Filters": [{"Name": 1, "Values": []}]}))),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(check(json!({"Filters": [{"Values": []}]}))),
            ErrorCode::MissingParameter
        );
        let err =
            check(json!({"Filters": [{"Name": "a", "Values": [], "X": 1}]})).expect_err("unknown");
        assert_eq!(err.code, ErrorCode::UnknownParameter);
        assert!(err.message.contains("Filters.0.X"), "{}", err.message);
    }

    /// Found by review, then shown by the `params` fuzz target (whose seeds keep such a key): a
    /// key of some thousand parts below a field of type Any overflowed a 2 MiB stack (a tokio
    /// worker's) and aborted the process.
    #[test]
    fn keys_deeper_than_a_json_body_are_refused_on_a_small_stack() {
        let at_limit = format!("Extra{}", ".a".repeat(MAX_KEY_PARTS - 1));
        let deep = format!("Extra{}", ".a".repeat(10_000));
        let worker = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                assert!(unflatten(PARAMS, [(at_limit.as_str(), "x")]).is_ok());
                let err = unflatten(PARAMS, [(deep.as_str(), "x")]).expect_err("too deep");
                assert_eq!(err.code, ErrorCode::InvalidParameter);
                assert!(err.message.len() < 200, "{}", err.message);
                let dots = format!("Extra{}", ".".repeat(MAX_KEY_PARTS));
                assert_eq!(
                    code(unflatten(PARAMS, [(dots.as_str(), "x")])),
                    ErrorCode::InvalidParameter
                );
            })
            .expect("spawn");
        worker.join().expect("no overflow");
    }

    #[test]
    fn required_top_level_fields() {
        const F: &[Field] = &[req("Namespace", Ty::Str)];
        assert_eq!(
            code(check_object(F, &Map::new(), "")),
            ErrorCode::MissingParameter
        );
        assert_eq!(code(unflatten(F, [])), ErrorCode::MissingParameter);
        assert!(unflatten(F, [("Namespace", "x")]).is_ok());
    }
}
