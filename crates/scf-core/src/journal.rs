//! The held-outcome journal: a sync request's outcome that the store refused (an outage, a full
//! disk) is appended here and fsynced before its caller gets the answer, so a node killed
//! before the store is back still records what it answered.
//!
//! One file in the data dir, `held-outcomes.jsonl`, one JSON object per line. It is emptied
//! when the last held outcome is in the store, and read back at start, where its outcomes go
//! to the store before the restart fails this node's running requests (an outcome written
//! later still wins: outcomes are upserts). A line torn by a kill during its append belongs to
//! a request whose caller got no answer; it is skipped, and the restart fails that request as
//! it would without a journal.
//!
//! Only the outage path writes here; an invocation while the store takes outcomes never
//! touches the file. When the journal itself cannot be written (the same full disk), the
//! outcome is still held in memory, as before the journal, and the failure is logged.

use scf_store::{FunctionKey, RequestRecord, Scope};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub(crate) const FILE_NAME: &str = "held-outcomes.jsonl";

/// One line. `RequestRecord` leaves its key fields out of its serde form (the stores keep them
/// in columns of their own), so they are carried beside it.
#[derive(Serialize, Deserialize)]
struct Line<R> {
    app_id: u64,
    region: String,
    namespace: String,
    name: String,
    request_id: String,
    ret_code: i64,
    start_ms: i64,
    record: R,
}

pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes of whole lines in the file: a failed append is cut back to this.
    len: u64,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and returns the outcomes it holds, in the order
    /// they were held.
    pub(crate) fn open(dir: &Path) -> std::io::Result<(Journal, Vec<RequestRecord>)> {
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut records = Vec::new();
        let mut len = 0u64;
        let mut torn = 0usize;
        let mut reader = BufReader::new(&file);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            match (buf.last() == Some(&b'\n'))
                .then(|| serde_json::from_slice::<Line<RequestRecord>>(&buf))
            {
                Some(Ok(line)) => {
                    len += n as u64;
                    records.push(line.into_record());
                }
                _ => torn += 1,
            }
        }
        if torn > 0 {
            tracing::warn!(path = %path.display(), torn, "skipped torn lines of the held-outcome journal (appends cut short by a stop; their callers got no answer)");
        }
        let mut journal = Journal { file, path, len };
        if torn > 0 {
            // Rewritten without them: a later append must not run on from a torn line.
            journal.clear()?;
            for r in &records {
                journal.append(r)?;
            }
        }
        Ok((journal, records))
    }

    /// Appends `record` and waits until it is on disk.
    pub(crate) fn append(&mut self, record: &RequestRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&Line::of(record)).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A partial line would swallow the next one when read back.
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Empties the journal: every outcome in it is in the store.
    pub(crate) fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_data()?;
        self.len = 0;
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl<'a> Line<&'a RequestRecord> {
    fn of(r: &'a RequestRecord) -> Self {
        Line {
            app_id: r.function.scope.app_id,
            region: r.function.scope.region.clone(),
            namespace: r.function.namespace.clone(),
            name: r.function.name.clone(),
            request_id: r.request_id.clone(),
            ret_code: r.outcome.ret_code(),
            start_ms: r.start_ms,
            record: r,
        }
    }
}

impl Line<RequestRecord> {
    fn into_record(self) -> RequestRecord {
        let mut r = self.record;
        r.function = FunctionKey {
            scope: Scope {
                app_id: self.app_id,
                region: self.region,
            },
            namespace: self.namespace,
            name: self.name,
        };
        r.request_id = self.request_id;
        r.outcome = r.outcome.with_ret_code(self.ret_code);
        r.start_ms = self.start_ms;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, app_id: u64) -> RequestRecord {
        let key = FunctionKey {
            scope: Scope {
                app_id,
                region: "ap-guangzhou".into(),
            },
            namespace: "default".into(),
            name: "f".into(),
        };
        let mut r = RequestRecord::accepted(key, id.into(), "$LATEST".into(), false, 1_700_000);
        r.outcome = scf_store::RequestOutcome::Succeeded;
        r.ret_msg = format!("\"answer of {id}\"\n with a newline");
        r.end_ms = Some(1_700_010);
        r
    }

    #[test]
    fn outcomes_come_back_whole_and_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut j, held) = Journal::open(dir.path()).expect("test io");
        assert!(held.is_empty());
        let (a, b) = (record("a", 1), record("b", 2));
        j.append(&a).expect("append");
        j.append(&b).expect("append");
        drop(j);
        let (_, held) = Journal::open(dir.path()).expect("test io");
        assert_eq!(held, vec![a, b]);
    }

    #[test]
    fn a_cleared_journal_holds_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut j, _) = Journal::open(dir.path()).expect("test io");
        j.append(&record("a", 1)).expect("test io");
        j.clear().expect("clear");
        j.append(&record("b", 1)).expect("test io");
        drop(j);
        let (_, held) = Journal::open(dir.path()).expect("test io");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].request_id, "b");
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_rest_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut j, _) = Journal::open(dir.path()).expect("test io");
        j.append(&record("a", 1)).expect("test io");
        drop(j);
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE_NAME))
            .expect("test io");
        f.write_all(br#"{"app_id":1,"region":"ap-gu"#)
            .expect("test io");
        drop(f);
        let (mut j, held) = Journal::open(dir.path()).expect("test io");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].request_id, "a");
        j.append(&record("c", 1)).expect("test io");
        drop(j);
        let (_, held) = Journal::open(dir.path()).expect("test io");
        let ids: Vec<&str> = held.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids, ["a", "c"], "an append after a torn line is read back");
    }
}
