//! The reference synclane sync server: the protocol of `docs/PROTOCOL.md` over HTTP, on SQLite
//! (a file, the default) or PostgreSQL (several instances on one database). Every decision comes
//! from `synclane_core::server_rules`, the same code the in-browser reference backend runs.

pub mod auth;
pub mod config;
pub mod connections;
pub mod error;
pub mod http;
pub mod store;
pub mod stream;

use config::Settings;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use synclane_core::SyncError;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves on `listener` until `shutdown` resolves, then stops taking requests, ends the streams,
/// lets in-flight requests (pushes included) finish, and returns.
pub async fn serve(
    settings: Settings,
    db: &str,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SyncError> {
    let config = settings.server_config();
    let store = store::Store::open(db, config).await?;
    let hub = stream::Hub::default();
    store.start_notifications(&hub);
    let (stop_tx, stop_rx) = watch::channel(false);
    let auth = auth::Auth::new(settings.tokens.clone(), settings.admin_token.clone(), settings.rate_limit);
    let gc_interval = settings.gc_interval_ms;
    let app = http::App {
        store: store.clone(),
        auth,
        settings: Arc::new(settings),
        config,
        hub,
        shutdown: stop_rx,
    };
    if gc_interval > 0 {
        tokio::spawn(collect_garbage_every(
            store.clone(),
            Duration::from_millis(gc_interval),
            app.shutdown.clone(),
        ));
    }
    tracing::info!(
        address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        database = store.kind(),
        "serving"
    );
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    };
    let limits = connections::ConnectionLimits {
        header_read_timeout: Duration::from_millis(app.settings.header_read_timeout_ms),
        max_connections: app.settings.max_connections,
    };
    connections::serve(listener, http::router(app), limits, signal).await;
    tracing::info!("stopped");
    Ok(())
}

async fn collect_garbage_every(store: store::Store, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        match store.collect_garbage(http::now_ms()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "garbage collected"),
            Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
        }
    }
}
