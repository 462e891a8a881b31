//! A percentage line on stderr (`Zipping ./app  42%`), rewritten in place. Only on a terminal:
//! in a log file or a CI transcript a hundred carriage returns are noise, and the step lines
//! around it already say what happened.

use std::io::{IsTerminal, Write};

pub struct Progress {
    label: String,
    total: u64,
    shown: Option<u64>,
    enabled: bool,
}

impl Progress {
    pub fn new(label: &str, total: u64) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            shown: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// `done` of `total` units are through.
    pub fn set(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let percent = percent(done, self.total);
        if self.shown != Some(percent) {
            self.shown = Some(percent);
            let _ = write!(std::io::stderr(), "\r{} {percent:>3}%", self.label);
        }
    }

    /// Ends the line (at 100%).
    pub fn finish(&mut self) {
        if self.enabled && self.shown.is_some() {
            self.set(self.total);
            let _ = writeln!(std::io::stderr());
            self.shown = None;
        }
    }
}

/// `done` of `total` as a whole percentage, 0..=100 (an empty total is done).
pub fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentages() {
        assert_eq!(super::percent(0, 200), 0);
        assert_eq!(super::percent(199, 200), 99);
        assert_eq!(super::percent(200, 200), 100);
        assert_eq!(super::percent(300, 200), 100);
        assert_eq!(super::percent(0, 0), 100);
    }
}
