//! `unshare(2)` for the namespaces named by `--unshare`.
//!
//! As root, every namespace can be created directly. Without root only a user
//! namespace can, so the launcher adds one itself and maps the caller's uid
//! and gid to 0 inside; that root-in-the-namespace may then create the others
//! (measured on this machine: `unshare --pid` fails with EPERM for uid 65534,
//! `unshare --user --map-root-user --pid` works).

use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getegid, geteuid};

use crate::cli::Namespaces;
use crate::failure::{Context, Failure};

/// What [`enter`] did, for the steps that follow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Entered {
    /// We created a user namespace where only id 0 is mapped and
    /// `setgroups(2)` is denied.
    pub own_user_ns: bool,
}

pub fn flags(ns: Namespaces, euid_is_root: bool) -> CloneFlags {
    let mut flags = CloneFlags::empty();
    for (wanted, flag) in [
        (ns.pid, CloneFlags::CLONE_NEWPID),
        (ns.mount, CloneFlags::CLONE_NEWNS),
        (ns.ipc, CloneFlags::CLONE_NEWIPC),
        (ns.uts, CloneFlags::CLONE_NEWUTS),
        (ns.net, CloneFlags::CLONE_NEWNET),
    ] {
        if wanted {
            flags |= flag;
        }
    }
    if ns.user || (!flags.is_empty() && !euid_is_root) {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    flags
}

/// Unshares the namespaces (all in one call, so the new user namespace owns
/// the others) and writes the id maps if a user namespace was created.
///
/// With `pid`, only children created afterwards land in the new PID
/// namespace: the caller must fork.
pub fn enter(ns: Namespaces) -> Result<Entered, Failure> {
    let (euid, egid) = (geteuid(), getegid());
    let flags = flags(ns, euid.is_root());
    if flags.is_empty() {
        return Ok(Entered::default());
    }
    unshare(flags).context(|| format!("unshare({})", describe(flags)))?;
    if !flags.contains(CloneFlags::CLONE_NEWUSER) {
        return Ok(Entered::default());
    }
    // A process may map just its own euid/egid into a namespace it created;
    // anything wider would need CAP_SETUID in the parent namespace, which it
    // no longer has once inside. The gid map additionally requires
    // `setgroups` to be denied first.
    match std::fs::write("/proc/self/setgroups", "deny") {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Failure::setup(format!("write /proc/self/setgroups: {e}")));
        }
        _ => {}
    }
    std::fs::write("/proc/self/uid_map", format!("0 {euid} 1\n"))
        .context(|| format!("write /proc/self/uid_map (0 {euid} 1)"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {egid} 1\n"))
        .context(|| format!("write /proc/self/gid_map (0 {egid} 1)"))?;
    Ok(Entered { own_user_ns: true })
}

fn describe(flags: CloneFlags) -> String {
    let names: Vec<&str> = [
        (CloneFlags::CLONE_NEWUSER, "user"),
        (CloneFlags::CLONE_NEWPID, "pid"),
        (CloneFlags::CLONE_NEWNS, "mount"),
        (CloneFlags::CLONE_NEWIPC, "ipc"),
        (CloneFlags::CLONE_NEWUTS, "uts"),
        (CloneFlags::CLONE_NEWNET, "net"),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, name)| name)
    .collect();
    names.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_needs_no_user_namespace() {
        let ns = Namespaces {
            pid: true,
            mount: true,
            ..Namespaces::default()
        };
        assert!(!flags(ns, true).contains(CloneFlags::CLONE_NEWUSER));
        assert!(flags(ns, false).contains(CloneFlags::CLONE_NEWUSER));
        assert!(flags(Namespaces::default(), false).is_empty());
        let user = Namespaces {
            user: true,
            ..Namespaces::default()
        };
        assert_eq!(flags(user, true), CloneFlags::CLONE_NEWUSER);
    }
}
