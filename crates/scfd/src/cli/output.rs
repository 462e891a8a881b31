//! What the commands print: column tables, `key  value` detail blocks, and the few number and
//! status words they share. Pure string building; the commands write the result.

use serde_json::Value;

/// Columns separated by two spaces; numbers right-aligned; the last column not padded.
pub struct Table {
    headers: Vec<&'static str>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// `headers` ending in `#` are numeric columns (the `#` is not shown).
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.trim_end_matches('#')).collect(),
            numeric: headers.iter().map(|h| h.ends_with('#')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        // One line per row, whatever a cell holds.
        self.rows
            .push(cells.into_iter().map(|c| one_line(&c)).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for line in std::iter::once(&header).chain(&self.rows) {
            let mut text = String::new();
            for (i, (width, numeric)) in widths.iter().zip(&self.numeric).enumerate() {
                let cell = line.get(i).map(String::as_str).unwrap_or("");
                let pad = width.saturating_sub(cell.chars().count());
                if i > 0 {
                    text.push_str("  ");
                }
                if *numeric {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    if i + 1 < columns {
                        text.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key  value` lines, keys padded to one width; a value of several lines continues under
/// the first.
pub fn details(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let mut lines = value.lines();
        let first = lines.next().unwrap_or("");
        out.push_str(format!("{key:<width$}  {first}").trim_end());
        out.push('\n');
        for more in lines {
            out.push_str(format!("{:width$}  {more}", "").trim_end());
            out.push('\n');
        }
    }
    out
}

/// Tabs, newlines and other control characters as visible escapes.
fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .flat_map(|c| match c {
            '\n' => vec!['\\', 'n'],
            '\r' => vec!['\\', 'r'],
            '\t' => vec![' '],
            c if c.is_control() => vec!['?'],
            c => vec![c],
        })
        .collect()
}

/// GetRequestStatus's RetCode: 1 running, 0 succeeded, -1 failed.
pub fn request_status_word(ret_code: i64) -> &'static str {
    match ret_code {
        0 => "succeeded",
        1 => "running",
        _ => "failed",
    }
}

/// GetFunctionLogs's RetCode (its own codes): 0 succeeded, 2 running, anything else failed.
pub fn log_status_word(ret_code: i64) -> &'static str {
    match ret_code {
        0 => "succeeded",
        2 => "running",
        _ => "failed",
    }
}

/// Milliseconds for a table: whole from 100 ms, one decimal from 1 ms, two below (a warm
/// call of a small handler takes a few hundredths).
pub fn millis(ms: f64) -> String {
    if ms >= 100.0 || ms.fract() == 0.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// Megabytes with one decimal.
pub fn megabytes(mb: f64) -> String {
    format!("{mb:.1}")
}

/// Bytes as B / KiB / MiB for humans.
pub fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / KIB / KIB)
    }
}

/// A field as text: strings as they are, numbers and others as JSON, absent as empty.
pub fn text(v: &Value, field: &str) -> String {
    match v.get(field) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub fn number(v: &Value, field: &str) -> f64 {
    v.get(field).and_then(Value::as_f64).unwrap_or(0.0)
}

pub fn integer(v: &Value, field: &str) -> i64 {
    v.get(field)
        .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["REQUEST ID", "STATUS", "DURATION MS#", "NOTE"]);
        assert!(t.is_empty());
        t.row(vec![
            "a".into(),
            "succeeded".into(),
            "12".into(),
            "x".into(),
        ]);
        t.row(vec![
            "bbbb".into(),
            "failed".into(),
            "1530".into(),
            "two\nlines".into(),
        ]);
        assert_eq!(
            t.render(),
            "REQUEST ID  STATUS     DURATION MS  NOTE\n\
             a           succeeded           12  x\n\
             bbbb        failed            1530  two\\nlines\n"
        );
    }

    #[test]
    fn a_short_row_and_an_empty_last_cell_leave_no_trailing_space() {
        let mut t = Table::new(&["NAME", "DESCRIPTION"]);
        t.row(vec!["hello".into(), String::new()]);
        t.row(vec!["x".into()]);
        assert_eq!(t.render(), "NAME   DESCRIPTION\nhello\nx\n");
    }

    #[test]
    fn detail_blocks() {
        let text = details(&[
            ("Status", "succeeded".into()),
            ("Return value", "line one\nline two".into()),
            ("Empty", String::new()),
        ]);
        assert_eq!(
            text,
            "Status        succeeded\n\
             Return value  line one\n\
             \x20             line two\n\
             Empty\n"
        );
    }

    #[test]
    fn words_and_numbers() {
        assert_eq!(request_status_word(1), "running");
        assert_eq!(request_status_word(0), "succeeded");
        assert_eq!(request_status_word(-1), "failed");
        assert_eq!(log_status_word(2), "running");
        assert_eq!(log_status_word(0), "succeeded");
        assert_eq!(log_status_word(-1), "failed");
        assert_eq!(millis(12.0), "12");
        assert_eq!(millis(0.43), "0.43");
        assert_eq!(millis(0.021), "0.02");
        assert_eq!(millis(12.44), "12.4");
        assert_eq!(millis(1530.6), "1531");
        assert_eq!(megabytes(8.26), "8.3");
        assert_eq!(size(10), "10 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 20), "3.0 MiB");
        let v = serde_json::json!({"s": "x", "n": 3, "f": 2.5, "z": null});
        assert_eq!(text(&v, "s"), "x");
        assert_eq!(text(&v, "n"), "3");
        assert_eq!(text(&v, "z"), "");
        assert_eq!(text(&v, "missing"), "");
        assert_eq!(integer(&v, "f"), 2);
        assert_eq!(number(&v, "f"), 2.5);
    }
}
