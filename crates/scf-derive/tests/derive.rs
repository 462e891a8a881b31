//! What `#[derive(Params)]` makes of each serde shape.

#![allow(dead_code)]

use scf_derive::Params;
use scf_types::schema::{Field, Params, Ty};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
struct Inner {
    key: String,
}

#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
struct Spliced {
    spliced_in: Option<bool>,
}

#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
struct Request {
    function_name: String,
    limit: Option<u64>,
    #[serde(default)]
    offset: i64,
    #[serde(rename = "MsgTTL")]
    msg_ttl: Option<i64>,
    filters: Option<Vec<Inner>>,
    grid: Vec<Vec<String>>,
    #[params(schema = Inner)]
    kept: Option<Value>,
    #[serde(flatten)]
    spliced: Spliced,
    #[serde(flatten)]
    #[params(schema = Inner)]
    rest: Map<String, Value>,
    #[serde(skip)]
    internal: u32,
}

fn field(name: &str) -> Field {
    *Request::FIELDS
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} missing from {:?}", Request::FIELDS))
}

#[test]
fn names_types_and_required_follow_serde() {
    let names: Vec<&str> = Request::FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "FunctionName",
            "Limit",
            "Offset",
            "MsgTTL",
            "Filters",
            "Grid",
            "Kept",
            "SplicedIn",
            "Key"
        ]
    );
    assert!(field("FunctionName").required && matches!(field("FunctionName").ty, Ty::Str));
    assert!(!field("Limit").required && matches!(field("Limit").ty, Ty::Uint));
    assert!(!field("Offset").required && matches!(field("Offset").ty, Ty::Int));
    let Ty::List(Ty::Obj(inner)) = field("Filters").ty else {
        panic!("Filters: {:?}", field("Filters").ty)
    };
    assert_eq!(inner[0].name, "Key");
    assert!(matches!(field("Grid").ty, Ty::List(Ty::List(Ty::Str))));
    assert!(matches!(field("Kept").ty, Ty::Obj(f) if f[0].name == "Key"));
    assert!(!field("SplicedIn").required && matches!(field("SplicedIn").ty, Ty::Bool));
}
