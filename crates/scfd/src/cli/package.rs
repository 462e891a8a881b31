//! A function folder as a zip package, the way `zip -ry` would make it: every file and folder
//! but `.git`, each with its Unix mode (a custom runtime's `bootstrap` must stay executable),
//! symbolic links kept as links (the server refuses those that leave the folder).
//!
//! Entries are sorted and dated 1980-01-01 (zip's epoch), so the same folder always gives the
//! same bytes: the server stores a package once per content, and a redeploy of unchanged code
//! is recognisable as such.

use super::CliError;
use std::io::{Cursor, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The one name never packed: version-control data is not code.
const SKIPPED: &str = ".git";

/// A zipped folder.
pub struct Package {
    pub zip: Vec<u8>,
    pub files: usize,
    /// The files' total size before compression.
    pub unpacked_bytes: u64,
    /// Entries that are neither file, folder nor link (sockets, pipes), left out.
    pub skipped: Vec<String>,
}

enum Kind {
    Dir,
    File { size: u64 },
    Link { target: String },
    Other,
}

struct Entry {
    path: PathBuf,
    /// Relative, `/`-separated.
    name: String,
    mode: u32,
    kind: Kind,
}

/// Lists the folder depth-first in name order.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<(), CliError> {
    let read_error =
        |p: &Path, e: std::io::Error| CliError::Failed(format!("cannot read {}: {e}", p.display()));
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| read_error(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_error(dir, e))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let file_name = child.file_name();
        if file_name == SKIPPED {
            continue;
        }
        let path = child.path();
        let Some(file_name) = file_name.to_str() else {
            return Err(CliError::Failed(format!(
                "{}: the name is not UTF-8, which a zip package cannot carry portably",
                path.display()
            )));
        };
        let name = format!("{prefix}{file_name}");
        let meta = std::fs::symlink_metadata(&path).map_err(|e| read_error(&path, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        let kind = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| read_error(&path, e))?;
            Kind::Link {
                target: target.to_string_lossy().into_owned(),
            }
        } else if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File { size: meta.len() }
        } else {
            Kind::Other
        };
        let is_dir = matches!(kind, Kind::Dir);
        out.push(Entry {
            path: path.clone(),
            name: name.clone(),
            mode,
            kind,
        });
        if is_dir {
            walk(&path, &format!("{name}/"), out)?;
        }
    }
    Ok(())
}

/// Zips `dir`. `progress(done, total)` follows the bytes of file content read.
pub fn zip_folder(dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Package, CliError> {
    let meta =
        std::fs::metadata(dir).map_err(|e| CliError::Usage(format!("{}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is not a folder: give the folder holding the function's code",
            dir.display()
        )));
    }
    let mut entries = Vec::new();
    walk(dir, "", &mut entries)?;
    let total: u64 = entries
        .iter()
        .map(|e| match e.kind {
            Kind::File { size } => size,
            _ => 0,
        })
        .sum();
    let zip_error =
        |e: zip::result::ZipError| CliError::Failed(format!("cannot build the zip package: {e}"));
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let (mut files, mut done, mut skipped) = (0usize, 0u64, Vec::new());
    progress(0, total);
    for entry in &entries {
        let options = base.unix_permissions(entry.mode);
        match &entry.kind {
            Kind::Dir => zip
                .add_directory(format!("{}/", entry.name), options)
                .map_err(zip_error)?,
            Kind::Link { target } => zip
                .add_symlink(&entry.name, target, options)
                .map_err(zip_error)?,
            Kind::File { .. } => {
                let mut file = std::fs::File::open(&entry.path).map_err(|e| {
                    CliError::Failed(format!("cannot read {}: {e}", entry.path.display()))
                })?;
                zip.start_file(&entry.name, options).map_err(zip_error)?;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = file.read(&mut buf).map_err(|e| {
                        CliError::Failed(format!("cannot read {}: {e}", entry.path.display()))
                    })?;
                    if n == 0 {
                        break;
                    }
                    zip.write_all(&buf[..n]).map_err(|e| {
                        CliError::Failed(format!("cannot build the zip package: {e}"))
                    })?;
                    done += n as u64;
                    progress(done, total);
                }
                files += 1;
            }
            Kind::Other => skipped.push(entry.name.clone()),
        }
    }
    let zip = zip.finish().map_err(zip_error)?.into_inner();
    progress(total, total);
    Ok(Package {
        zip,
        files,
        unpacked_bytes: done,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode_of(archive: &mut zip::ZipArchive<Cursor<Vec<u8>>>, name: &str) -> u32 {
        archive
            .by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unix_mode()
            .unwrap_or_else(|| panic!("{name} has no unix mode"))
    }

    #[test]
    fn keeps_modes_links_and_folders_and_skips_git() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let write = |rel: &str, text: &str, mode: u32| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        write("bootstrap", "#!/bin/sh\necho hi\n", 0o755);
        write("index.py", "def main_handler(e, c):\n    return e\n", 0o644);
        write("lib/util.py", "X = 1\n", 0o600);
        write(".git/HEAD", "ref: refs/heads/main\n", 0o644);
        write("lib/.git", "gitdir: ../.git/modules/lib\n", 0o644);
        write(".gitignore", "*.pyc\n", 0o644);
        symlink("index.py", root.join("alias.py")).expect("symlink");

        let mut seen = Vec::new();
        let package = zip_folder(root, &mut |done, total| seen.push((done, total))).expect("zips");
        assert_eq!(
            package.files, 4,
            "bootstrap, index.py, lib/util.py, .gitignore"
        );
        let content: u64 = [18u64, 37, 6, 6].iter().sum();
        assert_eq!(package.unpacked_bytes, content);
        assert_eq!(seen.last(), Some(&(content, content)));
        assert!(
            seen.windows(2).all(|w| w[0].0 <= w[1].0),
            "progress only grows"
        );

        let mut archive = zip::ZipArchive::new(Cursor::new(package.zip.clone())).expect("a zip");
        let mut names: Vec<String> = archive
            .file_names()
            .map(|n| n.expect("a name").into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".gitignore",
                "alias.py",
                "bootstrap",
                "index.py",
                "lib/",
                "lib/util.py"
            ]
        );
        assert_eq!(mode_of(&mut archive, "bootstrap") & 0o777, 0o755);
        assert_eq!(mode_of(&mut archive, "index.py") & 0o777, 0o644);
        assert_eq!(mode_of(&mut archive, "lib/util.py") & 0o777, 0o600);
        assert_eq!(
            mode_of(&mut archive, "alias.py") & 0o170000,
            0o120000,
            "a symlink"
        );
        let mut text = String::new();
        archive
            .by_name("bootstrap")
            .expect("bootstrap")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "#!/bin/sh\necho hi\n");

        // The same folder gives the same bytes.
        let again = zip_folder(root, &mut |_, _| {}).expect("zips");
        assert_eq!(again.zip, package.zip);
    }

    #[test]
    fn refuses_what_is_not_a_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("index.py");
        std::fs::write(&file, "x").expect("write");
        assert!(matches!(
            zip_folder(&file, &mut |_, _| {}),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            zip_folder(&dir.path().join("missing"), &mut |_, _| {}),
            Err(CliError::Usage(_))
        ));
    }
}
