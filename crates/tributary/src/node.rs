//! What `tributary ingest` and `tributary edge` share: the state-store
//! connection, the node's registration, spec sync and the HTTP port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::{Router, routing::get};
use spec::node::NodeInfo;
use store::{Etcd, EtcdOptions};

/// Settings every cluster node takes (flags, or environment for containers).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NodeArgs {
    /// etcd endpoints, comma-separated (`http://10.0.0.1:2379,http://10.0.0.2:2379`).
    #[arg(long, env = "TRIBUTARY_ETCD", value_delimiter = ',', required = true)]
    pub(crate) etcd: Vec<String>,
    /// Prefix of every key this cluster uses in etcd.
    #[arg(long, env = "TRIBUTARY_ETCD_PREFIX", default_value = store::DEFAULT_PREFIX)]
    pub(crate) etcd_prefix: String,
    /// This node's id, unique in the cluster (default: the host name).
    #[arg(long, env = "TRIBUTARY_NODE_ID")]
    pub(crate) node_id: Option<String>,
    /// Seconds the node's registration (and its stream ownerships) outlive it.
    #[arg(long, env = "TRIBUTARY_LEASE_TTL", default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub(crate) lease_ttl: u64,
    /// Address of the HTTP port (media outputs, API, metrics, health).
    #[arg(long, env = "TRIBUTARY_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub(crate) http_listen: SocketAddr,
    /// Address of the shared SRT port (UDP): publishers (ingest) and players.
    #[arg(long, env = "TRIBUTARY_SRT_LISTEN", default_value = "0.0.0.0:8889")]
    pub(crate) srt_listen: SocketAddr,
    /// Address of the gRPC control API port.
    #[arg(long, env = "TRIBUTARY_GRPC_LISTEN", default_value = "0.0.0.0:4242")]
    pub(crate) grpc_listen: SocketAddr,
    /// Bearer token guarding the REST API (`/api/...`) and every gRPC call;
    /// none: the API is open. Media outputs, `/metrics` and health stay open.
    #[arg(long, env = "TRIBUTARY_API_TOKEN", hide_env_values = true)]
    pub(crate) api_token: Option<String>,
    /// Host name or address other nodes and the operator use to reach this
    /// node (default: the node id when it resolves, else 127.0.0.1).
    #[arg(long, env = "TRIBUTARY_ADVERTISE")]
    pub(crate) advertise: Option<String>,
    #[command(flatten)]
    pub(crate) webrtc: crate::webrtc::WebRtcArgs,
}

impl NodeArgs {
    /// The node id: the flag, else the host name, else a random one.
    pub(crate) fn id(&self) -> String {
        if let Some(id) = &self.node_id {
            return id.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| format!("node-{}", std::process::id()))
    }

    /// The host others reach this node at.
    pub(crate) fn advertise(&self) -> String {
        self.advertise.clone().unwrap_or_else(|| "127.0.0.1".to_owned())
    }

    /// Connects to etcd; retries for a while so nodes can start before etcd.
    pub(crate) async fn connect(&self) -> anyhow::Result<Arc<Etcd>> {
        connect_etcd(&self.etcd, &self.etcd_prefix).await
    }

    /// The node's entry, refreshed with its load.
    pub(crate) fn describe(
        &self,
        role: &str,
        http: SocketAddr,
        hub: Arc<hub::Hub>,
        relay: Option<(String, String, Option<String>)>,
    ) -> cluster::session::Describe {
        let id = self.id();
        let host = self.advertise();
        let role = role.to_owned();
        let sampler = parking_lot::Mutex::new(cluster::load::Sampler::default());
        Box::new(move || {
            let (relay, relay_server_name, relay_cert_pem) = match &relay {
                Some((a, n, c)) => (Some(a.clone()), Some(n.clone()), c.clone()),
                None => (None, None, None),
            };
            NodeInfo {
                id: id.clone(),
                role: role.clone(),
                http: Some(format!("http://{host}:{}", http.port())),
                relay,
                relay_server_name,
                relay_cert_pem,
                load: sampler.lock().sample(&hub),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }
        })
    }
}

/// Connects to etcd at `endpoints` under `prefix`; retries for 30 s so a
/// process can start before etcd.
pub(crate) async fn connect_etcd(endpoints: &[String], prefix: &str) -> anyhow::Result<Arc<Etcd>> {
    let options = EtcdOptions::new(endpoints.to_vec()).with_prefix(prefix.to_owned());
    let mut delay = Duration::from_millis(200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match Etcd::connect(options.clone()).await {
            Ok(store) => return Ok(Arc::new(store)),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, etcd = ?endpoints, "etcd not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e).with_context(|| format!("connecting to etcd at {endpoints:?}")),
        }
    }
}

/// Health routes: `/healthz` answers while the process runs; `/readyz` once
/// the node is registered in the state store.
pub(crate) fn health(registered: tokio::sync::watch::Receiver<Option<store::LeaseId>>) -> Router {
    Router::new().route("/healthz", get(|| async { "ok\n" })).route(
        "/readyz",
        get(move || {
            let ready = registered.borrow().is_some();
            async move {
                if ready {
                    (axum::http::StatusCode::OK, "ok\n")
                } else {
                    (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "not registered in the state store\n",
                    )
                }
            }
        }),
    )
}

