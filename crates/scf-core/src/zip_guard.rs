//! Checking an uploaded code package before anything is written, and unpacking it safely.
//!
//! [`inspect`] reads the whole archive once, decompressing every entry into a counting sink:
//! declared sizes in a zip can lie, so the only honest bomb check is to count real bytes, and
//! stop at the cap. It also replays the archive's entries onto a model of the tree they would
//! build, so a package is refused at the API (`InvalidParameterValue.ZipFile`) when:
//! - an entry's name is absolute, holds `..` or a NUL, or is empty;
//! - an entry's name or a symlink's target is longer than Linux takes (a part of a path over
//!   255 bytes, a target over 4095), which would pass here and then fail to unpack;
//! - an entry would be written through a symlink the archive made (`link/x`, whether the link
//!   comes before or after the entry), or through a file (`file/x`), or names a path twice;
//! - a symlink's target could leave the folder. The rule is lexical and strict: the target is
//!   relative, its `..` components all come first, and there are no more of them than the
//!   link's folder is deep. Each link then points inside the folder *from where it really
//!   sits* (its folders are real folders: nothing is written through a link), so following
//!   links, one after another, never leaves it either. `u1 -> u0/..` is refused even though
//!   `u0` might be a folder, because after a link `..` means something else.
//!
//! [`extract`] then unpacks the same bytes without trusting any of that: every folder on the
//! way to an entry is opened one name at a time with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` (`O_NOFOLLOW` single names where the kernel lacks `openat2`), files
//! are created with `O_EXCL`, and symlinks are only ever created, never followed. Whatever the
//! archive holds, nothing lands outside `dest`.

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use scf_types::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
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
/// A symlink's target is its content; Linux takes targets shorter than PATH_MAX (4096 with
/// its NUL), so a longer one could not be unpacked.
const MAX_LINK_TARGET: u64 = 4095;
/// The longest name of one file or folder Linux takes (NAME_MAX): a longer part of an entry's
/// path could not be unpacked.
const MAX_NAME_PART: usize = 255;

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

/// Whether a symlink at `entry` pointing to `target` stays inside the folder, by the rule in
/// the module's docs: relative, every `..` first, no more of them than the link's folder is deep.
fn link_stays_inside(entry: &Path, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.contains('\0') {
        return false;
    }
    let depth = entry.components().count().saturating_sub(1);
    let (mut ups, mut below) = (0, false);
    for part in Path::new(target).components() {
        match part {
            Component::Normal(_) => below = true,
            Component::CurDir => {}
            Component::ParentDir if !below && ups < depth => ups += 1,
            _ => return false,
        }
    }
    true
}

/// What a path of the package is, as the entries so far would build it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Folder,
    File,
    Link,
}

/// The tree the archive's entries build, replayed in their order.
#[derive(Default)]
struct Tree(HashMap<PathBuf, Node>);

