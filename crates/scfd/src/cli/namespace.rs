//! `scfd namespace list|create|update|delete`.

use super::client::Client;
use super::function::{list_all, pretty};
use super::output::{Table, text};
use super::{CliError, print};
use serde_json::{Map, Value, json};

pub fn list(client: &Client, json: bool) -> Result<(), CliError> {
    let namespaces = list_all(client, "ListNamespaces", "Namespaces", Map::new())?;
    if json {
        return print(&pretty(
            &json!({"Namespaces": namespaces, "TotalCount": namespaces.len()}),
        ));
    }
    let mut table = Table::new(&["NAME", "CREATED", "MODIFIED", "DESCRIPTION"]);
    for ns in &namespaces {
        table.row(vec![
            text(ns, "Name"),
            text(ns, "AddTime"),
            text(ns, "ModTime"),
            text(ns, "Description"),
        ]);
    }
    print(&table.render())
}

pub fn create(client: &Client, name: &str, description: Option<&str>) -> Result<(), CliError> {
    let mut p = json!({ "Namespace": name });
    if let (Some(d), Value::Object(m)) = (description, &mut p) {
        m.insert("Description".into(), json!(d));
    }
    client.call("CreateNamespace", &p)?;
    print(&format!("created namespace {name}\n"))
}

pub fn update(client: &Client, name: &str, description: &str) -> Result<(), CliError> {
    client.call(
        "UpdateNamespace",
        &json!({ "Namespace": name, "Description": description }),
    )?;
    print(&format!("updated namespace {name}\n"))
}

pub fn delete(client: &Client, name: &str) -> Result<(), CliError> {
    client.call("DeleteNamespace", &json!({ "Namespace": name }))?;
    print(&format!("deleted namespace {name}\n"))
}
