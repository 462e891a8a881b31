//! The behaviour every backend must have, as one suite run against each of them.

use crate::FunctionStatus;
use crate::{
    AsyncEventRecord, AsyncStatus, ErrorKind, FunctionKey, FunctionRecord, NamespaceRecord,
    RequestOutcome, RequestRecord, Scope, StatusReason, Store, StoreError,
};

fn scope(app_id: u64) -> Scope {
    Scope {
        app_id,
        region: "ap-guangzhou".into(),
    }
}

fn ns(name: &str) -> NamespaceRecord {
    NamespaceRecord {
        name: name.into(),
        description: String::new(),
        kind: "default".into(),
        add_time_ms: 1,
        mod_time_ms: 1,
    }
}

fn function(app_id: u64, namespace: &str, name: &str) -> FunctionRecord {
    FunctionRecord {
        key: FunctionKey {
            scope: scope(app_id),
            namespace: namespace.into(),
            name: name.into(),
        },
        function_id: format!("lam-{name}"),
        runtime: "Python3.9".into(),
        handler: "index.main_handler".into(),
        description: String::new(),
        memory_size: 128,
        timeout: 3,
        init_timeout: 65,
        kind: "Event".into(),
        environment: vec![("A".into(), "1".into())],
        tags: vec![],
        code_sha256: "aa".into(),
        code_size: 10,
        unpacked_size: 20,
        status: FunctionStatus::Creating,
        status_desc: String::new(),
        status_reasons: vec![],
        extra: serde_json::Map::new(),
        add_time_ms: 5,
        mod_time_ms: 5,
        revision: 0,
        reserved_concurrency_mem: None,
        async_retry: None,
    }
}

pub async fn run(store: &dyn Store) {
    namespaces(store).await;
    functions_created(store).await;
    functions_listed(store).await;
    function_status_and_updates(store).await;
    isolation(store).await;
    versions(store).await;
    requests_read_back(store).await;
    requests_listed_failed_purged(store).await;
    sync_outcomes(store).await;
    async_events(store).await;
    async_leases(store).await;
    sync_requests_of_restarted_nodes(store).await;
}

async fn versions(store: &dyn Store) {
    let s = scope(7);
    store
        .ensure_namespace(&s, &ns("default"))
        .await
        .expect("ns");
    let mut f = function(7, "default", "v");
    store.create_function(&f, 10).await.expect("create");
    assert_eq!(
        store
            .publish_version(&function(7, "default", "nope").key, "", 1, 5)
            .await,
        Err(StoreError::NotFound)
    );
    let v1 = store
        .publish_version(&f.key, "first", 10, 2)
        .await
        .expect("v1");
    assert_eq!(v1.version, "1");
    f.memory_size = 1024;
    f.code_sha256 = "v2code".into();
    store.update_function(&f).await.expect("update");
    let v2 = store
        .publish_version(&f.key, "second", 11, 2)
        .await
        .expect("v2");
    assert_eq!((v2.version.as_str(), v2.function.memory_size), ("2", 1024));
    assert_eq!(
        store.publish_version(&f.key, "third", 12, 2).await,
        Err(StoreError::LimitExceeded(2))
    );
    let got = store
        .get_version(&f.key, "1")
        .await
        .expect("get")
        .expect("v1 exists");
    assert_eq!(
        (got.function.memory_size, got.description.as_str()),
        (128, "first"),
        "a snapshot does not change"
    );
    assert_eq!(got.function.key, f.key);
    assert!(store.get_version(&f.key, "3").await.expect("get").is_none());
    assert!(store.get_version(&f.key, "x").await.expect("get").is_none());
    assert_eq!(store.list_versions(&f.key).await.expect("list").len(), 2);
    store.publish_version(&f.key, "", 13, 5).await.expect("v3");
    store.delete_version(&f.key, "3").await.expect("delete v3");
    assert_eq!(
        store.delete_version(&f.key, "3").await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.list_versions(&f.key).await.expect("list").len(), 2);
    // A version keeps its package alive after $LATEST moves on.
    f.revision += 1; // the record as the store now has it
    f.code_sha256 = "v3code".into();
    store.update_function(&f).await.expect("update");
    assert!(
        store
            .code_in_use("aa", Some(7))
            .await
            .expect("in use by v1")
    );
    store.delete_function(&f.key).await.expect("delete");
    assert!(
        store.list_versions(&f.key).await.expect("list").is_empty(),
        "versions go with the function"
    );
    assert!(!store.code_in_use("aa", Some(7)).await.expect("gone"));
}

fn request(app_id: u64, id: &str, is_async: bool, start: i64) -> RequestRecord {
    RequestRecord::accepted(
        function(app_id, "default", "r").key,
        id.into(),
        "$LATEST".into(),
        is_async,
        start,
    )
}

/// A request record reads back as written, in its own account and function only.
async fn requests_read_back(store: &dyn Store) {
    let key = function(8, "default", "r").key;
    store
        .put_request(&request(8, "req-1", false, 1000))
        .await
        .expect("insert");
    store
        .put_request(&request(8, "req-2", false, 2000))
        .await
        .expect("insert");
    let mut r = store
        .get_request(&key, "req-1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        r.outcome.ret_code(),
        1,
        "running from the moment it is accepted"
    );
    r.outcome = RequestOutcome::Succeeded;
    r.ret_msg = "\"ok\"".into();
    r.duration_ms = 1.5;
    r.end_ms = Some(1002);
    store.put_request(&r).await.expect("update");
    assert_eq!(
        store.get_request(&key, "req-1").await.expect("get"),
        Some(r.clone())
    );
    assert!(
        store
            .get_request(&function(9, "default", "r").key, "req-1")
            .await
            .expect("get")
            .is_none(),
        "other account"
    );
    assert!(
        store
            .get_request(&function(8, "default", "other").key, "req-1")
            .await
            .expect("get")
            .is_none(),
        "other function"
    );
}

