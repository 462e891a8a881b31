//! CPU and memory of a process and its descendants, from `/proc`.
//!
//! CPU is user+sys from `/proc/PID/stat`. The server's own figure is its `utime+stime`; the
//! instances' figure is everything below it: the live descendants' own and reaped-children
//! times, plus the server's `cutime+cstime` (instances that already exited and were waited for).

use std::collections::HashMap;

/// Clock ticks per second for `/proc/PID/stat` (`getconf CLK_TCK`; 100 on every Linux we know).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The fields of `/proc/PID/stat` the suite uses.
struct Stat {
    ppid: u32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        ppid: num(1)? as u32,
        utime: num(11)?,
        stime: num(12)?,
        cutime: num(13)?,
        cstime: num(14)?,
    })
}

/// The start time of a process (field 22 of `/proc/PID/stat`, clock ticks since boot), which
/// tells a process from a later one that reused its pid.
pub fn start_time(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Every live descendant of `root`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(s) = stat(pid) {
                children.entry(s.ppid).or_default().push(pid);
            }
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if let Some(kids) = children.get(&p) {
            for &k in kids {
                out.push(k);
                stack.push(k);
            }
        }
    }
    out
}

/// CPU seconds so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub server: f64,
    pub instances: f64,
}

pub fn cpu(server: u32) -> Cpu {
    let hz = clock_ticks();
    let Some(s) = stat(server) else {
        return Cpu::default();
    };
    let mut instances = (s.cutime + s.cstime) as f64;
    for pid in descendants(server) {
        if let Some(d) = stat(pid) {
            instances += (d.utime + d.stime + d.cutime + d.cstime) as f64;
        }
    }
    Cpu {
        server: (s.utime + s.stime) as f64 / hz,
        instances: instances / hz,
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, rhs: Cpu) -> Cpu {
        Cpu {
            server: self.server - rhs.server,
            instances: (self.instances - rhs.instances).max(0.0),
        }
    }
}

/// A `kB` line of `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in kB.
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The RSS of every descendant of `root`, summed, in kB.
pub fn descendants_rss_kb(root: u32) -> u64 {
    descendants(root)
        .into_iter()
        .filter_map(|p| status_kb(p, "VmRSS:"))
        .sum()
}

/// The executable of a process (`/proc/PID/exe`), for the report.
pub fn exe(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "?".into())
}
