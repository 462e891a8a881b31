//! Code packages on disk, content-addressed: `packages/<sha256>.zip` is the zip as uploaded
//! (written and fsynced before the API acknowledges it, so a restart can always unpack it again)
//! and `code/<sha256>/` its unpacked tree. Identical uploads are stored once.

use crate::zip_guard;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The package folders under the data dir.
pub struct Packages {
    root: PathBuf,
    /// Held while writing a package and recording its first user, and while checking that a
    /// package has no user and removing it, so a removal never races a new upload of the same
    /// bytes.
    pub(crate) lock: tokio::sync::Mutex<()>,
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
        })
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

    /// Removes a package and its tree (callers check that no function uses it).
    pub fn remove(&self, sha256: &str) -> io::Result<()> {
        let _ = std::fs::remove_dir_all(self.code_dir(sha256));
        match std::fs::remove_file(self.zip_path(sha256)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
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
