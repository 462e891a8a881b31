//! After a restart, and the retention purge.

use super::*;

/// After a restart: in-flight sync requests fail, running async events go back to the queue.
pub(crate) async fn recover(svc: &Arc<Service>) -> Result<(u64, u64), ApiError> {
    let now = now_ms();
    let failed = svc
        .store
        .fail_running_sync_requests(
            &svc.settings.node,
            clock::settled_ms() - STALE_SYNC_MS,
            RESTARTED_MESSAGE,
            now,
        )
        .await?;
    let requeued = svc
        .store
        .requeue_running_async(&svc.settings.node, clock::steady_ms())
        .await?;
    Ok((failed, requeued))
}

/// Purges records older than the retention, every `purge_interval` (a minute by default).
pub(crate) async fn purge_loop(svc: std::sync::Weak<Service>) {
    loop {
        let Some(s) = svc.upgrade() else { return };
        let (now, settled) = (now_ms(), clock::settled_ms());
        // Sync requests of a node that stopped and never came back. Their age is judged on
        // the settled clock: a wall clock set forward must not fail a live request.
        match s
            .store
            .fail_running_sync_requests("", settled - STALE_SYNC_MS, LOST_MESSAGE, now)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(failed = n, "failed sync requests whose node is gone"),
            Err(e) => tracing::warn!(error = %e, "cannot fail the sync requests of gone nodes"),
        }
        // Nor may it purge what is younger than the retention in real time.
        let before = settled - s.settings.retention.as_millis() as i64;
        // In short batches, each its own transaction: the writes queued behind one wait
        // milliseconds, not the whole purge (BENCHMARKS.md, "The retention purge").
        let mut purged = 0;
        loop {
            match s.store.purge_batch(before, scf_store::PURGE_BATCH).await {
                Ok(n) => {
                    purged += n;
                    if n < u64::from(scf_store::PURGE_BATCH) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "purge failed");
                    break;
                }
            }
        }
        if purged > 0 {
            tracing::info!(purged, "purged request records past retention");
        }
        let every = s.settings.purge_interval.max(Duration::from_millis(100));
        drop(s);
        tokio::time::sleep(every).await;
    }
}
