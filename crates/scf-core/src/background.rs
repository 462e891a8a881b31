//! What a node runs beside the API: the async dispatcher, the retention purge, the flush of
//! held outcomes and the running-record writer ([`start_background`]), and the work a restart
//! must finish first ([`resume`]).

use crate::service::Service;
use scf_store::FunctionStatus;
use scf_types::ApiError;
use std::sync::Arc;

/// Starts the async dispatcher, the retention purge, the flush of held outcomes and the
/// writer of long requests' running records.
pub fn start_background(svc: &Arc<Service>) {
    svc.store.watch_async(Arc::clone(&svc.async_wakeup));
    if svc.settings.async_dispatch {
        tokio::spawn(crate::invocation::dispatch(Arc::downgrade(svc)));
    }
    tokio::spawn(crate::invocation::purge_loop(Arc::downgrade(svc)));
    tokio::spawn(crate::running::flush_loop(Arc::downgrade(svc)));
    tokio::spawn(crate::running::persist_loop(
        Arc::downgrade(svc),
        svc.settings.running_record_after,
    ));
}

/// Work a restart must finish: packages acknowledged but not yet unpacked, requests that
/// were in flight. Returns (packages, failed sync requests, requeued async events).
pub async fn resume(svc: &Arc<Service>) -> Result<(usize, u64, u64), ApiError> {
    // Outcomes answered before the stop, kept by the journal: in the store before the
    // requests still running there are failed (they are among them).
    let kept = crate::running::flush(svc).await?;
    if kept > 0 {
        tracing::info!(
            outcomes = kept,
            "wrote the outcomes the journal kept through the last stop"
        );
    }
    let (failed, requeued) = crate::invocation::recover(svc).await?;
    let packages = resume_packages(svc).await?;
    Ok((packages, failed, requeued))
}

async fn resume_packages(svc: &Arc<Service>) -> Result<usize, ApiError> {
    let pending = svc
        .store
        .functions_with_status(&[FunctionStatus::Creating, FunctionStatus::Updating])
        .await?;
    let n = pending.len();
    for f in pending {
        let failed = if f.status == FunctionStatus::Creating {
            FunctionStatus::CreateFailed
        } else {
            FunctionStatus::UpdateFailed
        };
        svc.spawn_unpack(
            f.key.clone(),
            f.code_sha256.clone(),
            FunctionStatus::Active,
            failed,
        );
    }
    Ok(n)
}
