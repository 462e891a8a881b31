//! Checking an uploaded code package before anything is written, and unpacking it safely.
//!
//! [`inspect`] reads the whole archive once, decompressing every entry into a counting sink:
//! declared sizes in a zip can lie, so the only honest bomb check is to count real bytes, and
//! stop at the cap. It refuses entries that would land outside the function's folder (`../x`,
//! absolute paths, symlinks whose target leaves the folder), more entries than allowed, and
//! packages over the size caps. [`extract`] then unpacks the same bytes, so it can only meet
//! what `inspect` accepted; it still refuses to follow anything outside its folder.

use scf_types::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// The caps a package must fit.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    /// The zip itself, after base64 decoding.
    pub max_zip_bytes: u64,
    /// All entries, uncompressed (SCF: 500 MB of code per version).
    pub max_unpacked_bytes: u64,
    pub max_entries: usize,
}

/// What [`inspect`] learned about an accepted package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Hex SHA-256 of the zip: the package's name in the store.
    pub sha256: String,
    pub zip_bytes: u64,
    pub unpacked_bytes: u64,
    pub entries: usize,
}

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
/// A symlink's target is its content; anything longer than a path can be is not a symlink.
const MAX_LINK_TARGET: u64 = 4096;

fn refuse(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterValueZipFile, message)
}

fn is_symlink(file: &zip::read::ZipFile<'_, impl Read>) -> bool {
    file.unix_mode().is_some_and(|m| m & S_IFMT == S_IFLNK)
}