/// The two records of `requests_read_back` (req-1 finished, req-2 still running): listed
/// newest first within a time range, the running one failed by a restart, the older purged.
async fn requests_listed_failed_purged(store: &dyn Store) {
    let key = function(8, "default", "r").key;
    let listed = store.list_requests(&key, 0, 5000, 10).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|r| r.request_id.as_str())
            .collect::<Vec<_>>(),
        ["req-2", "req-1"]
    );
    assert_eq!(
        store
            .list_requests(&key, 1500, 5000, 10)
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        store
            .fail_running_sync_requests("n1", 0, "restarted", 3000)
            .await
            .expect("fail"),
        1
    );
    let failed = store
        .get_request(&key, "req-2")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (failed.outcome.ret_code(), failed.ret_msg.as_str()),
        (-1, "restarted")
    );
    assert_eq!(store.purge_before(1500).await.expect("purge"), 1);
    assert!(
        store
            .get_request(&key, "req-1")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        store
            .get_request(&key, "req-2")
            .await
            .expect("get")
            .is_some()
    );
}

/// A sync request's outcome may reach the store before or after its running record: the
/// outcome stands either way.
async fn sync_outcomes(store: &dyn Store) {
    let key = function(18, "default", "r").key;
    let mut quick = request(18, "req-quick", false, 1000);
    quick.outcome = RequestOutcome::Succeeded;
    quick.ret_msg = "\"fast\"".into();
    store.put_request(&quick).await.expect("put");
    store.insert_running_detached(&request(18, "req-quick", false, 1000));
    let mut slow = request(18, "req-slow", false, 1000);
    store.insert_running_detached(&slow);
    // A later write is committed after every earlier detached one.
    store
        .put_request(&request(18, "req-barrier", false, 1000))
        .await
        .expect("insert");
    let got = store.get_request(&key, "req-quick").await.expect("get");
    assert_eq!(
        got.map(|r| (r.outcome.ret_code(), r.ret_msg)),
        Some((0, "\"fast\"".into()))
    );
    let got = store.get_request(&key, "req-slow").await.expect("get");
    assert_eq!(
        got.map(|r| r.outcome.ret_code()),
        Some(1),
        "the running record"
    );
    slow.outcome = RequestOutcome::Failed(ErrorKind::UserCodeException);
    slow.err_msg = "boom".into();
    store.put_request(&slow).await.expect("put");
    let got = store.get_request(&key, "req-slow").await.expect("get");
    // The RetCode column and the kind in the document read back as the one outcome.
    assert_eq!(
        got.map(|r| (r.outcome, r.err_msg)),
        Some((
            RequestOutcome::Failed(ErrorKind::UserCodeException),
            "boom".into()
        ))
    );
    assert_eq!(
        store
            .list_requests(&key, 0, 5000, 10)
            .await
            .expect("list")
            .len(),
        3
    );
    let mut barrier = request(18, "req-barrier", false, 1000);
    barrier.outcome = RequestOutcome::Succeeded;
    store.put_request(&barrier).await.expect("put");
}

/// The queue: events claimed when due, once, under a lease; a restarted node's running
/// events run again; then a run's outcome and TerminateAsyncEvent, whichever comes first wins.
async fn async_events(store: &dyn Store) {
    let key = function(10, "default", "r").key;
    claimed_once_when_due(store, &key).await;
    let again = requeued_after_restart(store, &key).await;
    aborted_before_the_outcome(store, &key, again[0].clone()).await;
    finished_before_the_abort(store, &key, again[1].clone()).await;
}

/// A queued event of `key` due at `due`, retried up to twice, expiring 1 s later.
fn queued_event(key: &FunctionKey, id: &str, due: i64) -> AsyncEventRecord {
    AsyncEventRecord {
        function: key.clone(),
        request_id: id.into(),
        qualifier: "$LATEST".into(),
        invoke_type: "OTHERS".into(),
        status: AsyncStatus::Queued,
        payload: "{}".into(),
        attempts: 0,
        max_retries: 2,
        next_run_ms: due,
        expires_ms: due + 1000,
        start_ms: due,
        end_ms: None,
        lease_owner: String::new(),
        lease_token: String::new(),
        resumed: false,
    }
}

