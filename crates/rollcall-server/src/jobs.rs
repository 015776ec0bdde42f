//! Background jobs of a server process: periodic maintenance (expired tokens,
//! retention). Every process runs it; the work is idempotent.

use rollcall_store::now_ms;

use crate::AppState;

pub async fn maintenance_loop(state: AppState) {
    let mut ticker = tokio::time::interval(state.config.maintenance_every);
    loop {
        ticker.tick().await;
        if let Err(e) = state.store.maintenance(now_ms()).await {
            tracing::warn!(error = %e, "maintenance failed; will retry");
        }
    }
}
