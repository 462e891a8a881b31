//! Which runtimes this machine can serve, and how to start each.
//!
//! Interpreters are found once at start-up. The `python3` on PATH may be a pyenv shim (a bash
//! script costing ~70 ms a start), so PATH entries are resolved to real binaries and shims are
//! skipped. For `PythonX.Y`, the exact version is used where the machine has it (pyenv's
//! `~/.pyenv/versions/X.Y.*`, `/usr/bin/pythonX.Y`); otherwise the nearest Python 3, and the
//! function's StatusReasons say so.

use std::path::{Path, PathBuf};

/// How a function of some runtime is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// `interpreter bootstrap` speaking the JSON-line protocol.
    Interpreter { program: PathBuf, kind: Language },
    /// The package's own executable `bootstrap`, speaking SCF's runtime HTTP API.
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Python,
    Node,
}

/// Interpreters found on this machine.
#[derive(Debug, Clone, Default)]
pub struct Interpreters {
    /// `(major, minor, path)` of every real Python 3 found.
    pub pythons: Vec<(u32, u32, PathBuf)>,
    pub node: Option<PathBuf>,
}

/// Interpreter overrides from the config.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InterpreterConfig {
    /// Use this Python for every Python runtime.
    pub python: Option<PathBuf>,
    pub node: Option<PathBuf>,
}

fn is_script(path: &Path) -> bool {
    // A shim is a text file starting with `#!`; a real interpreter is an ELF binary. Only the
    // first two bytes are read (node is a 100 MB binary).
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|()| &head == b"#!")
        .unwrap_or(true)
}