/// a-1..a-3 due at 100..300: those due are claimed by n1, once; a-1 finishes.
async fn claimed_once_when_due(store: &dyn Store, key: &FunctionKey) {
    for (id, due) in [("a-1", 100), ("a-2", 200), ("a-3", 300)] {
        store
            .enqueue_async(&request(10, id, true, due), &queued_event(key, id, due))
            .await
            .expect("enqueue");
    }
    assert_eq!(store.next_async_due().await.expect("due"), Some(100));
    let claimed = store
        .claim_due_async("n1", 250, 1000, 10)
        .await
        .expect("claim");
    assert_eq!(
        claimed
            .iter()
            .map(|e| e.request_id.as_str())
            .collect::<Vec<_>>(),
        ["a-1", "a-2"]
    );
    assert!(
        claimed
            .iter()
            .all(|e| e.status == AsyncStatus::Running && e.attempts == 1 && e.lease_owner == "n1")
    );
    assert!(
        store
            .claim_due_async("n1", 250, 1000, 10)
            .await
            .expect("claim")
            .is_empty(),
        "claimed once"
    );
    assert_eq!(
        store.next_async_due().await.expect("due"),
        Some(300),
        "the next queued event, before the leases run out (1250)"
    );
    let mut done = claimed[0].clone();
    done.status = AsyncStatus::Finished;
    done.end_ms = Some(260);
    store.update_async(&done).await.expect("update");
    assert_eq!(
        store
            .get_async(&scope(10), "a-1")
            .await
            .expect("get")
            .expect("exists")
            .status,
        AsyncStatus::Finished
    );
    assert!(
        store
            .get_async(&scope(11), "a-1")
            .await
            .expect("get")
            .is_none(),
        "other account"
    );
}

/// n1 (running a-2) restarts; returns a-2 and a-3 as claimed again.
async fn requeued_after_restart(store: &dyn Store, key: &FunctionKey) -> Vec<AsyncEventRecord> {
    // n1 restarts with a-2 running: its lease runs out at once, and a-2 runs again as the
    // same attempt.
    assert_eq!(
        store
            .fail_running_sync_requests("n1", 0, "restarted", 270)
            .await
            .expect("fail"),
        0,
        "async requests are not failed"
    );
    assert_eq!(
        store
            .requeue_running_async("n2", 290)
            .await
            .expect("requeue"),
        0,
        "another node's leases stand"
    );
    assert_eq!(
        store
            .requeue_running_async("n1", 290)
            .await
            .expect("requeue"),
        1
    );
    let again = store
        .claim_due_async("n1", 400, 1000, 10)
        .await
        .expect("claim");
    assert_eq!(
        again
            .iter()
            .map(|e| (e.request_id.as_str(), e.attempts, e.resumed))
            .collect::<Vec<_>>(),
        [("a-2", 1, true), ("a-3", 1, false)]
    );
    assert_eq!(store.list_async(key).await.expect("list").len(), 3);
    again
}

/// TerminateAsyncEvent of running `a2` first: the run's outcome that follows is refused.
async fn aborted_before_the_outcome(
    store: &dyn Store,
    key: &FunctionKey,
    mut a2: AsyncEventRecord,
) {
    let aborted = store
        .abort_async(key, "a-2", 500, "terminated")
        .await
        .expect("abort");
    assert_eq!(aborted, crate::AbortOutcome::Aborted);
    a2.status = AsyncStatus::Finished;
    let mut r2 = store
        .get_request(key, "a-2")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (r2.outcome.ret_code(), r2.ret_msg.as_str()),
        (-1, "terminated")
    );
    r2.outcome = RequestOutcome::Succeeded;
    assert!(
        !store.finish_async_run(&r2, &a2).await.expect("cas"),
        "the abort stands"
    );
    assert_eq!(
        store
            .get_request(key, "a-2")
            .await
            .expect("get")
            .expect("exists")
            .outcome
            .ret_code(),
        -1
    );
}

/// Running `a3`'s outcome first: the abort that follows finds it ended.
async fn finished_before_the_abort(store: &dyn Store, key: &FunctionKey, mut a3: AsyncEventRecord) {
    a3.status = AsyncStatus::Finished;
    let mut r3 = store
        .get_request(key, "a-3")
        .await
        .expect("get")
        .expect("exists");
    r3.outcome = RequestOutcome::Succeeded;
    assert!(
        store.finish_async_run(&r3, &a3).await.expect("cas"),
        "a running event takes its outcome"
    );
    assert_eq!(
        store
            .abort_async(key, "a-3", 600, "late")
            .await
            .expect("abort"),
        crate::AbortOutcome::AlreadyEnded(AsyncStatus::Finished)
    );
    assert_eq!(
        store
            .get_request(key, "a-3")
            .await
            .expect("get")
            .expect("exists")
            .outcome
            .ret_code(),
        0
    );
    assert_eq!(
        store
            .abort_async(&function(11, "default", "r").key, "a-3", 600, "x")
            .await
            .expect("abort"),
        crate::AbortOutcome::NotFound
    );
}

async fn namespaces(store: &dyn Store) {
    let s = scope(1);
    store
        .ensure_namespace(&s, &ns("default"))
        .await
        .expect("ensure");
    store
        .ensure_namespace(&s, &ns("default"))
        .await
        .expect("ensure twice is fine");
    store
        .create_namespace(&s, &ns("a"), 3)
        .await
        .expect("create a");
    assert_eq!(
        store.create_namespace(&s, &ns("a"), 3).await,
        Err(StoreError::AlreadyExists)
    );
    store
        .create_namespace(&s, &ns("b"), 3)
        .await
        .expect("create b");
    assert_eq!(
        store.create_namespace(&s, &ns("c"), 3).await,
        Err(StoreError::LimitExceeded(3))
    );
    let names: Vec<String> = store
        .list_namespaces(&s)
        .await
        .expect("list")
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, ["a", "b", "default"]);
    store
        .update_namespace(&s, "a", "hello", 9)
        .await
        .expect("update");
    let a = store
        .get_namespace(&s, "a")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (a.description.as_str(), a.mod_time_ms, a.add_time_ms),
        ("hello", 9, 1)
    );
    assert_eq!(
        store.update_namespace(&s, "zz", "x", 9).await,
        Err(StoreError::NotFound)
    );
    store.delete_namespace(&s, "b").await.expect("delete");
    assert_eq!(
        store.delete_namespace(&s, "b").await,
        Err(StoreError::NotFound)
    );
    assert!(store.get_namespace(&s, "b").await.expect("get").is_none());
}

