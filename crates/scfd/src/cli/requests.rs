//! `scfd status`, `scfd logs` and `scfd requests`: what became of requests, from
//! GetRequestStatus and GetFunctionLogs.

use super::client::Client;
use super::function::{function_params, pretty};
use super::output::{
    Table, details, integer, log_status_word, megabytes, millis, number, request_status_word, text,
};
use super::{CliError, LogsArgs, RequestsArgs, StatusArgs, line, note, print};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// SCF's time strings are Beijing time (UTC+8); a server may be set to another offset.
const SCF_OFFSET_SECONDS: i32 = 8 * 3600;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// How often `logs --follow` asks.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// How many of the newest requests `--follow` looks at each time: more than can start in a
/// second for any function one watches by eye.
const FOLLOW_PAGE: u32 = 100;

/// A StartTime/EndTime pair wide enough for every record a server keeps (72 h by default),
/// whatever UTC offset its time strings use: the APIs' own defaults (15 minutes for
/// GetRequestStatus, a day for GetFunctionLogs) would hide an older request.
pub fn wide_window(now_ms: i64) -> (String, String) {
    use scf_types::time::format_datetime;
    (
        format_datetime(now_ms - 7 * DAY_MS, SCF_OFFSET_SECONDS),
        format_datetime(now_ms + DAY_MS, SCF_OFFSET_SECONDS),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn windowed(mut p: Map<String, Value>) -> Map<String, Value> {
    let (start, end) = wide_window(now_ms());
    p.insert("StartTime".into(), json!(start));
    p.insert("EndTime".into(), json!(end));
    p
}

/// The detail block of one GetRequestStatus record.
pub fn status_details(r: &Value) -> String {
    details(&[
        ("Request", text(r, "RequestId")),
        ("Function", text(r, "FunctionName")),
        ("Status", request_status_word(integer(r, "RetCode")).into()),
        ("Started", text(r, "StartTime")),
        ("Duration", format!("{} ms", millis(number(r, "Duration")))),
        ("Memory", format!("{} MB", megabytes(number(r, "MemUsage")))),
        ("Retries", integer(r, "RetryNum").to_string()),
        ("Return value", text(r, "RetMsg")),
    ])
}

pub fn status(client: &Client, args: &StatusArgs) -> Result<(), CliError> {
    let mut p = function_params(&args.name, args.namespace.as_deref());
    p.insert("FunctionRequestId".into(), json!(args.request_id));
    let answer = client.call("GetRequestStatus", &Value::Object(windowed(p)))?;
    if args.json {
        return print(&pretty(&answer));
    }
    match answer
        .get("Data")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
    {
        Some(record) => print(&status_details(record)),
        None => Err(CliError::Failed(format!(
            "no record of request {} of function {} (records are kept for a limited time, 72 h by default)",
            args.request_id, args.name
        ))),
    }
}

/// One GetFunctionLogs page, newest first.
fn fetch_logs(
    client: &Client,
    name: &str,
    namespace: Option<&str>,
    request: Option<&str>,
    limit: u32,
) -> Result<Vec<Value>, CliError> {
    let mut p = function_params(name, namespace);
    p.insert("Limit".into(), json!(limit));
    p.insert("Order".into(), json!("desc"));
    p.insert("OrderBy".into(), json!("start_time"));
    if let Some(id) = request {
        p.insert("FunctionRequestId".into(), json!(id));
    }
    let answer = client.call("GetFunctionLogs", &Value::Object(windowed(p)))?;
    Ok(answer
        .get("Data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

fn finished(entry: &Value) -> bool {
    integer(entry, "InvokeFinished") == 1 && integer(entry, "RetCode") != 2
}

/// The requests of a page to print now, oldest first: finished and not printed before.
pub fn new_finished<'a>(page: &'a [Value], printed: &HashSet<String>) -> Vec<&'a Value> {
    let mut fresh: Vec<&Value> = page
        .iter()
        .rev()
        .filter(|e| finished(e) && !printed.contains(&text(e, "RequestId")))
        .collect();
    // The page is newest first; reversed it is oldest first. Equal start seconds keep that order.
    fresh.sort_by_key(|e| text(e, "StartTime"));
    fresh
}

pub fn logs(client: &Client, args: &LogsArgs) -> Result<(), CliError> {
    let namespace = args.namespace.as_deref();
    let request = args.request.as_deref();
    // Following, the first page also marks what ended before now as seen, so that only the
    // newest `limit` of the past are printed.
    let first = if args.follow {
        FOLLOW_PAGE.max(args.limit)
    } else {
        args.limit
    };
    let page = fetch_logs(client, &args.name, namespace, request, first)?;
    if let Some(id) = request
        && page.is_empty()
        && !args.follow
    {
        return Err(CliError::Failed(format!(
            "no log of request {id} of function {}",
            args.name
        )));
    }
    let mut printed: HashSet<String> = page
        .iter()
        .filter(|e| finished(e))
        .map(|e| text(e, "RequestId"))
        .collect();
    let latest = &page[..page.len().min(args.limit as usize)];
    for entry in latest.iter().rev() {
        if finished(entry) {
            print(&line(&text(entry, "Log")))?;
        } else if !args.follow {
            note(&format!(
                "request {} is still running",
                text(entry, "RequestId")
            ));
        }
    }
    if !args.follow || (request.is_some() && !printed.is_empty()) {
        return Ok(());
    }
    loop {
        std::thread::sleep(FOLLOW_EVERY);
        let page = match fetch_logs(
            client,
            &args.name,
            namespace,
            request,
            FOLLOW_PAGE.max(args.limit),
        ) {
            Ok(page) => page,
            // The server restarting is no reason to stop following.
            Err(CliError::Failed(m)) => {
                note(&format!("warning: {m}; trying again"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let fresh: Vec<String> = new_finished(&page, &printed)
            .into_iter()
            .map(|entry| {
                print(&line(&text(entry, "Log")))?;
                Ok(text(entry, "RequestId"))
            })
            .collect::<Result<_, CliError>>()?;
        printed.extend(fresh);
        if request.is_some() && !printed.is_empty() {
            return Ok(());
        }
    }
}

/// The `requests` table, newest first as the API gave them.
pub fn requests_table(entries: &[Value]) -> String {
    let mut table = Table::new(&[
        "REQUEST ID",
        "START TIME",
        "STATUS",
        "DURATION MS#",
        "MEMORY MB#",
        "RETRIES#",
    ]);
    for e in entries {
        table.row(vec![
            text(e, "RequestId"),
            text(e, "StartTime"),
            log_status_word(integer(e, "RetCode")).into(),
            millis(number(e, "Duration")),
            megabytes(number(e, "MemUsage") / (1024.0 * 1024.0)),
            integer(e, "RetryNum").to_string(),
        ]);
    }
    table.render()
}

pub fn requests(client: &Client, args: &RequestsArgs) -> Result<(), CliError> {
    let page = fetch_logs(
        client,
        &args.name,
        args.namespace.as_deref(),
        None,
        args.limit,
    )?;
    if page.is_empty() {
        note(&format!("no requests of function {} on record", args.name));
        return Ok(());
    }
    print(&requests_table(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_spans_the_retention_in_scf_time() {
        // 2023-11-14 22:13:20 UTC = 2023-11-15 06:13:20 Beijing time.
        let (start, end) = wide_window(1_700_000_000_000);
        assert_eq!(start, "2023-11-08 06:13:20");
        assert_eq!(end, "2023-11-16 06:13:20");
    }

    #[test]
    fn status_table() {
        let r = json!({"FunctionName": "hello", "RetMsg": "{\"ok\": true}",
            "RequestId": "a63607c3-581f-4be9-8c4b-631c75909f07", "StartTime": "2026-11-28 10:00:00",
            "RetCode": 0, "Duration": 12.4, "MemUsage": 8.26, "RetryNum": 0});
        assert_eq!(
            status_details(&r),
            "Request       a63607c3-581f-4be9-8c4b-631c75909f07\n\
             Function      hello\n\
             Status        succeeded\n\
             Started       2026-11-28 10:00:00\n\
             Duration      12.4 ms\n\
             Memory        8.3 MB\n\
             Retries       0\n\
             Return value  {\"ok\": true}\n"
        );
        let running = json!({"RetCode": 1});
        assert!(status_details(&running).contains("Status        running\n"));
        let failed = json!({"RetCode": -1, "RetryNum": 2});
        assert!(status_details(&failed).contains("Status        failed\n"));
        assert!(status_details(&failed).contains("Retries       2\n"));
    }

    #[test]
    fn requests_rows() {
        let entries = [
            json!({"RequestId": "b", "StartTime": "2026-11-28 10:00:02", "RetCode": 2,
                "InvokeFinished": 0, "Duration": 0, "MemUsage": 0, "RetryNum": 0}),
            json!({"RequestId": "a", "StartTime": "2026-11-28 10:00:01", "RetCode": -1,
                "InvokeFinished": 1, "Duration": 1530.2, "MemUsage": 10485760, "RetryNum": 1}),
        ];
        assert_eq!(
            requests_table(&entries),
            "REQUEST ID  START TIME           STATUS   DURATION MS  MEMORY MB  RETRIES\n\
             b           2026-11-28 10:00:02  running            0        0.0        0\n\
             a           2026-11-28 10:00:01  failed          1530       10.0        1\n"
        );
    }

    #[test]
    fn follow_prints_each_finished_request_once_oldest_first() {
        let entry = |id: &str, start: &str, code: i64| {
            json!({"RequestId": id, "StartTime": start, "RetCode": code,
                "InvokeFinished": i64::from(code != 2)})
        };
        let page = [
            entry("c", "2026-11-28 10:00:03", 0),
            entry("r", "2026-11-28 10:00:02", 2),
            entry("b", "2026-11-28 10:00:01", -1),
            entry("a", "2026-11-28 10:00:00", 0),
        ];
        let mut printed = HashSet::new();
        printed.insert("a".to_string());
        let ids: Vec<String> = new_finished(&page, &printed)
            .iter()
            .map(|e| text(e, "RequestId"))
            .collect();
        assert_eq!(ids, ["b", "c"]);
    }
}
