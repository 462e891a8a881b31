//! The hello functions every scenario deploys, as zip packages.

use std::io::Write;
use zip::write::SimpleFileOptions;

/// The Python handler of issue 4, also used by the no-server baselines.
pub const PYTHON_HANDLER: &str = "def main_handler(event, context):\n    return {\"ok\": True}\n";

const NODE_HANDLER: &str = "exports.main_handler = async (event, context) => ({ ok: true });\n";

/// A custom-runtime bootstrap in Python: one keep-alive connection to the runtime API, then the
/// next/response loop. (A bash+curl bootstrap forks a curl per call and would measure curl.)
const CUSTOM_BOOTSTRAP: &str = r#"#!/usr/bin/python3
import http.client, os
conn = http.client.HTTPConnection(os.environ["SCF_RUNTIME_API"], int(os.environ["SCF_RUNTIME_API_PORT"]))
conn.request("POST", "/runtime/init/ready", body=b"")
conn.getresponse().read()
while True:
    conn.request("GET", "/runtime/invocation/next")
    r = conn.getresponse()
    r.read()
    conn.request("POST", "/runtime/invocation/response", body=b'{"ok": true}',
                 headers={"Content-Type": "application/json"})
    conn.getresponse().read()
"#;

/// The runtimes the suite measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Python,
    Node,
    Custom,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Python => "Python",
            Kind::Node => "Node.js",
            Kind::Custom => "Custom (Python bootstrap)",
        }
    }

    /// SCF's runtime name. Python3.11 is the system interpreter here, so no version fallback.
    pub fn runtime(self) -> &'static str {
        match self {
            Kind::Python => "Python3.11",
            Kind::Node => "Nodejs20.x",
            Kind::Custom => "CustomRuntime",
        }
    }

    pub fn zip(self) -> Vec<u8> {
        match self {
            Kind::Python => zip_of(&[("index.py", PYTHON_HANDLER, 0o644)]),
            Kind::Node => zip_of(&[("index.js", NODE_HANDLER, 0o644)]),
            Kind::Custom => zip_of(&[("bootstrap", CUSTOM_BOOTSTRAP, 0o755)]),
        }
    }
}

fn zip_of(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text, mode) in files {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(*mode);
        writer
            .start_file(*name, options)
            .expect("writing to memory cannot fail");
        writer
            .write_all(text.as_bytes())
            .expect("writing to memory cannot fail");
    }
    writer
        .finish()
        .expect("writing to memory cannot fail")
        .into_inner()
}