fn python_version(path: &Path) -> Option<(u32, u32)> {
    let name = path.file_name()?.to_str()?;
    let v = name.strip_prefix("python")?;
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

impl Interpreters {
    /// Looks around the machine once.
    pub fn detect(config: &InterpreterConfig) -> Self {
        let mut pythons = Vec::new();
        if let Some(p) = &config.python {
            if let Some(v) = probe_python(p) {
                pythons.push((v.0, v.1, p.clone()));
            }
        } else {
            // System interpreters first: they start faster (pyenv's site imports more) and the
            // sandbox user can read them without a bind.
            let mut candidates: Vec<PathBuf> = Vec::new();
            for dir in ["/usr/bin", "/usr/local/bin"] {
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for e in entries.flatten() {
                        if python_version(&e.path()).is_some_and(|(ma, _)| ma == 3) {
                            candidates.push(e.path());
                        }
                    }
                }
            }
            if let Some(home) = std::env::var_os("HOME")
                .map(PathBuf::from)
                .or(Some(PathBuf::from("/root")))
            {
                let versions = home.join(".pyenv/versions");
                if let Ok(entries) = std::fs::read_dir(&versions) {
                    for e in entries.flatten() {
                        let name = e.file_name().to_string_lossy().to_string();
                        let mut parts = name.split('.');
                        if let (Some(ma), Some(mi)) = (parts.next(), parts.next()) {
                            candidates.push(e.path().join("bin").join(format!("python{ma}.{mi}")));
                        }
                    }
                }
            }
            for c in candidates {
                let Ok(real) = std::fs::canonicalize(&c) else {
                    continue;
                };
                if is_script(&real) {
                    continue;
                }
                if let Some((ma, mi)) = python_version(&c).filter(|(ma, _)| *ma == 3)
                    && !pythons.iter().any(|(a, b, _)| (*a, *b) == (ma, mi))
                {
                    pythons.push((ma, mi, c));
                }
            }
        }
        // System interpreters first: they are readable by the sandbox user.
        pythons.sort_by_key(|(ma, mi, p)| (!p.starts_with("/usr"), *ma, *mi));
        let node = config.node.clone().or_else(|| {
            ["/usr/bin/node", "/usr/local/bin/node"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .and_then(|p| std::fs::canonicalize(p).ok())
                .filter(|p| !is_script(p))
        });
        Interpreters { pythons, node }
    }

    /// How to start `runtime`, and a note when it runs on a different version than it names.
    pub fn launch(&self, runtime: &str) -> Result<(Launch, Option<String>), String> {
        if runtime == "CustomRuntime" {
            return Ok((Launch::Custom, None));
        }
        if let Some(v) = runtime.strip_prefix("Python") {
            let want = v
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
            let Some((ma, mi)) = want.filter(|(ma, _)| *ma == 3) else {
                return Err(self.unavailable(runtime));
            };
            if let Some((_, _, p)) = self.pythons.iter().find(|(a, b, _)| (*a, *b) == (ma, mi)) {
                let p = p.clone();
                return Ok((
                    Launch::Interpreter {
                        program: p,
                        kind: Language::Python,
                    },
                    None,
                ));
            }
            let nearest = self
                .pythons
                .iter()
                .min_by_key(|(a, b, p)| {
                    ((*a as i64 * 100 + *b as i64) - (ma as i64 * 100 + mi as i64)).abs() * 2
                        + i64::from(!p.starts_with("/usr"))
                })
                .ok_or_else(|| self.unavailable(runtime))?;
            let note = format!(
                "{runtime} runs on Python {}.{} ({}): this machine has no Python {ma}.{mi}.",
                nearest.0,
                nearest.1,
                nearest.2.display()
            );
            return Ok((
                Launch::Interpreter {
                    program: nearest.2.clone(),
                    kind: Language::Python,
                },
                Some(note),
            ));
        }
        if runtime.starts_with("Nodejs") {
            return match &self.node {
                Some(p) => Ok((
                    Launch::Interpreter {
                        program: p.clone(),
                        kind: Language::Node,
                    },
                    None,
                )),
                None => Err(self.unavailable(runtime)),
            };
        }
        Err(self.unavailable(runtime))
    }

    /// The runtime names this machine can serve.
    pub fn servable(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if !self.pythons.is_empty() {
            for v in ["3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12"] {
                out.push(format!("Python{v}"));
            }
        }
        if self.node.is_some() {
            for v in ["12.16", "14.18", "16.13", "18.15", "20.x"] {
                out.push(format!("Nodejs{v}"));
            }
        }
        out.push("CustomRuntime".into());
        out
    }

    fn unavailable(&self, runtime: &str) -> String {
        format!(
            "Runtime {runtime} cannot run on this server; it serves {}.",
            self.servable().join(", ")
        )
    }
}

fn probe_python(path: &Path) -> Option<(u32, u32)> {
    let out = std::process::Command::new(path)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .env_clear()
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut it = text.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Interpreters {
        Interpreters {
            pythons: vec![
                (3, 11, "/usr/bin/python3.11".into()),
                (3, 9, "/root/.pyenv/versions/3.9.18/bin/python3.9".into()),
            ],
            node: Some("/usr/bin/node".into()),
        }
    }

    #[test]
    fn picks_exact_then_nearest_python() {
        let i = sample();
        let (l, note) = i.launch("Python3.9").expect("served");
        assert_eq!(
            l,
            Launch::Interpreter {
                program: "/root/.pyenv/versions/3.9.18/bin/python3.9".into(),
                kind: Language::Python
            }
        );
        assert!(note.is_none());
        let (l, note) = i.launch("Python3.12").expect("served");
        assert_eq!(
            l,
            Launch::Interpreter {
                program: "/usr/bin/python3.11".into(),
                kind: Language::Python
            }
        );
        assert!(note.expect("a note").contains("no Python 3.12"));
        assert!(
            i.launch("Python2.7")
                .expect_err("no py2")
                .contains("Python3.9")
        );
        assert!(matches!(
            i.launch("Nodejs18.15"),
            Ok((
                Launch::Interpreter {
                    kind: Language::Node,
                    ..
                },
                None
            ))
        ));
        assert!(matches!(
            i.launch("CustomRuntime"),
            Ok((Launch::Custom, None))
        ));
        assert!(i.launch("Go1").is_err());
        let none = Interpreters::default();
        assert!(none.launch("Nodejs18.15").is_err());
    }

    #[test]
    fn detects_this_machine_without_shims() {
        let i = Interpreters::detect(&InterpreterConfig::default());
        for (_, _, p) in &i.pythons {
            assert!(
                !is_script(&std::fs::canonicalize(p).expect("exists")),
                "{} is a shim",
                p.display()
            );
        }
    }
}
