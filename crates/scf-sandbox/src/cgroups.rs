//! Where our own cgroups live, from `/proc/self/cgroup` and
//! `/proc/self/mountinfo` (for `--probe`; joining is a plain write in
//! `launch`).
//!
//! Mount points are read from mountinfo rather than assumed, because the
//! layout differs between hosts: hybrid here (v1 `memory`/`pids` under
//! `/sys/fs/cgroup/<controller>`, v2 at `/sys/fs/cgroup/unified`), pure v2
//! elsewhere (`/sys/fs/cgroup`).

use std::path::PathBuf;

/// One cgroup filesystem mount.
#[derive(Debug, PartialEq, Eq)]
struct CgroupMount {
    /// Path inside the hierarchy that is mounted (usually `/`).
    root: String,
    mount_point: String,
    /// `None` for cgroup v2, else the v1 controllers (from super options).
    controllers: Option<Vec<String>>,
}

/// The directories holding this process's cgroups.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OwnCgroups {
    pub v1_memory: Option<PathBuf>,
    pub v1_pids: Option<PathBuf>,
    pub v1_freezer: Option<PathBuf>,
    pub v2: Option<PathBuf>,
}

pub fn discover() -> OwnCgroups {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let membership = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    locate(&mountinfo, &membership)
}

fn locate(mountinfo: &str, membership: &str) -> OwnCgroups {
    let mounts: Vec<CgroupMount> = mountinfo.lines().filter_map(parse_mount).collect();
    let mut own = OwnCgroups::default();
    for line in membership.lines() {
        // "hierarchy-id:controller,list:/path"; v2 is "0::/path".
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            own.v2 = mounts
                .iter()
                .filter(|m| m.controllers.is_none())
                .find_map(|m| resolve(m, path));
            continue;
        }
        for wanted in ["memory", "pids", "freezer"] {
            if !controllers.split(',').any(|c| c == wanted) {
                continue;
            }
            let dir = mounts
                .iter()
                .filter(|m| {
                    m.controllers
                        .as_ref()
                        .is_some_and(|c| c.iter().any(|c| c == wanted))
                })
                .find_map(|m| resolve(m, path));
            match wanted {
                "memory" => own.v1_memory = dir,
                "pids" => own.v1_pids = dir,
                _ => own.v1_freezer = dir,
            }
        }
    }
    own
}

/// Our cgroup `path` as seen through `mount`, if that mount shows it.
fn resolve(mount: &CgroupMount, path: &str) -> Option<PathBuf> {
    let below = if mount.root == "/" {
        path
    } else {
        let rest = path.strip_prefix(mount.root.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    };
    let mut dir = PathBuf::from(&mount.mount_point);
    let below = below.trim_start_matches('/');
    if !below.is_empty() {
        dir.push(below);
    }
    Some(dir)
}

/// Parses a mountinfo line if it is a cgroup mount:
/// `36 25 0:31 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory`.
fn parse_mount(line: &str) -> Option<CgroupMount> {
    let (before, after) = line.split_once(" - ")?;
    let before: Vec<&str> = before.split(' ').collect();
    let after: Vec<&str> = after.split(' ').collect();
    let (root, mount_point) = (before.get(3)?, before.get(4)?);
    let (fstype, super_options) = (after.first()?, after.get(2).unwrap_or(&""));
    let controllers = match *fstype {
        "cgroup2" => None,
        "cgroup" => Some(super_options.split(',').map(str::to_string).collect()),
        _ => return None,
    };
    Some(CgroupMount {
        root: unescape(root),
        mount_point: unescape(mount_point),
        controllers,
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
25 1 0:23 / /sys rw,nosuid - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
40 30 0:36 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
41 30 0:37 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct";

    #[test]
    fn hybrid_layout_of_this_machine() {
        let membership = "\
8:pids:/
4:memory:/process_api/3312d2e2
1:cpu,cpuacct:/
0::/";
        let own = locate(HYBRID_MOUNTINFO, membership);
        assert_eq!(
            own,
            OwnCgroups {
                v1_memory: Some("/sys/fs/cgroup/memory/process_api/3312d2e2".into()),
                v1_pids: Some("/sys/fs/cgroup/pids".into()),
                v1_freezer: None,
                v2: Some("/sys/fs/cgroup/unified".into()),
            }
        );
    }

    #[test]
    fn pure_v2_and_a_mount_rooted_below_the_top() {
        let mountinfo = "\
29 23 0:26 /user.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw
30 23 0:27 / /mnt/my\\040cg rw - cgroup cgroup rw,memory";
        let own = locate(mountinfo, "0::/user.slice/session-1.scope\n5:memory:/a b");
        assert_eq!(own.v2, Some("/sys/fs/cgroup/session-1.scope".into()));
        assert_eq!(own.v1_memory, Some("/mnt/my cg/a b".into()));
        assert_eq!(own.v1_pids, None);
        // A mount that does not show our cgroup is no answer.
        let own = locate(mountinfo, "0::/system.slice/x");
        assert_eq!(own.v2, None);
    }
}
