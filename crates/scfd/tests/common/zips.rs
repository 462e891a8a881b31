//! Code packages: zips built in memory, base64 as `Code.ZipFile` takes them.

use base64::Engine as _;
use std::io::Write;

pub fn zip_b64(entries: &[(&str, &[u8])]) -> String {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        w.write_all(content).expect("write");
    }
    base64::engine::general_purpose::STANDARD.encode(w.finish().expect("zip").into_inner())
}

/// Bytes that do not compress (xorshift), to make a zip over a size cap.
pub fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn hello_zip() -> String {
    zip_b64(&[(
        "index.py",
        b"def main_handler(event, context):\n    return 'hi'\n",
    )])
}

pub fn py_zip(code: &str) -> String {
    zip_b64(&[("index.py", code.as_bytes())])
}
