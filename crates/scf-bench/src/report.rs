//! The results of a run, and their two renderings: a Markdown table (for BENCHMARKS.md) and a
//! JSON file (for tools).

use crate::load::LoadResult;
use crate::machine::Machine;
use crate::proc_stats::Cpu;
use serde::Serialize;
use std::collections::BTreeMap;

/// A figure of another system (or of the same machine without scfd) beside an scfd figure.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: String,
    /// The baseline's figure, as shown.
    pub value: String,
    /// scfd's figure divided by the baseline's (latency: times slower; throughput: share).
    pub ratio: f64,
    pub is_throughput: bool,
}

/// A target of issue 4 and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub text: String,
    pub figure: String,
    pub met: bool,
}

/// One line of the table.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Row {
    pub group: String,
    pub scenario: String,
    pub clients: usize,
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub throughput: Option<f64>,
    pub server_cpu_s: Option<f64>,
    pub instances_cpu_s: Option<f64>,
    /// VmHWM of scfd at the end of the row, MB.
    pub server_hwm_mb: Option<f64>,
    /// RSS of every process below scfd at the end of the row, MB.
    pub instances_rss_mb: Option<f64>,
    pub comparisons: Vec<Comparison>,
    pub targets: Vec<Target>,
    pub note: String,
}

impl Row {
    pub fn new(group: &str, scenario: impl Into<String>, clients: usize) -> Self {
        Row {
            group: group.into(),
            scenario: scenario.into(),
            clients,
            ..Row::default()
        }
    }

    /// Fills the latency and throughput figures from a load run.
    pub fn with_load(mut self, r: &LoadResult) -> Self {
        self.requests = r.total();
        self.errors = r.errors.clone();
        if r.total() > 0 {
            self.p50_ms = Some(r.ms(0.5));
            self.p99_ms = Some(r.ms(0.99));
            self.p999_ms = Some(r.ms(0.999));
            self.max_ms = Some(r.histogram.max() as f64 / 1e6);
            self.throughput = Some(r.throughput());
        }
        self
    }

    pub fn with_cpu(mut self, cpu: Cpu) -> Self {
        self.server_cpu_s = Some(cpu.server);
        self.instances_cpu_s = Some(cpu.instances);
        self
    }

    pub fn with_memory(mut self, server_pid: u32) -> Self {
        self.server_hwm_mb = crate::proc_stats::status_kb(server_pid, "VmHWM:").map(mb);
        self.instances_rss_mb = Some(mb(crate::proc_stats::descendants_rss_kb(server_pid)));
        self
    }

    /// Compares this row's p50 with a baseline's.
    pub fn vs_latency(mut self, baseline: &str, baseline_p50_ms: Option<f64>) -> Self {
        if let (Some(ours), Some(theirs)) = (self.p50_ms, baseline_p50_ms)
            && theirs > 0.0
        {
            self.comparisons.push(Comparison {
                baseline: baseline.into(),
                value: format!("{} ms", fmt_ms(theirs)),
                ratio: ours / theirs,
                is_throughput: false,
            });
        }
        self
    }

    /// Compares this row's throughput with a baseline's.
    pub fn vs_throughput(mut self, baseline: &str, baseline_rps: Option<f64>) -> Self {
        if let (Some(ours), Some(theirs)) = (self.throughput, baseline_rps)
            && theirs > 0.0
        {
            self.comparisons.push(Comparison {
                baseline: baseline.into(),
                value: format!("{}/s", fmt_int(theirs)),
                ratio: ours / theirs,
                is_throughput: true,
            });
        }
        self
    }

    pub fn target(mut self, text: &str, figure: String, met: bool) -> Self {
        self.targets.push(Target {
            text: text.into(),
            figure,
            met,
        });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        let note = note.into();
        if !self.note.is_empty() {
            self.note.push_str("; ");
        }
        self.note.push_str(&note);
        self
    }
}

pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

pub fn fmt_ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3}")
    } else if v < 100.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.0}")
    }
}

pub fn fmt_int(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub quick: bool,
    pub scfd_binary: String,
    pub elapsed_seconds: f64,
    pub rows: Vec<Row>,
    /// Anything a reader should know that is not a figure (skipped peers, load times).
    pub notes: Vec<String>,
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "–".into())
}

impl Report {
    /// The run as BENCHMARKS.md shows it: a header, the table, the targets and the notes.
    pub fn markdown(&self) -> String {
        let mut s = self.header();
        s.push_str(&self.table());
        s.push_str(&self.targets_summary());
        s.push_str(&self.notes_list());
        s
    }

