//! The filesystem view inside a fresh mount namespace: `--hide`, `--tmpfs`,
//! `--bind-ro`, and a `/proc` that matches the new PID namespace.
//!
//! With `--new-root` the instance gets a root of its own instead of the host's with parts
//! hidden: a small tmpfs (read-only once built) holding only the `--tmpfs` and `--bind-ro`
//! targets, a `/dev` with `null`, `zero`, `full`, `random`, `urandom` and `tty` bound from the
//! host plus the usual `/dev/fd` links, and a fresh `/proc`; the launcher `pivot_root`s into
//! it and detaches the host's tree, so no path leads back to it. The tree is staged on a tmpfs
//! mounted over `/tmp` of the new mount namespace (a directory every host has).
//!
//! Without `--new-root`:
//! Order: make every mount private (so nothing propagates back to the host),
//! open every bind source, then all hides, then all tmpfs, then all read-only binds in the order
//! given, then the hides are remounted read-only. Hides stay writable until
//! the end so that a bind or tmpfs below a hidden directory can get its mount
//! point created there ("show `/root/.pyenv/versions/3.9.18` inside a hidden
//! `/root`").

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{chdir, pivot_root};

use crate::cli::{Plan, Tmpfs};
use crate::failure::{Context, Failure};

const NONE: Option<&str> = None;

/// Hidden directories get a tiny tmpfs: it only ever holds the mount points
/// created for binds below it. Mode 711: an unprivileged process can still
/// walk through to such a bind (an interpreter under /root) but cannot list
/// the directory, so a hidden data dir reads as "permission denied", not as
/// an empty folder.
const HIDE_DATA: &str = "mode=711,size=64k";

/// Sets up every mount of `plan`; `fresh_proc` mounts a new `/proc` (only
/// meaningful from inside the new PID namespace, i.e. in the forked child).
pub fn apply(plan: &Plan, fresh_proc: bool) -> Result<(), Failure> {
    mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_PRIVATE, NONE)
        .context(|| "make / private (mount --make-rprivate /)")?;
    let sources = open_sources(plan)?;
    if plan.new_root {
        return new_root(plan, &sources, fresh_proc);
    }
    in_place(plan, &sources, fresh_proc)
}

