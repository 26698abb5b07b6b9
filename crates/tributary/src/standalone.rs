//! `tributary standalone`: ingest and edge in one process, with the
//! configuration file as the state store.
//!
//! Streams come from the `[streams]` section of the TOML configuration (which
//! may live in its own file) and from the REST API; API changes are written
//! back to the file holding `[streams]` unless it is read-only.
//!
//! Pushes work alike with `[pushes]`: the push engine runs them and the API
//! reports their status; API changes are written back to the file holding
//! `[pushes]`.
//!
//! The gRPC control API listens on `--grpc-listen` (default `0.0.0.0:4242`);
//! `--api-token` guards it and the REST API. `/metrics` serves the
//! process's Prometheus registry on the HTTP port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::{Router, routing::get};
use parking_lot::Mutex;
use spec::StreamName;
use spec::config::{Config as FileConfig, ConfigFile, LoadedConfig, Section};

/// Configuration of the standalone server (flags and environment override the file).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Config {
    /// The TOML configuration file; created with the first stream defined
    /// through the API when it does not exist.
    #[arg(long, env = "TRIBUTARY_CONFIG", default_value = "tributary.toml")]
    pub(crate) config: PathBuf,
    /// Address of the HTTP port (media outputs, API, health); overrides `[http] listen`.
    #[arg(long, env = "TRIBUTARY_HTTP_LISTEN")]
    pub(crate) http_listen: Option<SocketAddr>,
    /// Address of the RTMP port; overrides `[rtmp] listen`.
    #[arg(long, env = "TRIBUTARY_RTMP_LISTEN")]
    pub(crate) rtmp_listen: Option<SocketAddr>,
    /// Address of the shared SRT port (UDP); overrides `[srt] listen`.
    #[arg(long, env = "TRIBUTARY_SRT_LISTEN")]
    pub(crate) srt_listen: Option<SocketAddr>,
    /// Address of the gRPC control API.
    #[arg(long, env = "TRIBUTARY_GRPC_LISTEN", default_value = "0.0.0.0:4242")]
    pub(crate) grpc_listen: SocketAddr,
    /// Bearer token guarding the REST API (`/api/...`) and every gRPC call;
    /// none: the API is open. Media outputs, `/metrics` and health stay open.
    #[arg(long, env = "TRIBUTARY_API_TOKEN", hide_env_values = true)]
    pub(crate) api_token: Option<String>,
    #[command(flatten)]
    pub(crate) webrtc: crate::webrtc::WebRtcArgs,
    #[command(flatten)]
    pub(crate) cuts: CutArgs,
}

/// How streams are cut into HLS segments and parts where they enter (the
/// standalone server, or an ingest node for every edge).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CutArgs {
    /// HLS segment target duration in whole seconds (`EXT-X-TARGETDURATION`).
    #[arg(long, env = "TRIBUTARY_HLS_TARGET_DURATION", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=30))]
    pub(crate) hls_target_duration: u64,
    /// LL-HLS part duration in seconds; parts are whole frames, as close to this as fits.
    #[arg(long, env = "TRIBUTARY_HLS_PART_DURATION", default_value_t = 0.2, value_parser = part_duration)]
    pub(crate) hls_part_duration: f64,
}

fn part_duration(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.05..=5.0).contains(&v) {
        Ok(v)
    } else {
        Err("a part lasts 0.05 to 5 seconds".into())
    }
}

impl CutArgs {
    /// A hub whose streams are cut per these settings.
    pub(crate) fn hub(&self) -> Arc<hub::Hub> {
        let cuts = media::hls::cutter::CutConfig {
            target_duration: std::time::Duration::from_secs(self.hls_target_duration),
            part_duration: std::time::Duration::from_secs_f64(self.hls_part_duration),
        };
        Arc::new(hub::Hub::with_cuts(media::buffer::BufferConfig::default(), cuts))
    }
}

/// Reads a configuration file; a missing main file is an empty, writable one.
fn read_config_file(path: &Path, main: &Path) -> std::io::Result<ConfigFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let writable = std::fs::metadata(path).is_ok_and(|m| !m.permissions().readonly());
            Ok(ConfigFile { text, writable })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path == main => Ok(ConfigFile {
            text: String::new(),
            writable: true,
        }),
        Err(e) => Err(e),
    }
}

/// Writes `text` to `path` through a temporary file, so a crash never leaves half a file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The persistence callback: specs into the loaded configuration, then the
/// file that holds `[streams]`.
fn persist(loaded: Arc<Mutex<LoadedConfig>>) -> control::Persist {
    Box::new(move |specs| {
        let mut loaded = loaded.lock();
        let mut streams = BTreeMap::new();
        for (name, spec) in specs {
            let name = StreamName::parse(name).map_err(|e| e.to_string())?;
            streams.insert(name, spec.clone());
        }
        loaded.config.streams = streams;
        let (path, text) = loaded.write_back(Section::Streams).map_err(|e| e.to_string())?;
        write_atomically(&path, &text).map_err(|e| format!("{}: {e}", path.display()))
    })
}

