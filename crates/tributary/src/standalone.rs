//! `tributary standalone`: every role in one process.
//!
//! So far this serves the HTTP port with the health endpoints and a status
//! page; inputs and outputs are added to the same router as they land.

use std::net::SocketAddr;

use anyhow::Context;
use axum::{Router, routing::get};

/// Configuration of the standalone server.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Config {
    /// Address of the HTTP port (media outputs, API, health).
    #[arg(long, env = "TRIBUTARY_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub(crate) http_listen: SocketAddr,
}

/// The HTTP router of the standalone server.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "Tributary standalone server\n" }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ok\n" }))
}

/// Runs the server until Ctrl-C or SIGTERM.
pub(crate) fn run(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .with_context(|| format!("binding HTTP port {}", config.http_listen))?;
        tracing::info!(addr = %listener.local_addr()?, "http listening");
        axum::serve(listener, router())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving HTTP")
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