/// Binds the RTMP and SRT ports and serves publishers (and SRT players) on them.
pub(crate) async fn spawn_media_listeners(
    hub: Arc<hub::Hub>,
    admission: ingest_node::admission::Admission,
    rtmp_listen: Option<SocketAddr>,
    srt_listen: SocketAddr,
) -> anyhow::Result<()> {
    if let Some(rtmp_listen) = rtmp_listen {
        let rtmp = tokio::net::TcpListener::bind(rtmp_listen)
            .await
            .with_context(|| format!("binding RTMP port {rtmp_listen}"))?;
        tracing::info!(addr = %rtmp.local_addr()?, "rtmp listening");
        let (hub, admission) = (hub.clone(), admission.clone());
        tokio::spawn(async move {
            if let Err(e) = ingest_node::rtmp::serve(rtmp, hub, admission).await {
                tracing::error!(%e, "rtmp listener failed");
            }
        });
    }
    let srt_config = ingest_node::srt::SharedSrtConfig {
        addr: srt_listen,
        ..Default::default()
    };
    let srt = ingest_node::srt::SharedListener::bind(&srt_config)
        .await
        .with_context(|| format!("binding SRT port {srt_listen}"))?;
    tracing::info!(addr = %srt.local_addr(), "srt listening");
    tokio::spawn(async move {
        if let Err(e) = srt.run(hub, admission).await {
            tracing::error!(%e, "srt listener failed");
        }
    });
    Ok(())
}

/// The control plane every cluster node serves: the gRPC API (with
/// reflection) on its port, and the HTTP routes for health, metrics and the
/// REST API (behind the token when set). Node listing comes from the store.
pub(crate) async fn control_plane<S: store::StateStore>(
    args: &NodeArgs,
    store: Arc<S>,
    service: Arc<control::Service>,
    metrics: Arc<control::metrics::Metrics>,
    registered: tokio::sync::watch::Receiver<Option<store::LeaseId>>,
) -> anyhow::Result<Router> {
    service.set_node_source(Arc::new(cluster::nodes::StoreNodes::new(store)));
    let token = args.api_token.as_deref().and_then(control::ApiToken::new);
    let grpc = tokio::net::TcpListener::bind(args.grpc_listen)
        .await
        .with_context(|| format!("binding gRPC port {}", args.grpc_listen))?;
    tracing::info!(addr = %grpc.local_addr()?, auth = token.is_some(), "grpc listening");
    tokio::spawn({
        let (service, token) = (service.clone(), token.clone());
        async move {
            if let Err(e) =
                control::grpc::serve(grpc, service, token, crate::standalone::shutdown_signal()).await
            {
                tracing::error!(%e, "grpc server failed");
            }
        }
    });
    Ok(health(registered)
        .merge(control::metrics::router(metrics))
        .merge(control::rest::router_with_token(service, token)))
}

/// A node whose HTTP port is bound and whose registration runs.
pub(crate) struct Running {
    listener: tokio::net::TcpListener,
    /// The node's lease and entry.
    pub(crate) session: cluster::session::Session,
    router: Router,
}

/// Binds the HTTP port, registers the node (`role`, with its relay entry
/// for ingests) and builds its router: control plane and media outputs.
pub(crate) async fn start<S: store::StateStore>(
    args: &NodeArgs,
    role: &str,
    store: Arc<S>,
    service: Arc<control::Service>,
    metrics: Arc<control::metrics::Metrics>,
    relay: Option<(String, String, Option<String>)>,
) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(args.http_listen)
        .await
        .with_context(|| format!("binding HTTP port {}", args.http_listen))?;
    let http = listener.local_addr()?;
    let hub = service.hub().clone();
    let session = cluster::session::Session::start(
        store.clone(),
        Duration::from_secs(args.lease_ttl),
        Duration::from_secs(2),
        args.describe(role, http, hub.clone(), relay),
    );
    let admit = if role == "ingest" {
        crate::webrtc::admit(ingest_node::admission::Admission::new(service.watch()))
    } else {
        crate::webrtc::refuse_publishers()
    };
    let webrtc = crate::webrtc::start(&args.webrtc, hub.clone(), admit, &metrics).await?;
    let router = control_plane(args, store, service, metrics, session.lease())
        .await?
        .merge(webrtc)
        .merge(edge_node::http::router(hub));
    tracing::info!(id = %args.id(), %role, addr = %http, "node http listening");
    Ok(Running {
        listener,
        session,
        router,
    })
}

/// Serves HTTP until Ctrl-C or SIGTERM, then revokes the node's lease so
/// that its entry, ownerships and statuses go at once, not after the TTL.
pub(crate) async fn serve<S: store::StateStore>(running: Running, store: &S) -> anyhow::Result<()> {
    let app = running
        .router
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(running.listener, app)
        .with_graceful_shutdown(crate::standalone::shutdown_signal())
        .await
        .context("serving HTTP");
    running.session.close(store).await;
    served
}

/// The node's control service: specs from the store, API writes to the store.
pub(crate) fn service<S: store::StateStore>(
    store: Arc<S>,
    hub: Arc<hub::Hub>,
    id: &str,
) -> Arc<control::Service> {
    let service = Arc::new(
        control::Service::new(
            hub,
            std::collections::BTreeMap::new(),
            Some(cluster::specs::persist_streams(store.clone())),
            id,
        )
        .with_pushes(
            std::collections::BTreeMap::new(),
            Some(cluster::specs::persist_pushes(store.clone())),
        ),
    );
    tokio::spawn(cluster::specs::follow(store, service.clone()));
    service
}