/// Opens every bind source before anything is hidden or the root moves: a source below a
/// hidden dir (a pyenv interpreter inside a hidden /root) is unreachable by path afterwards,
/// but its descriptor still names it.
fn open_sources(plan: &Plan) -> Result<Vec<OwnedFd>, Failure> {
    let mut sources = Vec::with_capacity(plan.binds.len());
    for bind in &plan.binds {
        let fd = open(&bind.src, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .context(|| format!("--bind-ro {}: open source", bind.src.display()))?;
        sources.push(fd);
    }
    Ok(sources)
}

/// Flags of a `--hide` tmpfs, kept when it is remounted read-only.
const HIDDEN: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Without `--new-root`: the host's tree, with the hides, then the tmpfs, then the read-only
/// binds on it, then the hides made read-only (the order the module doc gives).
fn in_place(plan: &Plan, sources: &[OwnedFd], fresh_proc: bool) -> Result<(), Failure> {
    // Directories we mounted a tmpfs on: mount points missing below them may
    // be created, since that only writes into our own throwaway tmpfs.
    let mut ours: Vec<&Path> = Vec::new();

    for dir in &plan.hides {
        mount(
            Some("scf-hide"),
            dir,
            Some("tmpfs"),
            HIDDEN,
            Some(HIDE_DATA),
        )
        .context(|| format!("--hide {}: mount tmpfs", dir.display()))?;
        ours.push(dir);
    }

    for tmpfs in &plan.tmpfs {
        ensure_mount_point(&tmpfs.dir, true, &ours)?;
        mount_tmpfs(tmpfs, &tmpfs.dir)?;
        ours.push(&tmpfs.dir);
    }

    for (bind, source) in plan.binds.iter().zip(sources) {
        let what = || format!("--bind-ro {}:{}", bind.src.display(), bind.dst.display());
        bind_at(source, &bind.dst, &ours, MsFlags::MS_RDONLY, &what)?;
    }

    seal_hides(plan)?;
    if fresh_proc {
        mount_proc(Path::new("/proc"))?;
    }
    Ok(())
}

/// Remounts every `--hide` tmpfs read-only, once the mount points below it are made.
fn seal_hides(plan: &Plan) -> Result<(), Failure> {
    for dir in &plan.hides {
        // A later mount exactly on the hidden dir covers it completely, and a
        // remount through the path would hit that mount instead.
        let covered =
            plan.tmpfs.iter().any(|t| t.dir == *dir) || plan.binds.iter().any(|b| b.dst == *dir);
        if covered {
            continue;
        }
        mount(
            NONE,
            dir,
            NONE,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | HIDDEN,
            NONE,
        )
        .context(|| format!("--hide {}: remount read-only", dir.display()))?;
    }
    Ok(())
}

/// Mounts the `--tmpfs` `tmpfs` (world-writable, sticky, its size capped) on `at`: its own
/// target, or that target in the staging tree.
fn mount_tmpfs(tmpfs: &Tmpfs, at: &Path) -> Result<(), Failure> {
    let data = format!("mode=1777,size={}", tmpfs.size);
    mount(
        Some("scf-tmp"),
        at,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(data.as_str()),
    )
    .context(|| format!("--tmpfs {}: mount tmpfs ({data})", tmpfs.dir.display()))
}

/// Mounts a fresh `/proc` (of the PID namespace the caller is in) on `at`.
fn mount_proc(at: &Path) -> Result<(), Failure> {
    mount(
        Some("proc"),
        at,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        NONE,
    )
    .context(|| "mount a fresh /proc")
}

fn locked_flags(fs: FsFlags) -> MsFlags {
    let mut ms = MsFlags::empty();
    for (f, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if fs.contains(f) {
            ms |= m;
        }
    }
    ms
}

/// Makes sure `path` exists so something can be mounted on it. A missing path
/// is created (directories 0755, a file 0644, whatever the umask) only inside
/// a tmpfs this launcher mounted; creating it anywhere else would write to
/// the host's filesystem.
fn ensure_mount_point(path: &Path, dir: bool, ours: &[&Path]) -> Result<(), Failure> {
    if path.try_exists().unwrap_or(false) {
        return Ok(());
    }
    if !ours.iter().any(|o| path.starts_with(o)) {
        return Err(Failure::setup(format!(
            "mount point {} does not exist (it is only created inside a --hide or --tmpfs directory)",
            path.display()
        )));
    }
    let parent = if dir {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    let mut missing: Vec<PathBuf> = Vec::new();
    for ancestor in parent.ancestors() {
        if ancestor.try_exists().unwrap_or(false) {
            break;
        }
        missing.push(ancestor.to_path_buf());
    }
    for d in missing.iter().rev() {
        DirBuilder::new()
            .mode(0o755)
            .create(d)
            .context(|| format!("create mount point {}", d.display()))?;
        // The inherited umask may have stripped the x bits another uid needs.
        std::fs::set_permissions(d, Permissions::from_mode(0o755))
            .context(|| format!("chmod 755 {}", d.display()))?;
    }
    if !dir {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .context(|| format!("create mount point {}", path.display()))?;
    }
    Ok(())
}

/// Where `--new-root` builds the root before moving into it.
const STAGING: &str = "/tmp";
/// The device nodes a function gets, bound from the host's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// The links every `/dev` has.
const DEV_LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// `dst` (absolute, inside the new root) as a path in the staging tree.
fn staged(dst: &Path) -> PathBuf {
    Path::new(STAGING).join(dst.strip_prefix("/").unwrap_or(dst))
}

/// Binds the file or directory open as `source` on `dst` (its mount point created as needed
/// inside `ours`), then remounts the bind with `flags` (`MS_RDONLY` for code and system
/// folders) on top of the flags the source's mount has.
fn bind_at(
    source: &OwnedFd,
    dst: &Path,
    ours: &[&Path],
    flags: MsFlags,
    what: &dyn Fn() -> String,
) -> Result<(), Failure> {
    let mode = fstat(source)
        .context(|| format!("{}: stat source", what()))?
        .st_mode;
    let src_is_dir = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
    ensure_mount_point(dst, src_is_dir, ours)?;
    // The magic link resolves to exactly the opened file, whatever is mounted over its path
    // by now. Not MS_REC: a recursive bind would bring submounts along, and the remount below
    // only applies to the top one.
    let by_fd = format!("/proc/self/fd/{}", source.as_raw_fd());
    mount(Some(by_fd.as_str()), dst, NONE, MsFlags::MS_BIND, NONE)
        .context(|| format!("{}: bind", what()))?;
    // A bind mount copies the source mount's flags; nosuid/nodev/noexec and the atime flags
    // must be repeated in the remount or the kernel refuses it inside a user namespace (they
    // are "locked").
    let kept = statvfs(dst)
        .map(|st| locked_flags(st.flags()))
        .context(|| format!("{}: statvfs", what()))?;
    mount(
        NONE,
        dst,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | kept,
        NONE,
    )
    .context(|| format!("{}: remount", what()))
}

/// `--new-root`: builds the instance's own root on the staging tmpfs, then moves into it.
fn new_root(plan: &Plan, sources: &[OwnedFd], fresh_proc: bool) -> Result<(), Failure> {
    // Opened, like the sources, while the host's tree is still there.
    let devices = open_devices()?;

    let staging = Path::new(STAGING);
    mount(
        Some("scf-root"),
        staging,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755,size=1m"),
    )
    .context(|| "--new-root: mount the root tmpfs")?;
    let ours: [&Path; 1] = [staging];

    stage_dev(&devices, &ours)?;
    for tmpfs in &plan.tmpfs {
        let dir = staged(&tmpfs.dir);
        ensure_mount_point(&dir, true, &ours)?;
        mount_tmpfs(tmpfs, &dir)?;
    }
    for (bind, source) in plan.binds.iter().zip(sources) {
        let what = || format!("--bind-ro {}:{}", bind.src.display(), bind.dst.display());
        let read_only = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID;
        bind_at(source, &staged(&bind.dst), &ours, read_only, &what)?;
    }
    let proc_dir = staged(Path::new("/proc"));
    ensure_mount_point(&proc_dir, true, &ours)?;
    if fresh_proc {
        mount_proc(&proc_dir)?;
    }
    enter_staged_root(staging)
}

/// Opens the host's [`DEVICES`], to be bound into the new root's `/dev`.
fn open_devices() -> Result<Vec<(&'static str, OwnedFd)>, Failure> {
    let mut devices = Vec::with_capacity(DEVICES.len());
    for dev in DEVICES {
        let path = format!("/dev/{dev}");
        let fd = open(
            path.as_str(),
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .context(|| format!("open {path}"))?;
        devices.push((dev, fd));
    }
    Ok(devices)
}

/// The new root's `/dev`: a small tmpfs with `devices` bound on it and [`DEV_LINKS`].
fn stage_dev(devices: &[(&str, OwnedFd)], ours: &[&Path]) -> Result<(), Failure> {
    let dev = staged(Path::new("/dev"));
    ensure_mount_point(&dev, true, ours)?;
    mount(
        Some("scf-dev"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755,size=64k"),
    )
    .context(|| "--new-root: mount /dev")?;
    for (name, fd) in devices {
        let dst = dev.join(name);
        // Writable: writing to /dev/null is its use.
        bind_at(
            fd,
            &dst,
            ours,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            &|| format!("/dev/{name}"),
        )?;
    }
    for (link, target) in DEV_LINKS {
        std::os::unix::fs::symlink(target, dev.join(link))
            .context(|| format!("--new-root: link /dev/{link}"))?;
    }
    Ok(())
}

/// Makes the built tree at `staging` the root, detaches the host's, and makes `/` and `/dev`
/// read-only.
fn enter_staged_root(staging: &Path) -> Result<(), Failure> {
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves the
    // new root alone, with no directory needed for the old one.
    chdir(staging).context(|| "--new-root: chdir")?;
    pivot_root(".", ".").context(|| "--new-root: pivot_root")?;
    umount2(".", MntFlags::MNT_DETACH).context(|| "--new-root: detach the host's root")?;
    chdir("/").context(|| "--new-root: chdir /")?;
    for (dir, extra) in [("/", MsFlags::MS_NODEV), ("/dev", MsFlags::MS_NOEXEC)] {
        mount(
            NONE,
            dir,
            NONE,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | extra,
            NONE,
        )
        .context(|| format!("--new-root: remount {dir} read-only"))?;
    }
    Ok(())
}
