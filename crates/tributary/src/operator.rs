//! `tributary operator`: the Kubernetes operator for `Stream` and `Push`
//! resources, and `tributary operator crds`, which prints their definitions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use clap::{Parser, Subcommand};

/// Arguments of `tributary operator`.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Print the CustomResourceDefinitions of Stream and Push as YAML.
    Crds,
}

/// Arguments of the running operator.
#[derive(Debug, Parser)]
pub(crate) struct RunArgs {
    /// etcd endpoints, comma separated (e.g. `http://etcd:2379`).
    #[arg(long, env = "TRIBUTARY_ETCD", value_delimiter = ',')]
    pub(crate) etcd: Vec<String>,
    /// Key prefix of the cluster state in etcd.
    #[arg(long, env = "TRIBUTARY_ETCD_PREFIX", default_value = store::DEFAULT_PREFIX)]
    pub(crate) etcd_prefix: String,
    /// Watch resources in this namespace only (default: all namespaces).
    #[arg(long, env = "TRIBUTARY_WATCH_NAMESPACE")]
    pub(crate) watch_namespace: Option<String>,
    /// Namespace of the leader-election Lease (default: the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub(crate) leader_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, env = "TRIBUTARY_LEADER_LEASE", default_value = "tributary-operator")]
    pub(crate) leader_lease: String,
    /// This replica's identity in the Lease (default: the pod name or host name).
    #[arg(long, env = "POD_NAME")]
    pub(crate) identity: Option<String>,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "TRIBUTARY_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub(crate) http_listen: SocketAddr,
    /// Public base URL of the edges' HTTP service, for playback URLs in
    /// statuses (e.g. `https://live.example.com`).
    #[arg(long, env = "TRIBUTARY_PUBLIC_HTTP_URL")]
    pub(crate) public_http_url: Option<String>,
    /// Public host name of the ingest service, for publish URLs in statuses.
    #[arg(long, env = "TRIBUTARY_PUBLIC_INGEST_HOST")]
    pub(crate) public_ingest_host: Option<String>,
    /// Public host name of the edges' SRT service, for SRT playback URLs.
    #[arg(long, env = "TRIBUTARY_PUBLIC_EDGE_HOST")]
    pub(crate) public_edge_host: Option<String>,
    /// Seconds between reconciles of each resource when nothing changes.
    #[arg(long, env = "TRIBUTARY_RESYNC_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) resync_seconds: u64,
}

/// Runs the operator or one of its subcommands.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Some(Sub::Crds) => {
            print!("{}", operator::crd::definitions_yaml());
            Ok(())
        }
        None => run_operator(args.run),
    }
}

fn run_operator(args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.etcd.is_empty(), "--etcd (or TRIBUTARY_ETCD) is required");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let identity = args.identity.clone().unwrap_or_else(host_name);
    let listener = tokio::net::TcpListener::bind(args.http_listen)
        .await
        .with_context(|| format!("binding {}", args.http_listen))?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster service account or kubeconfig)")?;

    let registry = Arc::new(control::metrics::Metrics::new());
    let metrics = operator::controller::Metrics::default();
    registry.register(|r| metrics.register(r));
    let (leading_tx, leading) = tokio::sync::watch::channel(false);
    {
        let leading = leading.clone();
        registry.register(move |r| {
            r.register_collector(Box::new(LeaderCollector(leading)));
        });
    }

    let options = operator::runtime::Options {
        controller: operator::controller::Config {
            watch_namespace: args.watch_namespace.clone(),
            resync: Duration::from_secs(args.resync_seconds),
            instance: identity.clone(),
        },
        leader: operator::leader::Config {
            namespace: args.leader_namespace.clone(),
            name: args.leader_lease.clone(),
            identity: identity.clone(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        },
        settings: operator::reconcile::Settings {
            urls: operator::decide::PublicUrls {
                http: args.public_http_url.clone(),
                ingest_host: args.public_ingest_host.clone(),
                edge_host: args.public_edge_host.clone(),
            },
            status_refresh: Duration::from_secs(args.resync_seconds),
        },
    };
    tracing::info!(%identity, addr = %listener.local_addr()?, "operator starting");
    let shutdown = futures_util::FutureExt::shared(Box::pin(crate::standalone::shutdown_signal()));
    // etcd may come up after the operator: serve health at once, connect in
    // the background for as long as it takes (never a crash loop).
    let (store_tx, store_rx) = tokio::sync::watch::channel(None);
    let http = axum::serve(listener, router(registry, store_rx)).with_graceful_shutdown(shutdown.clone());
    let mut operator = {
        let shutdown = shutdown.clone();
        let etcd = args.etcd.clone();
        let prefix = args.etcd_prefix.clone();
        tokio::spawn(async move {
            let store = tokio::select! {
                s = connect_forever(&etcd, &prefix) => s,
                () = shutdown.clone() => return,
            };
            store_tx.send_replace(Some(store.clone()));
            operator::runtime::run(client, store, options, metrics, leading_tx, shutdown).await;
        })
    };
    tokio::select! {
        served = http => {
            // Give the operator time to stop its controllers and release its Lease.
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut operator).await;
            served.context("serving HTTP")
        }
        ended = &mut operator => {
            ended.context("the operator task failed")?;
            anyhow::ensure!(shutdown.peek().is_some(), "the operator stopped unexpectedly");
            Ok(())
        }
    }
}

async fn connect_forever(endpoints: &[String], prefix: &str) -> Arc<store::Etcd> {
    let options = store::EtcdOptions::new(endpoints.to_vec()).with_prefix(prefix.to_owned());
    let mut delay = Duration::from_millis(200);
    loop {
        match store::Etcd::connect(options.clone()).await {
            Ok(store) => return Arc::new(store),
            Err(e) => {
                tracing::warn!(error = %e, etcd = ?endpoints, "etcd not reachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// `/healthz` (the process runs), `/readyz` (etcd answers; standby replicas
/// are ready too) and `/metrics`.
fn router(
    registry: Arc<control::metrics::Metrics>,
    store: tokio::sync::watch::Receiver<Option<Arc<store::Etcd>>>,
) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let store = store.borrow().clone();
                async move {
                    use store::StateStore;
                    let Some(store) = store else {
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "etcd: not connected yet\n".to_owned(),
                        );
                    };
                    match tokio::time::timeout(Duration::from_secs(2), store.get("nodes/")).await {
                        Ok(Ok(_)) => (StatusCode::OK, "ok\n".to_owned()),
                        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "etcd: timed out\n".to_owned()),
                    }
                }
            }),
        )
        .merge(control::metrics::router(registry))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("operator-{}", std::process::id()))
}

/// `tributary_operator_leader`: 1 while this replica leads.
#[derive(Debug)]
struct LeaderCollector(tokio::sync::watch::Receiver<bool>);

impl prometheus_client::collector::Collector for LeaderCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let metric = encoder.encode_descriptor(
            "tributary_operator_leader",
            "1 while this operator replica leads",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        prometheus_client::metrics::gauge::ConstGauge::new(i64::from(*self.0.borrow())).encode(metric)
    }
}