impl Tree {
    /// Adds `path` as `node`, or says why the archive cannot hold it.
    fn place(&mut self, path: &Path, node: Node) -> Result<(), String> {
        let mut at = PathBuf::new();
        let parts: Vec<&OsStr> = path.iter().collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            at.push(part);
            match self.0.get(&at) {
                None => {
                    self.0.insert(at.clone(), Node::Folder);
                }
                Some(Node::Folder) => {}
                Some(Node::Link) => {
                    return Err(format!("goes through the symlink `{}`", at.display()));
                }
                Some(Node::File) => {
                    return Err(format!("goes through the file `{}`", at.display()));
                }
            }
        }
        match (self.0.get(path), node) {
            (None, _) => {
                self.0.insert(path.to_path_buf(), node);
                Ok(())
            }
            (Some(Node::Folder), Node::Folder) => Ok(()),
            (Some(_), _) => Err("names a path another entry already holds".into()),
        }
    }
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
    let mut archive = open_archive(bytes, limits)?;
    let mut sink = Capped {
        written: 0,
        cap: limits.max_unpacked_bytes,
    };
    let mut tree = Tree::default();
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
        let path = entry_path(&name)?;
        let node = if is_symlink(&file) {
            Node::Link
        } else if file.is_dir() {
            Node::Folder
        } else {
            Node::File
        };
        if let Err(why) = tree.place(&path, node) {
            return Err(refuse(format!(
                "The zip entry `{name}` {why}; a package can only write inside its own folder."
            )));
        }
        if node == Node::Link {
            check_link(&mut file, &name, &path)?;
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

/// The archive, once its size, entry count and names are within the limits.
fn open_archive<'b>(
    bytes: &'b [u8],
    limits: &ZipLimits,
) -> Result<zip::ZipArchive<io::Cursor<&'b [u8]>>, ApiError> {
    if bytes.len() as u64 > limits.max_zip_bytes {
        return Err(refuse(format!(
            "The zip file is {} bytes; the limit is {} bytes.",
            bytes.len(),
            limits.max_zip_bytes
        )));
    }
    let archive = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(|e| {
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
    if archive.has_duplicate_names() {
        // The reader would show only one of them; which one a different unzip takes is anyone's
        // guess.
        return Err(refuse("The zip file names the same path twice."));
    }
    Ok(archive)
}

/// The entry's path below the code folder, each part within [`MAX_NAME_PART`].
fn entry_path(name: &str) -> Result<PathBuf, ApiError> {
    let Some(path) = inside_path(name) else {
        return Err(refuse(format!(
            "The zip entry `{name}` points outside the code folder."
        )));
    };
    if let Some(part) = path.iter().find(|p| p.len() > MAX_NAME_PART) {
        return Err(refuse(format!(
            "The zip entry `{name}` has a name of {} bytes in its path; the limit is \
             {MAX_NAME_PART}.",
            part.len()
        )));
    }
    Ok(path)
}

/// A symlink entry's target (its content) must be short and stay inside the code folder.
fn check_link(file: &mut impl Read, name: &str, path: &Path) -> Result<(), ApiError> {
    let mut target = String::new();
    file.take(MAX_LINK_TARGET + 1)
        .read_to_string(&mut target)
        .map_err(|e| refuse(format!("The symlink `{name}` cannot be read: {e}")))?;
    if target.len() as u64 > MAX_LINK_TARGET {
        return Err(refuse(format!(
            "The symlink `{name}` has a target over {MAX_LINK_TARGET} bytes."
        )));
    }
    if !link_stays_inside(path, &target) {
        return Err(refuse(format!(
            "The symlink `{name}` points to `{target}`, which may leave the code folder \
             (a link's target must be relative, with any `..` first and no deeper than \
             the link's own folder)."
        )));
    }
    Ok(())
}

/// Opens the single name `name` in `dir`, never through or at a symlink and never above `dir`.
fn open_beneath(dir: impl AsFd, name: &OsStr, flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
    let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let how = OpenHow::new().flags(flags).mode(mode).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    match nix::fcntl::openat2(dir.as_fd(), name, how) {
        // Kernels before 5.6: `name` is one normal component and O_NOFOLLOW refuses a link.
        Err(Errno::ENOSYS) => Ok(nix::fcntl::openat(dir, name, flags, mode)?),
        other => Ok(other?),
    }
}

/// Opens (creating as needed) the folder `rel` beneath `root`, one component at a time.
fn open_folder(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let mut dir = root.try_clone()?;
    for part in rel.iter() {
        match nix::sys::stat::mkdirat(&dir, part, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        dir = open_beneath(
            &dir,
            part,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY,
            Mode::empty(),
        )?;
    }
    Ok(dir)
}

/// Unpacks `bytes` (already accepted by [`inspect`]) into the empty folder `dest`.
pub fn extract(bytes: &[u8], dest: &Path) -> io::Result<()> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(io::Error::other)?;
    let root: OwnedFd = std::fs::File::open(dest)?.into();
    // Entries of one folder usually come together: keep the last folder open.
    let mut last: Option<(PathBuf, OwnedFd)> = None;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(io::Error::other)?;
        let name = file.name().map_err(io::Error::other)?.into_owned();
        let rel = inside_path(&name)
            .ok_or_else(|| io::Error::other(format!("entry `{name}` escapes the folder")))?;
        if file.is_dir() {
            open_folder(&root, &rel)?;
            continue;
        }
        let parent = rel.parent().unwrap_or(Path::new(""));
        let leaf = rel.file_name().unwrap_or_default();
        let dir = match last.take() {
            Some((p, fd)) if p == parent => fd,
            _ => open_folder(&root, parent)?,
        };
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
            nix::unistd::symlinkat(target.as_str(), &dir, leaf)?;
        } else {
            // Keep the owner's execute bit (a custom runtime's `bootstrap` needs it);
            // everything is readable, nothing is writable by others.
            let executable = file.unix_mode().is_some_and(|m| m & 0o100 != 0);
            let mode = Mode::from_bits_truncate(if executable { 0o755 } else { 0o644 });
            let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
            let mut out = std::fs::File::from(open_beneath(&dir, leaf, flags, mode)?);
            io::copy(&mut file, &mut out)?;
            // The umask may have taken bits the mode asked for.
            use std::os::unix::fs::PermissionsExt;
            out.set_permissions(std::fs::Permissions::from_mode(mode.bits()))?;
        }
        last = Some((parent.to_path_buf(), dir));
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
        assert!(link_stays_inside(Path::new("a/b/link"), "../../c/d"));
        assert!(link_stays_inside(Path::new("link"), "."));
        assert!(!link_stays_inside(Path::new("link"), ".."));
        assert!(!link_stays_inside(Path::new("a/link"), "b/../.."));
        assert!(!link_stays_inside(Path::new("a/b/link"), "c/.."));
        assert!(!link_stays_inside(Path::new("a/link"), ""));
    }

    /// The chain: `u0 -> .`, `u1 -> u0/..`, ... then a file entry through the last
    /// link. Each link looks harmless on its own; `u12/...` resolves twelve folders up.
    fn link_chain(depth: usize, payload: &str) -> Vec<(String, Vec<u8>)> {
        let mut entries = vec![("u0@".to_string(), b".".to_vec())];
        for i in 1..=depth {
            entries.push((format!("u{i}@"), format!("u{}/..", i - 1).into_bytes()));
        }
        entries.push((format!("u{depth}/{payload}"), b"pwned".to_vec()));
        entries
    }

    fn refs(entries: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
        entries
            .iter()
            .map(|(n, c)| (n.as_str(), c.as_slice()))
            .collect()
    }

    const MANY: ZipLimits = ZipLimits {
        max_entries: 100,
        ..LIMITS
    };

    #[test]
    fn refuses_every_way_to_write_through_a_link() {
        let chain = link_chain(12, "marker");
        let variants: Vec<Vec<(String, Vec<u8>)>> = vec![
            chain.clone(),
            // A harmless-looking link, then a file through it.
            vec![
                ("l@".into(), b"sub".to_vec()),
                ("l/x".into(), b"x".to_vec()),
            ],
            // The file first, then a link replacing its folder.
            vec![("d/x".into(), b"x".to_vec()), ("d@".into(), b".".to_vec())],
            // A link to a link to a folder, then a file through the second.
            vec![
                ("a/b@".into(), b"..".to_vec()),
                ("c@".into(), b"a/b".to_vec()),
                ("c/x".into(), b"x".to_vec()),
            ],
            // A folder entry through a link.
            vec![("l@".into(), b".".to_vec()), ("l/sub/".into(), vec![])],
            // A file used as a folder.
            vec![("f".into(), b"x".to_vec()), ("f/x".into(), b"x".to_vec())],
        ];
        for entries in variants {
            let z = make_zip(&refs(&entries));
            let err = inspect(&z, &MANY).expect_err("refused");
            assert_eq!(
                err.code,
                ErrorCode::InvalidParameterValueZipFile,
                "{entries:?}"
            );
        }
    }

    #[test]
    fn refuses_a_name_held_twice() {
        // ZipWriter refuses duplicates, so write two names and make them one in the bytes
        // (the central directory and the local headers both).
        let mut z = make_zip(&[("dup-name-1@", b"."), ("dup-name-2", b"x")]);
        let (from, to) = (b"dup-name-2", b"dup-name-1");
        let mut i = 0;
        while let Some(at) = z[i..].windows(from.len()).position(|w| w == from) {
            z[i + at..i + at + to.len()].copy_from_slice(to);
            i += at + to.len();
        }
        let err = inspect(&z, &MANY).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidParameterValueZipFile);
        assert!(err.message.contains("twice"), "{}", err.message);
    }

    #[test]
    fn extraction_alone_writes_nothing_outside_whatever_the_archive_holds() {
        // `extract` must hold without `inspect`: unpack each hostile archive into a folder
        // nested in a sandbox folder, and check that nothing appeared anywhere else in it.
        let outer = tempfile::tempdir().expect("tmp");
        let variants: Vec<Vec<(String, Vec<u8>)>> = vec![
            link_chain(6, "marker"),
            // A folder, then a link of the same name: the name is taken and nothing is replaced.
            vec![
                ("d/".into(), vec![]),
                ("d@".into(), b"../..".to_vec()),
                ("d/marker".into(), b"x".to_vec()),
            ],
            vec![
                ("l@".into(), b"../..".to_vec()),
                ("l/marker".into(), b"x".to_vec()),
            ],
            vec![
                ("l@".into(), b"/".to_vec()),
                ("l/tmp/marker".into(), b"x".to_vec()),
            ],
        ];
        for (n, entries) in variants.iter().enumerate() {
            let dest = outer.path().join(format!("a/b/c/d/e/f/g/dest{n}"));
            std::fs::create_dir_all(&dest).expect("mkdir");
            let z = make_zip(&refs(entries));
            assert!(extract(&z, &dest).is_err(), "{entries:?}");
        }
        let mut found = vec![];
        let mut stack = vec![outer.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
                let t = e.file_type().expect("type");
                if t.is_dir() {
                    stack.push(e.path());
                } else if t.is_file() {
                    found.push(e.path());
                }
            }
        }
        assert_eq!(
            found,
            Vec::<PathBuf>::new(),
            "no file may have been written"
        );
        assert!(!Path::new("/tmp/marker").exists());
    }

    #[test]
    fn links_inside_the_folder_still_work() {
        let entries: Vec<(String, Vec<u8>)> = vec![
            ("lib/v1/util.py".into(), b"X = 1\n".to_vec()),
            ("lib/current@".into(), b"v1".to_vec()),
            ("pkg/mod.py@".into(), b"../lib/current/util.py".to_vec()),
            ("here@".into(), b".".to_vec()),
        ];
        let z = make_zip(&refs(&entries));
        inspect(&z, &MANY).expect("accepted");
        let dir = tempfile::tempdir().expect("tmp");
        extract(&z, dir.path()).expect("extract");
        assert_eq!(
            std::fs::read(dir.path().join("pkg/mod.py")).expect("read"),
            b"X = 1\n"
        );
        assert_eq!(
            std::fs::read(dir.path().join("here/lib/v1/util.py")).expect("read"),
            b"X = 1\n"
        );
    }

    /// Found by the `zip_guard` fuzz target: a name part over 255 bytes passed `inspect` and
    /// then failed `extract` with ENAMETOOLONG. Looking there found the same for a symlink
    /// target of 4096 bytes, and a longer one cut to 4096 and accepted.
    #[test]
    fn refuses_names_and_link_targets_linux_cannot_unpack() {
        let long = "n".repeat(256);
        let variants: Vec<Vec<(String, Vec<u8>)>> = vec![
            vec![(long.clone(), b"x".to_vec())],
            vec![(format!("lib/{long}/x.py"), b"x".to_vec())],
            vec![(format!("{long}/"), vec![])],
            vec![("l@".into(), "a".repeat(4096).into_bytes())],
            vec![("l@".into(), "a/".repeat(3000).into_bytes())],
        ];
        for entries in variants {
            let z = make_zip(&refs(&entries));
            let err = inspect(&z, &MANY).expect_err("refused");
            assert_eq!(err.code, ErrorCode::InvalidParameterValueZipFile);
        }
        // At the limits, accepted and unpacked.
        let entries: Vec<(String, Vec<u8>)> = vec![
            (format!("lib/{}", "n".repeat(255)), b"x".to_vec()),
            ("l@".into(), "a".repeat(4095).into_bytes()),
        ];
        let z = make_zip(&refs(&entries));
        inspect(&z, &MANY).expect("accepted");
        let dir = tempfile::tempdir().expect("tmp");
        extract(&z, dir.path()).expect("extract");
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