/// The persistence callback of pushes: specs into the loaded configuration,
/// then the file that holds `[pushes]`.
fn persist_pushes(loaded: Arc<Mutex<LoadedConfig>>) -> control::PersistPushes {
    Box::new(move |specs| {
        let mut loaded = loaded.lock();
        let mut pushes = BTreeMap::new();
        for (name, spec) in specs {
            let name = StreamName::parse(name).map_err(|e| e.to_string())?;
            pushes.insert(name, spec.clone());
        }
        loaded.config.pushes = pushes;
        let (path, text) = loaded.write_back(Section::Pushes).map_err(|e| e.to_string())?;
        write_atomically(&path, &text).map_err(|e| format!("{}: {e}", path.display()))
    })
}

/// The push engine as the control service sees it.
pub(crate) struct PushEngine(pub(crate) ingest_node::push::engine::Engine);

impl control::PushRunner for PushEngine {
    fn status(&self, name: &str) -> Option<spec::PushStatus> {
        self.0.status(name)
    }

    fn stream_statuses(&self, name: &str) -> BTreeMap<String, spec::PushStatus> {
        self.0.stream_statuses(name).unwrap_or_default()
    }

    fn start(&self, name: &str) -> Result<(), String> {
        self.0.start(name).map_err(|e| e.to_string())
    }

    fn stop(&self, name: &str) -> Result<(), String> {
        self.0.stop(name).map_err(|e| e.to_string())
    }
}

/// The HTTP router: health, metrics, REST API (behind `token` when set), media outputs.
pub(crate) fn router(
    service: Arc<control::Service>,
    hls: edge_node::hls::Config,
    metrics: Arc<control::metrics::Metrics>,
    token: Option<control::ApiToken>,
    webrtc: Router,
) -> Router {
    Router::new()
        .merge(webrtc)
        .route("/", get(|| async { "Tributary standalone server\n" }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ok\n" }))
        .merge(control::metrics::router(metrics))
        .merge(control::rest::router_with_token(service.clone(), token))
        .merge(edge_node::http::router_with(service.hub().clone(), hls))
}

/// Runs the server until Ctrl-C or SIGTERM.
pub(crate) fn run(config: Config) -> anyhow::Result<()> {
    let main = config.config.clone();
    let hls = edge_node::hls::Config::default();
    let loaded = FileConfig::load(&main, |p| read_config_file(p, &main))
        .with_context(|| format!("loading {}", main.display()))?;
    let http_listen = config.http_listen.unwrap_or(loaded.config.http.listen);
    let rtmp_listen = config.rtmp_listen.unwrap_or(loaded.config.rtmp.listen);
    let srt_listen = config.srt_listen.unwrap_or(loaded.config.srt.listen);
    let grpc_listen = config.grpc_listen;
    let token = config.api_token.as_deref().and_then(control::ApiToken::new);
    let specs = loaded
        .config
        .streams
        .iter()
        .map(|(n, s)| (n.as_str().to_owned(), s.clone()))
        .collect();
    let pushes = loaded
        .config
        .pushes
        .iter()
        .map(|(n, s)| (n.as_str().to_owned(), s.clone()))
        .collect();
    let loaded = Arc::new(Mutex::new(loaded));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    rt.block_on(async move {
        let hub = config.cuts.hub();
        let service = Arc::new(
            control::Service::new(hub.clone(), specs, Some(persist(loaded.clone())), "standalone")
                .with_pushes(pushes, Some(persist_pushes(loaded))),
        );
        tokio::spawn(ingest_node::supervisor::run(service.watch(), hub.clone()));
        let engine = ingest_node::push::engine::Engine::new(service.watch_pushes(), hub.clone());
        service.set_push_runner(Arc::new(PushEngine(engine)));
        let metrics = Arc::new(control::metrics::Metrics::for_hub(
            service.hub().clone(),
            service.load().clone(),
        ));
        let admission = ingest_node::admission::Admission::new(service.watch());
        let webrtc = crate::webrtc::start(
            &config.webrtc,
            hub.clone(),
            crate::webrtc::admit(admission.clone()),
            &metrics,
        )
        .await?;
        crate::node::spawn_media_listeners(hub, admission, Some(rtmp_listen), srt_listen).await?;
        let grpc = tokio::net::TcpListener::bind(grpc_listen)
            .await
            .with_context(|| format!("binding gRPC port {grpc_listen}"))?;
        tracing::info!(addr = %grpc.local_addr()?, auth = token.is_some(), "grpc listening");
        tokio::spawn({
            let (service, token) = (service.clone(), token.clone());
            async move {
                if let Err(e) = control::grpc::serve(grpc, service, token, shutdown_signal()).await {
                    tracing::error!(%e, "grpc server failed");
                }
            }
        });
        let listener = tokio::net::TcpListener::bind(http_listen)
            .await
            .with_context(|| format!("binding HTTP port {http_listen}"))?;
        tracing::info!(addr = %listener.local_addr()?, config = %main.display(), "http listening");
        let app = router(service, hls, metrics, token, webrtc)
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving HTTP")
    })
}

pub(crate) async fn shutdown_signal() {
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