/// Functions are created in an existing namespace, once, within the quota; a namespace with
/// functions cannot be deleted.
async fn functions_created(store: &dyn Store) {
    let f = function(1, "a", "f1");
    assert_eq!(
        store.create_function(&function(1, "nope", "f1"), 10).await,
        Err(StoreError::NamespaceNotFound)
    );
    store.create_function(&f, 2).await.expect("create");
    assert_eq!(
        store.create_function(&f, 2).await,
        Err(StoreError::AlreadyExists)
    );
    store
        .create_function(&function(1, "a", "f2"), 2)
        .await
        .expect("create f2");
    assert_eq!(
        store.create_function(&function(1, "a", "f3"), 2).await,
        Err(StoreError::LimitExceeded(2))
    );
    let got = store
        .get_function(&f.key)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got, f);
    assert!(store.function_exists(&f.key).await.expect("exists"));
    assert!(
        !store
            .function_exists(&function(1, "a", "nope").key)
            .await
            .expect("exists")
    );
    assert_eq!(
        store.delete_namespace(&scope(1), "a").await,
        Err(StoreError::NamespaceNotEmpty)
    );
}

/// The two functions of `functions_created`, listed by namespace and status; their package
/// counts as in use, in their account only.
async fn functions_listed(store: &dyn Store) {
    let listed = store
        .list_functions(&scope(1), Some("a"))
        .await
        .expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|f| f.key.name.as_str())
            .collect::<Vec<_>>(),
        ["f1", "f2"]
    );
    assert_eq!(
        store
            .list_functions(&scope(1), Some("default"))
            .await
            .expect("list")
            .len(),
        0
    );
    assert_eq!(
        store
            .list_functions(&scope(1), None)
            .await
            .expect("list")
            .len(),
        2
    );

    let creating = store
        .functions_with_status(&[FunctionStatus::Creating])
        .await
        .expect("by status");
    assert_eq!(creating.len(), 2);
    assert!(store.code_in_use("aa", None).await.expect("in use"));
    assert!(store.code_in_use("aa", Some(1)).await.expect("in use by 1"));
    assert!(!store.code_in_use("aa", Some(2)).await.expect("not by 2"));
    assert!(!store.code_in_use("bb", None).await.expect("in use"));
}

/// f1 of `functions_created`: its status, a write over a stale read, an update, the delete.
async fn function_status_and_updates(store: &dyn Store) {
    let f = function(1, "a", "f1");
    // A status set for old code is ignored; for the current code it sticks.
    let reason = StatusReason {
        error_code: "X".into(),
        error_message: "broken".into(),
    };
    assert!(
        !store
            .set_function_status(&f.key, "old", FunctionStatus::Active, &[])
            .await
            .expect("set")
    );
    assert!(
        store
            .set_function_status(
                &f.key,
                "aa",
                FunctionStatus::CreateFailed,
                std::slice::from_ref(&reason)
            )
            .await
            .expect("set")
    );
    let got = store
        .get_function(&f.key)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (got.status, got.status_desc.as_str()),
        (FunctionStatus::CreateFailed, "broken")
    );
    assert_eq!(got.status_reasons, vec![reason]);

    let mut stale = got.clone();
    stale.revision = got.revision.wrapping_sub(1);
    assert_eq!(
        store.update_function(&stale).await,
        Err(StoreError::Conflict),
        "a write over an older read is refused"
    );
    let mut changed = got.clone();
    changed.memory_size = 256;
    changed.code_sha256 = "bb".into();
    store.update_function(&changed).await.expect("update");
    assert_eq!(
        store
            .get_function(&f.key)
            .await
            .expect("get")
            .expect("exists")
            .memory_size,
        256
    );
    assert!(store.code_in_use("bb", None).await.expect("in use"));
    assert_eq!(
        store.update_function(&function(1, "a", "ghost")).await,
        Err(StoreError::NotFound)
    );

    store.delete_function(&f.key).await.expect("delete");
    assert_eq!(
        store.delete_function(&f.key).await,
        Err(StoreError::NotFound)
    );
    assert!(store.get_function(&f.key).await.expect("get").is_none());
}

async fn isolation(store: &dyn Store) {
    let other = scope(2);
    assert!(
        store
            .list_namespaces(&other)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .get_namespace(&other, "a")
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        store.create_function(&function(2, "a", "f2"), 10).await,
        Err(StoreError::NamespaceNotFound),
        "account 2 cannot use account 1's namespace"
    );
    assert!(
        store
            .get_function(&function(2, "a", "f2").key)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        store
            .list_functions(&other, None)
            .await
            .expect("list")
            .is_empty()
    );
    let other_region = Scope {
        app_id: 1,
        region: "ap-shanghai".into(),
    };
    assert!(
        store
            .list_functions(&other_region, None)
            .await
            .expect("list")
            .is_empty()
    );
    // The same names are free in another account.
    store
        .create_namespace(&other, &ns("a"), 5)
        .await
        .expect("same name, other account");
    store
        .create_function(&function(2, "a", "f2"), 10)
        .await
        .expect("same name, other account");
    assert_eq!(
        store
            .get_function(&function(1, "a", "f2").key)
            .await
            .expect("get")
            .expect("1's")
            .key
            .scope
            .app_id,
        1
    );
}