    /// The title, the machine and how to read the figures.
    fn header(&self) -> String {
        let m = &self.machine;
        let mut s = format!(
            "### scf-bench{} — {}\n\n\
             Machine: {} ({} cores), {:.1} GiB RAM, Linux {}, {}. scfd: `{}`. Suite time: {:.0} s.\n\n",
            if self.quick { " --quick" } else { "" },
            m.date,
            m.cpu_model,
            m.cores,
            m.memory_gib,
            m.kernel,
            m.rustc,
            self.scfd_binary,
            self.elapsed_seconds
        );
        s.push_str(
            "Latencies in ms (round trip seen by the client, HDR histogram); CPU = user+sys seconds \
             during the measured window (scfd / everything below it); memory = scfd's VmHWM / \
             the instances' RSS sum at the end, MB. Ratios: ×N = N times the baseline's p50; \
             % = share of the baseline's throughput.\n\n",
        );
        s
    }

    /// The column heads, then every row, with a bold line wherever the group changes.
    fn table(&self) -> String {
        let mut s = String::from(
            "| Scenario | Clients | Requests | Errors | p50 | p99 | p99.9 | Throughput /s | CPU s scfd / inst | MB scfd HWM / inst | Baselines (ratio) | Target | Notes |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n",
        );
        let mut group = "";
        for r in &self.rows {
            if r.group != group {
                group = &r.group;
                s.push_str(&format!("| **{group}** | | | | | | | | | | | | |\n"));
            }
            s.push_str(&r.table_line());
        }
        s
    }

    /// Every row's targets again, in one table, and how many were met (nothing without any).
    fn targets_summary(&self) -> String {
        let targets: Vec<&Target> = self.rows.iter().flat_map(|r| &r.targets).collect();
        if targets.is_empty() {
            return String::new();
        }
        let mut s = String::from("\n#### Targets\n\n| Target | This run | |\n|---|---|---|\n");
        for t in &targets {
            s.push_str(&format!(
                "| {} | {} | {} |\n",
                t.text,
                t.figure,
                if t.met { "met" } else { "**missed**" }
            ));
        }
        let met = targets.iter().filter(|t| t.met).count();
        s.push_str(&format!("\n{met} of {} targets met.\n", targets.len()));
        s
    }

    /// The notes as a list (nothing without any).
    fn notes_list(&self) -> String {
        if self.notes.is_empty() {
            return String::new();
        }
        let mut s = String::from("\n#### Notes\n\n");
        for n in &self.notes {
            s.push_str(&format!("- {n}\n"));
        }
        s
    }
}

impl Row {
    /// The row's line of the table; `–` where it has no figure.
    fn table_line(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            self.scenario,
            if self.clients == 0 {
                "–".to_string()
            } else {
                self.clients.to_string()
            },
            if self.requests == 0 {
                "–".to_string()
            } else {
                fmt_int(self.requests as f64)
            },
            self.errors_cell(),
            opt(self.p50_ms, fmt_ms),
            opt(self.p99_ms, fmt_ms),
            opt(self.p999_ms, fmt_ms),
            opt(self.throughput, fmt_int),
            self.cpu_cell(),
            self.memory_cell(),
            self.comparisons_cell(),
            self.targets_cell(),
            self.note
        )
    }

    fn errors_cell(&self) -> String {
        if self.errors.is_empty() {
            return "0".to_string();
        }
        self.errors
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn cpu_cell(&self) -> String {
        match (self.server_cpu_s, self.instances_cpu_s) {
            (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
            (Some(a), None) => format!("{a:.2} / –"),
            _ => "–".into(),
        }
    }

    fn memory_cell(&self) -> String {
        match (self.server_hwm_mb, self.instances_rss_mb) {
            (Some(a), Some(b)) => format!("{a:.1} / {b:.1}"),
            (Some(a), None) => format!("{a:.1}"),
            (None, Some(b)) => format!("– / {b:.1}"),
            _ => "–".into(),
        }
    }

    fn comparisons_cell(&self) -> String {
        self.comparisons
            .iter()
            .map(|c| {
                if c.is_throughput {
                    format!("{} {}: {:.0}%", c.baseline, c.value, c.ratio * 100.0)
                } else {
                    format!("{} {}: ×{:.1}", c.baseline, c.value, c.ratio)
                }
            })
            .collect::<Vec<_>>()
            .join("<br>")
    }

    fn targets_cell(&self) -> String {
        self.targets
            .iter()
            .map(|t| {
                format!(
                    "{}: {} **{}**",
                    t.text,
                    t.figure,
                    if t.met { "met" } else { "missed" }
                )
            })
            .collect::<Vec<_>>()
            .join("<br>")
    }
}