/// The entry's path inside the folder, or `None` if it would escape it.
fn inside_path(name: &str) -> Option<PathBuf> {
    if name.starts_with('/') || name.starts_with('\\') || name.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for part in Path::new(name).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Whether a symlink at `entry` pointing to `target` stays inside the folder.
fn link_stays_inside(entry: &Path, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') {
        return false;
    }
    let mut depth: Vec<&std::ffi::OsStr> = entry
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for part in Path::new(target).components() {
        match part {
            Component::Normal(n) => depth.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// A writer that counts bytes and fails once past a cap.
struct Capped {
    written: u64,
    cap: u64,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len() as u64;
        if self.written > self.cap {
            return Err(io::Error::other("over the cap"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Checks `bytes` as a code package. CPU-bound: call it off the async runtime.
pub fn inspect(bytes: &[u8], limits: &ZipLimits) -> Result<Inspected, ApiError> {
    if bytes.len() as u64 > limits.max_zip_bytes {
        return Err(refuse(format!(
            "The zip file is {} bytes; the limit is {} bytes.",
            bytes.len(),
            limits.max_zip_bytes
        )));
    }
    let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(|e| {
        refuse(format!(
            "The code is not a standard zip file ({e}); re-compress it and retry."
        ))
    })?;
    if archive.len() > limits.max_entries {
        return Err(refuse(format!(
            "The zip file holds {} entries; the limit is {}.",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut sink = Capped {
        written: 0,
        cap: limits.max_unpacked_bytes,
    };
    for i in 0..archive.len() {
        let mut file = archive
            .by_index(i)
            .map_err(|e| refuse(format!("Entry {i} of the zip file cannot be read: {e}")))?;
        let name = file
            .name()
            .map_err(|e| {
                refuse(format!(
                    "Entry {i} of the zip file has an unreadable name: {e}"
                ))
            })?
            .into_owned();
        let Some(path) = inside_path(&name) else {
            return Err(refuse(format!(
                "The zip entry `{name}` points outside the code folder."
            )));
        };
        if is_symlink(&file) {
            let mut target = String::new();
            (&mut file)
                .take(MAX_LINK_TARGET)
                .read_to_string(&mut target)
                .map_err(|e| refuse(format!("The symlink `{name}` cannot be read: {e}")))?;
            if !link_stays_inside(&path, &target) {
                return Err(refuse(format!(
                    "The symlink `{name}` points to `{target}`, outside the code folder."
                )));
            }
            continue;
        }
        if let Err(e) = io::copy(&mut file, &mut sink) {
            return Err(if sink.written > sink.cap {
                refuse(format!(
                    "The zip file unpacks to more than {} bytes (the limit for code).",
                    limits.max_unpacked_bytes
                ))
            } else {
                refuse(format!("The zip entry `{name}` is corrupt: {e}"))
            });
        }
    }
    Ok(Inspected {
        sha256: hex::encode(Sha256::digest(bytes)),
        zip_bytes: bytes.len() as u64,
        unpacked_bytes: sink.written,
        entries: archive.len(),
    })
}

/// Unpacks `bytes` (already accepted by [`inspect`]) into the empty folder `dest`.
pub fn extract(bytes: &[u8], dest: &Path) -> io::Result<()> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(io::Error::other)?;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(io::Error::other)?;
        let name = file.name().map_err(io::Error::other)?.into_owned();
        let rel = inside_path(&name)
            .ok_or_else(|| io::Error::other(format!("entry `{name}` escapes the folder")))?;
        let out = dest.join(&rel);
        if file.is_dir() {
            std::fs::create_dir_all(&out)?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if is_symlink(&file) {
            let mut target = String::new();
            (&mut file)
                .take(MAX_LINK_TARGET)
                .read_to_string(&mut target)?;
            if !link_stays_inside(&rel, &target) {
                return Err(io::Error::other(format!(
                    "symlink `{name}` escapes the folder"
                )));
            }
            std::os::unix::fs::symlink(&target, &out)?;
            continue;
        }
        let mut f = std::fs::File::create(&out)?;
        io::copy(&mut file, &mut f)?;
        // Keep the owner's execute bit (a custom runtime's `bootstrap` needs it); everything
        // is readable, nothing is writable by others.
        let executable = file.unix_mode().is_some_and(|m| m & 0o100 != 0);
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(if executable {
            0o755
        } else {
            0o644
        }))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    pub(crate) const LIMITS: ZipLimits = ZipLimits {
        max_zip_bytes: 1 << 20,
        max_unpacked_bytes: 1 << 20,
        max_entries: 10,
    };

    /// A zip of `(name, content)` entries; names ending in `@` become symlinks to the content.
    pub(crate) fn make_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, content) in entries {
            if let Some(link) = name.strip_suffix('@') {
                w.add_symlink(
                    link,
                    std::str::from_utf8(content).expect("utf8"),
                    SimpleFileOptions::default(),
                )
                .expect("symlink");
            } else {
                let opts = SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .unix_permissions(if name.ends_with("bootstrap") {
                        0o755
                    } else {
                        0o644
                    });
                w.start_file(*name, opts).expect("start");
                w.write_all(content).expect("write");
            }
        }
        w.finish().expect("finish").into_inner()
    }

    fn code(r: Result<Inspected, ApiError>) -> ErrorCode {
        r.expect_err("refused").code
    }

    #[test]
    fn accepts_and_extracts_a_normal_package() {
        let z = make_zip(&[
            ("index.py", b"def main_handler(e, c):\n    return 1\n"),
            ("lib/util.py", b"X = 1\n"),
            ("bootstrap", b"#!/bin/sh\n"),
            ("lib/link@", b"util.py"),
        ]);
        let got = inspect(&z, &LIMITS).expect("accepted");
        assert_eq!(got.entries, 4);
        assert_eq!(got.sha256, hex::encode(Sha256::digest(&z)));
        let dir = tempfile::tempdir().expect("tmp");
        extract(&z, dir.path()).expect("extract");
        assert_eq!(
            std::fs::read(dir.path().join("lib/util.py")).expect("read"),
            b"X = 1\n"
        );
        assert_eq!(
            std::fs::read(dir.path().join("lib/link")).expect("read link"),
            b"X = 1\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("bootstrap"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn refuses_escapes() {
        for entries in [
            vec![("../evil.py", &b"x"[..])],
            vec![("a/../../evil.py", &b"x"[..])],
            vec![("/etc/evil", &b"x"[..])],
            vec![("link@", &b"../../etc/passwd"[..])],
            vec![("a/link@", &b"/etc/passwd"[..])],
            vec![("a/link@", &b"../../x"[..])],
        ] {
            let z = make_zip(&entries);
            assert_eq!(
                code(inspect(&z, &LIMITS)),
                ErrorCode::InvalidParameterValueZipFile,
                "{entries:?}"
            );
        }
        assert!(link_stays_inside(Path::new("a/b/link"), "../c"));
        assert!(!link_stays_inside(Path::new("link"), ".."));
    }

    #[test]
    fn refuses_non_zips_and_oversize() {
        assert_eq!(
            code(inspect(b"not a zip at all", &LIMITS)),
            ErrorCode::InvalidParameterValueZipFile
        );
        let big = vec![0u8; (LIMITS.max_zip_bytes + 1) as usize];
        assert_eq!(
            code(inspect(&big, &LIMITS)),
            ErrorCode::InvalidParameterValueZipFile
        );
        let many: Vec<(String, Vec<u8>)> = (0..11).map(|i| (format!("f{i}"), vec![])).collect();
        let refs: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(n, c)| (n.as_str(), c.as_slice()))
            .collect();
        assert_eq!(
            code(inspect(&make_zip(&refs), &LIMITS)),
            ErrorCode::InvalidParameterValueZipFile
        );
    }

    #[test]
    fn refuses_a_bomb_by_counting_real_bytes() {
        // 4 MiB of zeros compresses to a few KiB: small zip, over the 1 MiB unpacked cap.
        let zeros = vec![0u8; 4 << 20];
        let z = make_zip(&[("zeros.bin", &zeros)]);
        assert!((z.len() as u64) < LIMITS.max_zip_bytes);
        let err = inspect(&z, &LIMITS).expect_err("bomb");
        assert_eq!(err.code, ErrorCode::InvalidParameterValueZipFile);
        assert!(
            err.message.contains("unpacks to more than"),
            "{}",
            err.message
        );
    }
}
