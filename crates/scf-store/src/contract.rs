//! The behaviour every backend must have, as one suite run against each of them.

use crate::{
    AsyncEventRecord, AsyncStatus, FunctionKey, FunctionRecord, NamespaceRecord, RequestRecord,
    Scope, StatusReason, Store, StoreError,
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
        status: "Creating".into(),
        status_desc: String::new(),
        status_reasons: vec![],
        extra: serde_json::Map::new(),
        add_time_ms: 5,
        mod_time_ms: 5,
        revision: 0,
    }
}

pub async fn run(store: &dyn Store) {
    namespaces(store).await;
    functions(store).await;
    isolation(store).await;
    versions(store).await;
    requests(store).await;
    sync_outcomes(store).await;
    async_events(store).await;
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

async fn requests(store: &dyn Store) {
    let key = function(8, "default", "r").key;
    store
        .insert_request(&request(8, "req-1", false, 1000))
        .await
        .expect("insert");
    store
        .insert_request(&request(8, "req-2", false, 2000))
        .await
        .expect("insert");
    let mut r = store
        .get_request(&key, "req-1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(r.ret_code, 1, "running from the moment it is accepted");
    r.ret_code = 0;
    r.ret_msg = "\"ok\"".into();
    r.duration_ms = 1.5;
    r.end_ms = Some(1002);
    store.update_request(&r).await.expect("update");
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
            .fail_running_sync_requests("restarted", 3000)
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
        (failed.ret_code, failed.ret_msg.as_str()),
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
    quick.ret_code = 0;
    quick.ret_msg = "\"fast\"".into();
    store.put_request(&quick).await.expect("put");
    store.insert_running_detached(&request(18, "req-quick", false, 1000));
    let mut slow = request(18, "req-slow", false, 1000);
    store.insert_running_detached(&slow);
    // A later write is committed after every earlier detached one.
    store
        .insert_request(&request(18, "req-barrier", false, 1000))
        .await
        .expect("insert");
    let got = store.get_request(&key, "req-quick").await.expect("get");
    assert_eq!(
        got.map(|r| (r.ret_code, r.ret_msg)),
        Some((0, "\"fast\"".into()))
    );
    let got = store.get_request(&key, "req-slow").await.expect("get");
    assert_eq!(got.map(|r| r.ret_code), Some(1), "the running record");
    slow.ret_code = -1;
    slow.err_msg = "boom".into();
    store.put_request(&slow).await.expect("put");
    let got = store.get_request(&key, "req-slow").await.expect("get");
    assert_eq!(
        got.map(|r| (r.ret_code, r.err_msg)),
        Some((-1, "boom".into()))
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
    barrier.ret_code = 0;
    store.put_request(&barrier).await.expect("put");
}

async fn async_events(store: &dyn Store) {
    let key = function(10, "default", "r").key;
    let event = |id: &str, due: i64| AsyncEventRecord {
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
    };
    for (id, due) in [("a-1", 100), ("a-2", 200), ("a-3", 300)] {
        store
            .enqueue_async(&request(10, id, true, due), &event(id, due))
            .await
            .expect("enqueue");
    }
    assert_eq!(store.next_async_due().await.expect("due"), Some(100));
    let claimed = store.claim_due_async(250, 10).await.expect("claim");
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
            .all(|e| e.status == AsyncStatus::Running && e.attempts == 1)
    );
    assert!(
        store
            .claim_due_async(250, 10)
            .await
            .expect("claim")
            .is_empty(),
        "claimed once"
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
    // A crash with a-2 running: it goes back to the queue and runs again.
    assert_eq!(
        store
            .fail_running_sync_requests("restarted", 270)
            .await
            .expect("fail"),
        0,
        "async requests are not failed"
    );
    assert_eq!(store.requeue_running_async(300).await.expect("requeue"), 1);
    let again = store.claim_due_async(400, 10).await.expect("claim");
    assert_eq!(
        again
            .iter()
            .map(|e| (e.request_id.as_str(), e.attempts))
            .collect::<Vec<_>>(),
        [("a-2", 2), ("a-3", 1)]
    );
    assert_eq!(store.list_async(&key).await.expect("list").len(), 3);

    // A run's outcome and TerminateAsyncEvent: whichever comes first wins.
    let mut a2 = again[0].clone();
    let aborted = store
        .abort_async(&key, "a-2", 500, "terminated")
        .await
        .expect("abort");
    assert_eq!(aborted, crate::AbortOutcome::Aborted);
    a2.status = AsyncStatus::Finished;
    let mut r2 = store
        .get_request(&key, "a-2")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((r2.ret_code, r2.ret_msg.as_str()), (-1, "terminated"));
    r2.ret_code = 0;
    assert!(
        !store.finish_async_run(&r2, &a2).await.expect("cas"),
        "the abort stands"
    );
    assert_eq!(
        store
            .get_request(&key, "a-2")
            .await
            .expect("get")
            .expect("exists")
            .ret_code,
        -1
    );
    let mut a3 = again[1].clone();
    a3.status = AsyncStatus::Finished;
    let mut r3 = store
        .get_request(&key, "a-3")
        .await
        .expect("get")
        .expect("exists");
    r3.ret_code = 0;
    assert!(
        store.finish_async_run(&r3, &a3).await.expect("cas"),
        "a running event takes its outcome"
    );
    assert_eq!(
        store
            .abort_async(&key, "a-3", 600, "late")
            .await
            .expect("abort"),
        crate::AbortOutcome::AlreadyEnded(AsyncStatus::Finished)
    );
    assert_eq!(
        store
            .get_request(&key, "a-3")
            .await
            .expect("get")
            .expect("exists")
            .ret_code,
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

async fn functions(store: &dyn Store) {
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
        .functions_with_status(&["Creating"])
        .await
        .expect("by status");
    assert_eq!(creating.len(), 2);
    assert!(store.code_in_use("aa", None).await.expect("in use"));
    assert!(store.code_in_use("aa", Some(1)).await.expect("in use by 1"));
    assert!(!store.code_in_use("aa", Some(2)).await.expect("not by 2"));
    assert!(!store.code_in_use("bb", None).await.expect("in use"));

    // A status set for old code is ignored; for the current code it sticks.
    let reason = StatusReason {
        error_code: "X".into(),
        error_message: "broken".into(),
    };
    assert!(
        !store
            .set_function_status(&f.key, "old", "Active", &[])
            .await
            .expect("set")
    );
    assert!(
        store
            .set_function_status(&f.key, "aa", "CreateFailed", std::slice::from_ref(&reason))
            .await
            .expect("set")
    );
    let got = store
        .get_function(&f.key)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (got.status.as_str(), got.status_desc.as_str()),
        ("CreateFailed", "broken")
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
}