mod tests {
    use crate::{SqliteStore, Store, Synchronous};

    #[tokio::test]
    async fn sqlite_in_memory() {
        super::run(&SqliteStore::in_memory().expect("open")).await;
    }

    #[tokio::test]
    async fn sqlite_file_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("scfd.db");
        {
            let store = SqliteStore::open(&path, Synchronous::Normal).expect("open");
            super::run(&store).await;
        }
        let store = SqliteStore::open(&path, Synchronous::Full).expect("reopen");
        let s = super::scope(1);
        let names: Vec<String> = store
            .list_namespaces(&s)
            .await
            .expect("list")
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, ["a", "default"]);
        assert_eq!(store.list_functions(&s, None).await.expect("list").len(), 1);
    }

    /// The same suite on PostgreSQL, plus what only a shared store has (several nodes at once,
    /// packages, notifications). Each test runs on a database of its own, created on the
    /// server of `SCFD_TEST_PG_URL` (`scripts/pg.sh start DIR` prints one) and dropped after.
    mod pg {
        use crate::PURGE_BATCH;
        use crate::RequestOutcome;
        use crate::postgres::MIGRATIONS;
        use crate::{
            AsyncEventRecord, AsyncStatus, FunctionKey, PgStore, RequestRecord, Store, StoreError,
        };
        use std::sync::Arc;
        use std::time::Duration;
        use tokio_postgres::NoTls;

        const URL_VAR: &str = "SCFD_TEST_PG_URL";

        /// The server's URL; `None` skips the test, unless `SCFD_REQUIRE_PG` asks for it.
        fn server_url() -> Option<String> {
            match std::env::var(URL_VAR) {
                Ok(url) if !url.is_empty() => Some(url),
                _ => {
                    assert!(
                        std::env::var_os("SCFD_REQUIRE_PG").is_none(),
                        "SCFD_REQUIRE_PG is set but {URL_VAR} is not (scripts/pg.sh start DIR prints one)"
                    );
                    println!("skipped: {URL_VAR} is not set (scripts/pg.sh start DIR prints one)");
                    None
                }
            }
        }

        async fn client(url: &str) -> tokio_postgres::Client {
            let (client, conn) = tokio_postgres::connect(url, NoTls)
                .await
                .expect("connect to the test server");
            tokio::spawn(conn);
            client
        }

        /// `server` with its database replaced by `db`, in the form it was given in.
        fn database_url(server: &str, db: &str) -> String {
            let rest = server
                .strip_prefix("postgres://")
                .or_else(|| server.strip_prefix("postgresql://"));
            match rest {
                Some(rest) => {
                    let scheme = &server[..server.len() - rest.len()];
                    let (path, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
                    let authority = path.split('/').next().unwrap_or_default();
                    format!("{scheme}{authority}/{db}{query}")
                }
                None => format!("{server} dbname={db}"),
            }
        }

        /// The same database as a `key=value` string, the other form `connect` accepts.
        fn key_value(url: &str) -> String {
            let config: tokio_postgres::Config = url.parse().expect("a valid URL");
            let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
            let mut parts = Vec::new();
            match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => {
                    parts.push(format!("host={}", quote(h)))
                }
                Some(tokio_postgres::config::Host::Unix(p)) => {
                    parts.push(format!("host={}", quote(&p.to_string_lossy())))
                }
                None => {}
            }
            if let Some(port) = config.get_ports().first() {
                parts.push(format!("port={port}"));
            }
            if let Some(user) = config.get_user() {
                parts.push(format!("user={}", quote(user)));
            }
            if let Some(password) = config.get_password() {
                parts.push(format!(
                    "password={}",
                    quote(&String::from_utf8_lossy(password))
                ));
            }
            if let Some(db) = config.get_dbname() {
                parts.push(format!("dbname={}", quote(db)));
            }
            parts.join(" ")
        }

        /// Runs `test` with the URL of a new database, then drops the database, whether the
        /// test passed or not.
        async fn on_fresh_database<F, Fut>(test: F)
        where
            F: FnOnce(String) -> Fut,
            Fut: std::future::Future<Output = ()> + Send + 'static,
        {
            use std::hash::BuildHasher;
            let Some(server) = server_url() else { return };
            let salt = std::collections::hash_map::RandomState::new()
                .hash_one((std::process::id(), std::time::SystemTime::now()));
            let name = format!("scfd_contract_{salt:016x}");
            let admin = client(&server).await;
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create the test database");
            let outcome = tokio::spawn(test(database_url(&server, &name))).await;
            admin
                .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .await
                .expect("drop the test database");
            if let Err(e) = outcome {
                std::panic::resume_unwind(e.into_panic());
            }
        }

        async fn connect(url: &str) -> PgStore {
            PgStore::connect(url).await.expect("connect")
        }

        fn event(key: &FunctionKey, id: &str, due: i64) -> (RequestRecord, AsyncEventRecord) {
            let r = RequestRecord::accepted(key.clone(), id.into(), "$LATEST".into(), true, due);
            let e = AsyncEventRecord {
                function: key.clone(),
                request_id: id.into(),
                qualifier: "$LATEST".into(),
                invoke_type: "OTHERS".into(),
                status: AsyncStatus::Queued,
                payload: "{}".into(),
                attempts: 0,
                max_retries: 0,
                next_run_ms: due,
                expires_ms: due + 100_000,
                start_ms: due,
                end_ms: None,
                lease_owner: String::new(),
                lease_token: String::new(),
                resumed: false,
            };
            (r, e)
        }

        #[tokio::test]
        async fn contract() {
            on_fresh_database(|url| async move {
                {
                    let store = connect(&url).await;
                    assert_eq!(store.backend_name(), "postgres");
                    crate::contract::run(&store).await;
                }
                // What was acknowledged is there for the next connection (a restart).
                let store = connect(&url).await;
                let s = super::super::scope(1);
                let names: Vec<String> = store
                    .list_namespaces(&s)
                    .await
                    .expect("list")
                    .into_iter()
                    .map(|n| n.name)
                    .collect();
                assert_eq!(names, ["a", "default"]);
                assert_eq!(store.list_functions(&s, None).await.expect("list").len(), 1);
            })
            .await;
        }

        /// Nodes starting together: one migrates, the others wait for it and find the work
        /// done (without the advisory lock, concurrent CREATE TABLEs fail on the catalog).
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn migrations_from_two_nodes_at_once() {
            on_fresh_database(|url| async move {
                let a = tokio::spawn({
                    let url = url.clone();
                    async move { PgStore::connect(&url).await }
                });
                let b = tokio::spawn({
                    let kv = key_value(&url);
                    async move { PgStore::connect(&kv).await }
                });
                let a = a.await.expect("join").expect("node a migrates");
                let b = b.await.expect("join").expect("node b migrates");
                let s = super::super::scope(1);
                a.ensure_namespace(&s, &super::super::ns("default"))
                    .await
                    .expect("ensure");
                assert!(b.get_namespace(&s, "default").await.expect("get").is_some());
                let db = client(&url).await;
                let rows = db
                    .query("SELECT version FROM scfd_schema", &[])
                    .await
                    .expect("schema");
                assert_eq!(rows.len(), 1);
                let version: i32 = rows[0].get(0);
                assert_eq!(usize::try_from(version).ok(), Some(MIGRATIONS.len()));
            })
            .await;
        }

        /// Nodes creating at once still stop at the quota, and never number two versions alike.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn quotas_hold_across_nodes() {
            on_fresh_database(|url| async move {
                let nodes = [Arc::new(connect(&url).await), Arc::new(connect(&url).await)];
                let s = super::super::scope(1);
                let mut tasks = Vec::new();
                for i in 0..12 {
                    let node = Arc::clone(&nodes[i % 2]);
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        node.create_namespace(&s, &super::super::ns(&format!("ns{i}")), 5)
                            .await
                    }));
                }
                let mut created = 0;
                for t in tasks {
                    match t.await.expect("join") {
                        Ok(()) => created += 1,
                        Err(e) => assert_eq!(e, StoreError::LimitExceeded(5)),
                    }
                }
                assert_eq!(created, 5);
                assert_eq!(nodes[0].list_namespaces(&s).await.expect("list").len(), 5);

                let ns = nodes[0].list_namespaces(&s).await.expect("list")[0]
                    .name
                    .clone();
                let mut tasks = Vec::new();
                for i in 0..12 {
                    let node = Arc::clone(&nodes[i % 2]);
                    let f = super::super::function(1, &ns, &format!("f{i}"));
                    tasks.push(tokio::spawn(
                        async move { node.create_function(&f, 3).await },
                    ));
                }
                let mut created = 0;
                for t in tasks {
                    match t.await.expect("join") {
                        Ok(()) => created += 1,
                        Err(e) => assert_eq!(e, StoreError::LimitExceeded(3)),
                    }
                }
                assert_eq!(created, 3);

                let key = nodes[0].list_functions(&s, Some(&ns)).await.expect("list")[0]
                    .key
                    .clone();
                let mut tasks = Vec::new();
                for i in 0..8 {
                    let node = Arc::clone(&nodes[i % 2]);
                    let key = key.clone();
                    tasks.push(tokio::spawn(async move {
                        node.publish_version(&key, "", 1, 100).await
                    }));
                }
                let mut numbers = Vec::new();
                for t in tasks {
                    numbers.push(t.await.expect("join").expect("publish").version);
                }
                numbers.sort_by_key(|v| v.parse::<u32>().unwrap_or(0));
                assert_eq!(numbers, ["1", "2", "3", "4", "5", "6", "7", "8"]);
            })
            .await;
        }

        /// Two nodes claiming from one queue at once: every event is handed out exactly once.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn nodes_claim_each_event_once() {
            on_fresh_database(|url| async move {
                let nodes = [Arc::new(connect(&url).await), Arc::new(connect(&url).await)];
                let key = super::super::function(3, "default", "q").key;
                for i in 0..200 {
                    let (r, e) = event(&key, &format!("q-{i:03}"), 100 + i);
                    nodes[i as usize % 2]
                        .enqueue_async(&r, &e)
                        .await
                        .expect("enqueue");
                }
                let mut tasks = Vec::new();
                for (n, node) in nodes.iter().enumerate() {
                    for _ in 0..2 {
                        let node = Arc::clone(node);
                        tasks.push(tokio::spawn(async move {
                            let name = format!("n{n}");
                            let mut mine = Vec::new();
                            loop {
                                let claimed = node
                                    .claim_due_async(&name, 1000, 60_000, 7)
                                    .await
                                    .expect("claim");
                                if claimed.is_empty() {
                                    return mine;
                                }
                                assert!(claimed.iter().all(|e| e.lease_owner == name
                                    && e.attempts == 1
                                    && !e.resumed));
                                mine.extend(claimed.into_iter().map(|e| e.request_id));
                            }
                        }));
                    }
                }
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await.expect("join"));
                }
                let total = all.len();
                all.sort();
                all.dedup();
                assert_eq!(
                    (total, all.len()),
                    (200, 200),
                    "each event claimed exactly once"
                );
                assert_eq!(
                    nodes[0].next_async_due().await.expect("due"),
                    Some(61_000),
                    "every event is under a lease"
                );
            })
            .await;
        }

        /// A purge larger than one batch goes on until everything old is gone, and still
        /// keeps what is running or still has its event.
        #[tokio::test]
        async fn purge_runs_in_batches() {
            on_fresh_database(|url| async move {
                let store = connect(&url).await;
                let db = client(&url).await;
                let batch = i64::from(PURGE_BATCH);
                let (requests, events) = (2 * batch + 1, batch + 1);
                db.execute(
                    "INSERT INTO requests (request_id, app_id, region, namespace, function, ret_code, start_ms, doc)
                     SELECT 'old-' || i, 5, 'ap-guangzhou', 'default', 'p', 0, 10, '{}'
                     FROM generate_series(1, $1::bigint) AS i",
                    &[&requests],
                )
                .await
                .expect("old requests");
                db.execute(
                    "INSERT INTO async_events (request_id, app_id, region, namespace, function, status, next_run_ms, doc)
                     SELECT 'old-' || i, 5, 'ap-guangzhou', 'default', 'p', 'FINISHED', 0, '{\"end_ms\": 20}'
                     FROM generate_series(1, $1::bigint) AS i",
                    &[&events],
                )
                .await
                .expect("old events");
                let key = super::super::function(5, "default", "p").key;
                let running = RequestRecord::accepted(key.clone(), "run".into(), "$LATEST".into(), false, 10);
                store.put_request(&running).await.expect("insert");
                let (r, e) = event(&key, "queued", 10);
                let mut r = r;
                r.outcome = RequestOutcome::Succeeded;
                store.enqueue_async(&r, &e).await.expect("enqueue");

                let purged = store.purge_before(1000).await.expect("purge");
                assert_eq!(purged, u64::try_from(requests + events).expect("positive"));
                let left: Vec<String> = db
                    .query("SELECT request_id FROM requests ORDER BY request_id", &[])
                    .await
                    .expect("left")
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                assert_eq!(left, ["queued", "run"]);
            })
            .await;
        }

        #[tokio::test]
        async fn packages_are_shared() {
            on_fresh_database(|url| async move {
                let (a, b) = (connect(&url).await, connect(&url).await);
                let zip: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
                a.put_package("ab12", &zip).await.expect("put");
                a.put_package("ab12", &zip)
                    .await
                    .expect("put twice is fine");
                assert_eq!(b.get_package("ab12").await.expect("get"), Some(zip));
                assert_eq!(b.get_package("cd34").await.expect("get"), None);
                b.delete_package("ab12").await.expect("delete");
                assert_eq!(a.get_package("ab12").await.expect("get"), None);
            })
            .await;
        }

        /// A watcher wakes when another node queues, gets its LISTEN back after losing its
        /// connection, and closes it when its store is dropped.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn watchers_wake_on_other_nodes_events() {
            on_fresh_database(|url| async move {
                let (a, b) = (connect(&url).await, connect(&url).await);
                let wake = Arc::new(tokio::sync::Notify::new());
                let woken = |what: &'static str| {
                    let wake = Arc::clone(&wake);
                    async move {
                        tokio::time::timeout(Duration::from_secs(10), wake.notified())
                            .await
                            .unwrap_or_else(|_| panic!("not woken: {what}"));
                    }
                };
                a.watch_async(Arc::clone(&wake));
                woken("listening").await;
                let key = super::super::function(4, "default", "w").key;
                let (r, e) = event(&key, "w-1", 100);
                b.enqueue_async(&r, &e).await.expect("enqueue");
                woken("another node queued").await;

                let db = client(&url).await;
                let listeners = "SELECT pid FROM pg_stat_activity
                                 WHERE datname = current_database() AND query = 'LISTEN scfd_async'";
                let killed = db
                    .query(
                        &format!("SELECT pg_terminate_backend(pid) FROM ({listeners}) AS l"),
                        &[],
                    )
                    .await
                    .expect("terminate");
                assert_eq!(killed.len(), 1, "one LISTEN connection");
                woken("listening again").await;
                let (r, e) = event(&key, "w-2", 100);
                b.enqueue_async(&r, &e).await.expect("enqueue");
                woken("queued after the reconnect").await;

                drop(a);
                let mut left = 1;
                for _ in 0..100 {
                    left = db.query(listeners, &[]).await.expect("listeners").len();
                    if left == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                assert_eq!(left, 0, "the watcher stopped with its store");
            })
            .await;
        }
    }
}

