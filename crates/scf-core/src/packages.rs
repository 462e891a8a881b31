//! Code packages on disk, content-addressed: `packages/<sha256>.zip` is the zip as uploaded
//! (written and fsynced before the API acknowledges it, so a restart can always unpack it again)
//! and `code/<sha256>/` its unpacked tree. Identical uploads are stored once.

use crate::zip_guard;
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The package folders under the data dir.
pub struct Packages {
    root: PathBuf,
    /// Held while writing a package and recording its first user, and while checking that a
    /// package has no user and removing it, so a removal never races a new upload of the same
    /// bytes.
    pub(crate) lock: tokio::sync::Mutex<()>,
    /// Packages that invocations run from (an instance starting from the tree, or running in
    /// it). An invocation reads its function a moment before it starts an instance; an
    /// UpdateFunctionCode meanwhile releases the old package, and removing its tree then
    /// failed that start (ENOENT on the bind of `code/<sha>`). A removal that finds a package
    /// here waits for its last holder instead. A std mutex: held for a map update and one
    /// rename, never across an await.
    pins: Mutex<HashMap<String, Pin>>,
}

/// How many invocations hold a package, and whether a removal waits for them to let go.
#[derive(Default)]
struct Pin {
    holders: usize,
    removal_waits: bool,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Packages {
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let root = data_dir.to_path_buf();
        std::fs::create_dir_all(root.join("packages"))?;
        std::fs::create_dir_all(root.join("code"))?;
        Ok(Packages {
            root,
            lock: tokio::sync::Mutex::new(()),
            pins: Mutex::new(HashMap::new()),
        })
    }

    fn pins(&self) -> MutexGuard<'_, HashMap<String, Pin>> {
        crate::lock(&self.pins)
    }

    /// One more invocation runs from package `sha256`. Taken before looking at the tree: a
    /// removal either sees the hold and waits, or has already taken the tree away (and the
    /// caller unpacks it again).
    pub(crate) fn pin(&self, sha256: &str) {
        self.pins().entry(sha256.to_string()).or_default().holders += 1;
    }

    /// One invocation less; true when it was the last holder and a removal waited for it.
    pub(crate) fn unpin(&self, sha256: &str) -> bool {
        let mut pins = self.pins();
        let Some(pin) = pins.get_mut(sha256) else {
            return false;
        };
        pin.holders = pin.holders.saturating_sub(1);
        if pin.holders > 0 {
            return false;
        }
        pins.remove(sha256).is_some_and(|p| p.removal_waits)
    }

    pub fn zip_path(&self, sha256: &str) -> PathBuf {
        self.root.join("packages").join(format!("{sha256}.zip"))
    }

    pub fn code_dir(&self, sha256: &str) -> PathBuf {
        self.root.join("code").join(sha256)
    }

    /// Writes the zip durably unless it is already there.
    pub fn store_zip(&self, sha256: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.zip_path(sha256);
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        sync_dir(path.parent().expect("packages/ has a parent"))
    }

    /// Unpacks the stored zip into `code/<sha>/` unless that is already done. The tree is built
    /// in a temporary folder and renamed into place, so a half-unpacked tree is never seen.
    pub fn unpack(&self, sha256: &str) -> io::Result<()> {
        let dir = self.code_dir(sha256);
        if dir.is_dir() {
            return Ok(());
        }
        let bytes = std::fs::read(self.zip_path(sha256))?;
        let tmp = self
            .root
            .join("code")
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&tmp)?;
        let result = zip_guard::extract(&bytes, &tmp).and_then(|()| std::fs::rename(&tmp, &dir));
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
            if dir.is_dir() {
                // Another task unpacked the same package first.
                return Ok(());
            }
        }
        result
    }

    /// Removes a package and its tree (callers check that no function uses it), unless an
    /// invocation holds it: then nothing is removed, the removal waits for the last holder
    /// ([`Packages::unpin`] says when), and this returns false.
    pub fn remove(&self, sha256: &str) -> io::Result<bool> {
        let doomed = {
            let mut pins = self.pins();
            if let Some(pin) = pins.get_mut(sha256) {
                pin.removal_waits = true;
                return Ok(false);
            }
            // Out of `code/` while the holds are locked, so that a hold taken after this finds
            // no tree rather than one on its way out; removed after, with the lock let go.
            let doomed = self
                .root
                .join("code")
                .join(format!(".tmp-removed-{}", uuid::Uuid::new_v4().simple()));
            std::fs::rename(self.code_dir(sha256), &doomed)
                .ok()
                .map(|()| doomed)
        };
        if let Some(doomed) = doomed {
            let _ = std::fs::remove_dir_all(doomed);
        }
        match std::fs::remove_file(self.zip_path(sha256)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(true),
        }
    }

    /// Leftovers of interrupted writes, removed at start-up.
    pub fn clean_temporaries(&self) {
        for sub in ["packages", "code"] {
            let Ok(entries) = std::fs::read_dir(self.root.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.contains(".tmp-") {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package as an upload leaves it: the zip and its unpacked tree.
    fn stored(p: &Packages, sha: &str) {
        std::fs::write(p.zip_path(sha), b"zip").expect("zip");
        std::fs::create_dir_all(p.code_dir(sha)).expect("tree");
        std::fs::write(p.code_dir(sha).join("index.py"), b"code").expect("file");
    }

    #[test]
    fn a_held_package_is_removed_only_after_its_last_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Packages::open(dir.path()).expect("open");
        stored(&p, "aa");
        p.pin("aa");
        p.pin("aa");
        assert!(!p.remove("aa").expect("remove"), "held: not removed");
        assert!(p.code_dir("aa").join("index.py").is_file());
        assert!(p.zip_path("aa").is_file());
        assert!(!p.unpin("aa"), "one holder is left");
        assert!(p.unpin("aa"), "the last holder hears that a removal waited");
        assert!(p.remove("aa").expect("remove"));
        assert!(!p.code_dir("aa").exists() && !p.zip_path("aa").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("code"))
            .expect("code/")
            .collect();
        assert!(left.is_empty(), "nothing left in code/: {left:?}");
    }

    #[test]
    fn a_hold_taken_after_a_removal_finds_no_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Packages::open(dir.path()).expect("open");
        stored(&p, "bb");
        assert!(p.remove("bb").expect("remove"), "nobody holds it");
        p.pin("bb");
        assert!(
            !p.code_dir("bb").is_dir(),
            "the holder sees it gone and unpacks again"
        );
        assert!(!p.unpin("bb"), "no removal waited for this hold");
    }
}
