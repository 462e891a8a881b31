//! The zip guard (`scf_core::zip_guard`): `inspect` on any bytes, then `extract` of the same
//! bytes into a fresh folder nested two levels inside another fresh folder.
//!
//! Input: a zip when it starts with `PK`; otherwise a description the target zips itself, so
//! that the fuzzer can play with names and links rather than with checksums. One entry a
//! line: `f NAME CONTENT` (a file), `x NAME CONTENT` (an executable file), `d NAME` (a folder),
//! `l NAME TARGET` (a symlink). Properties:
//! * whatever the archive holds and whether or not `inspect` accepts it, `extract` writes
//!   nothing outside its folder (the outer folder holds nothing else afterwards), every file
//!   it writes is 0644 or 0755, and every symlink it makes, followed link by link as the
//!   kernel would, stays inside the folder;
//! * a refusal is `InvalidParameterValue.ZipFile`;
//! * what `inspect` accepts, `extract` unpacks without an error; the files it writes hold no
//!   more bytes than `inspect` counted, within the caps.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scf_core::zip_guard::{ZipLimits, extract, inspect};
use scf_types::ErrorCode;
use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

const LIMITS: ZipLimits = ZipLimits {
    max_zip_bytes: 1 << 20,
    max_unpacked_bytes: 4 << 20,
    max_entries: 64,
};

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"PK") {
        check(data);
    } else if let Some(zip) = build(data) {
        check(&zip);
    }
});

/// Zips the entries `data` describes; `None` when the writer refuses them.
fn build(data: &[u8]) -> Option<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let text = String::from_utf8_lossy(data);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (kind, name, rest) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
        let options = SimpleFileOptions::default();
        match kind {
            "f" | "x" => {
                let mode = if kind == "x" { 0o755 } else { 0o644 };
                w.start_file(
                    name,
                    options
                        .compression_method(zip::CompressionMethod::Deflated)
                        .unix_permissions(mode),
                )
                .ok()?;
                w.write_all(rest.as_bytes()).ok()?;
            }
            "d" => w.add_directory(name, options).ok()?,
            "l" => w.add_symlink(name, rest, options).ok()?,
            _ => return None,
        }
    }
    Some(w.finish().ok()?.into_inner())
}

fn check(bytes: &[u8]) {
    let verdict = inspect(bytes, &LIMITS);
    let outer = tempfile::tempdir().expect("tempdir");
    let outer_path = outer.path().canonicalize().expect("canonical tempdir");
    let root = outer_path.join("a/b/root");
    std::fs::create_dir_all(&root).expect("mkdir");
    let extracted = extract(bytes, &root);

    let mut files_bytes = 0u64;
    let mut links = vec![];
    let mut stack = vec![outer_path.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let inside = path.starts_with(&root);
            assert!(
                inside || path == outer_path.join("a") || path == outer_path.join("a/b"),
                "`{}` was written outside the folder",
                path.display()
            );
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            if meta.is_dir() {
                stack.push(path);
            } else if meta.file_type().is_symlink() {
                links.push(path);
            } else if meta.is_file() {
                files_bytes += meta.len();
                let mode = meta.permissions().mode() & 0o7777;
                assert!(
                    mode == 0o644 || mode == 0o755,
                    "`{}` has mode {mode:o}",
                    path.display()
                );
            }
        }
    }

    // `extract` checks each link itself, so this holds for what `inspect` refused too.
    for link in links {
        let resolved = resolve(&link);
        assert!(
            resolved.starts_with(&root),
            "the symlink `{}` leads to `{}`",
            link.display(),
            resolved.display()
        );
    }

    let inspected = match verdict {
        Ok(inspected) => inspected,
        Err(e) => {
            assert_eq!(
                e.code,
                ErrorCode::InvalidParameterValueZipFile,
                "{}",
                e.message
            );
            return;
        }
    };
    if let Err(e) = extracted {
        panic!("inspect accepted {inspected:?} but extract failed: {e}");
    }
    assert_eq!(inspected.zip_bytes, bytes.len() as u64);
    assert!(inspected.entries <= LIMITS.max_entries);
    assert!(inspected.unpacked_bytes <= LIMITS.max_unpacked_bytes);
    assert!(
        files_bytes <= inspected.unpacked_bytes,
        "{files_bytes} bytes written, {} counted",
        inspected.unpacked_bytes
    );
}

/// Where `path` leads, following every symlink on the way as the kernel does (`..` from where
/// a link really led); past a name that does not exist, the rest is taken as written. A loop
/// stops after 40 links (the kernel's own limit), where the kernel would refuse it.
fn resolve(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    let mut todo: VecDeque<PathBuf> = path
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        match part.components().next() {
            Some(Component::RootDir) => out = PathBuf::from("/"),
            Some(Component::CurDir) | None => {}
            Some(Component::ParentDir) => {
                out.pop();
            }
            Some(Component::Normal(name)) => {
                let next = out.join(name);
                match std::fs::read_link(&next) {
                    Ok(target) if hops < 40 => {
                        hops += 1;
                        for c in target.components().rev() {
                            todo.push_front(PathBuf::from(c.as_os_str()));
                        }
                    }
                    _ => out = next,
                }
            }
            Some(Component::Prefix(_)) => unreachable!("no prefixes on Unix"),
        }
    }
    out
}