/// Nodes sharing one queue: an event runs under one node's lease at a time; a node that dies
/// loses it when it runs out, and only the lease holder's outcome is written.
pub(crate) async fn async_leases(store: &dyn Store) {
    let key = function(12, "default", "r").key;
    let mut r = RequestRecord::accepted(key.clone(), "b-1".into(), "$LATEST".into(), true, 100);
    let by_n1 = claimed_under_a_renewed_lease(store, &r).await;
    let by_n2 = taken_over_when_the_lease_runs_out(store, &mut r, by_n1).await;
    only_the_last_claim_finishes(store, &mut r, by_n2).await;
}

/// Claims of `node` at `now`: what `claim_due_async` hands out, a lease of 1000 ms each.
async fn claim(store: &dyn Store, node: &str, now: i64) -> Vec<AsyncEventRecord> {
    store
        .claim_due_async(node, now, 1000, 10)
        .await
        .expect("claim")
}

/// `r`'s event (b-1, due at 100) queued and claimed by n1, whose lease only n1's own claim
/// renews; returns n1's claim.
async fn claimed_under_a_renewed_lease(store: &dyn Store, r: &RequestRecord) -> AsyncEventRecord {
    let e = AsyncEventRecord {
        max_retries: 0,
        expires_ms: 100_000,
        ..queued_event(&r.function, "b-1", 100)
    };
    let (depth, _) = store.async_queue_stats().await.expect("stats");
    store.enqueue_async(r, &e).await.expect("enqueue");
    let (after, oldest) = store.async_queue_stats().await.expect("stats");
    assert_eq!(after, depth + 1, "a queued event counts");
    assert!(oldest.is_some_and(|o| o <= 100), "{oldest:?}");
    let by_n1 = claim(store, "n1", 100).await;
    assert_eq!(by_n1.len(), 1);
    assert!(claim(store, "n2", 500).await.is_empty(), "the lease holds");
    let n1_lease = [("b-1".to_string(), by_n1[0].lease_token.clone())];
    assert!(!n1_lease[0].1.is_empty(), "a claim names itself");
    store
        .renew_async_leases("n1", &n1_lease, 2000)
        .await
        .expect("renew");
    assert!(
        claim(store, "n2", 1500).await.is_empty(),
        "the renewed lease holds"
    );
    store
        .renew_async_leases("n2", &n1_lease, 9999)
        .await
        .expect("renew");
    store
        .renew_async_leases("n1", &[("b-1".into(), "another claim".into())], 9999)
        .await
        .expect("renew");
    assert_eq!(
        store.next_async_due().await.expect("due"),
        Some(2000),
        "only the holder of this claim renews"
    );
    by_n1.into_iter().next().expect("n1's claim")
}

/// n1 stopped renewing (it died): n2 takes the same attempt over, and n1's late outcome is
/// refused; returns n2's claim.
async fn taken_over_when_the_lease_runs_out(
    store: &dyn Store,
    r: &mut RequestRecord,
    by_n1: AsyncEventRecord,
) -> AsyncEventRecord {
    let by_n2 = claim(store, "n2", 2100).await;
    assert_eq!(
        by_n2
            .iter()
            .map(|e| (e.lease_owner.as_str(), e.attempts, e.resumed))
            .collect::<Vec<_>>(),
        [("n2", 1, true)]
    );
    let mut late = by_n1;
    late.status = AsyncStatus::Finished;
    r.outcome = RequestOutcome::Succeeded;
    r.ret_msg = "\"from n1\"".into();
    assert!(
        !store.finish_async_run(r, &late).await.expect("cas"),
        "n1's lease is gone"
    );
    by_n2.into_iter().next().expect("n2's claim")
}

/// n2's renewals fail for a whole lease while its run goes on, and n2 itself claims the
/// event again: the first run's outcome no longer counts, the second's does.
async fn only_the_last_claim_finishes(
    store: &dyn Store,
    r: &mut RequestRecord,
    by_n2: AsyncEventRecord,
) {
    let again = claim(store, "n2", 3200).await;
    assert_eq!(again.len(), 1, "n2's lease (until 3100) ran out");
    assert_ne!(again[0].lease_token, by_n2.lease_token);
    let mut first = by_n2;
    first.status = AsyncStatus::Finished;
    r.ret_msg = "\"from n2's first run\"".into();
    assert!(
        !store.finish_async_run(r, &first).await.expect("cas"),
        "the first claim is over"
    );
    let mut done = again[0].clone();
    done.status = AsyncStatus::Finished;
    r.ret_msg = "\"from n2\"".into();
    assert!(store.finish_async_run(r, &done).await.expect("cas"));
    let got = store
        .get_request(&r.function, "b-1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (got.outcome.ret_code(), got.ret_msg.as_str()),
        (0, "\"from n2\"")
    );
}

/// A restarted node fails only its own sync requests; one of a node that never comes back
/// is failed by any node once it is older than any run can be.
async fn sync_requests_of_restarted_nodes(store: &dyn Store) {
    let key = function(12, "default", "r").key;
    let mut mine = RequestRecord::accepted(key.clone(), "s-1".into(), "$LATEST".into(), false, 100);
    mine.node = "n1".into();
    let mut theirs = mine.clone();
    theirs.request_id = "s-2".into();
    theirs.node = "n2".into();
    store.put_request(&mine).await.expect("insert");
    store.put_request(&theirs).await.expect("insert");
    assert_eq!(
        store
            .fail_running_sync_requests("n1", 0, "restarted", 200)
            .await
            .expect("fail"),
        1
    );
    let got = store
        .get_request(&key, "s-2")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.outcome.ret_code(), 1, "n2's request still runs");
    // n2 never comes back: once its request is older than any run can be, any node fails it.
    assert_eq!(
        store
            .fail_running_sync_requests("n3", 100, "lost", 300)
            .await
            .expect("fail"),
        0,
        "started at 100, not before"
    );
    assert_eq!(
        store
            .fail_running_sync_requests("n3", 101, "lost", 300)
            .await
            .expect("fail"),
        1
    );
    let got = store
        .get_request(&key, "s-2")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((got.outcome.ret_code(), got.ret_msg.as_str()), (-1, "lost"));
}
