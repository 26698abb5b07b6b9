//! `tributary ingest`: a cluster node that runs inputs, live buffers and
//! pushes, owns its live streams in etcd and serves them over the QUIC relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::node::NodeArgs;

/// Settings of an ingest node.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) node: NodeArgs,
    /// Address of the RTMP port.
    #[arg(long, env = "TRIBUTARY_RTMP_LISTEN", default_value = "0.0.0.0:1935")]
    pub(crate) rtmp_listen: SocketAddr,
    /// Address of the QUIC relay port (UDP).
    #[arg(long, env = "TRIBUTARY_RELAY_LISTEN", default_value = "0.0.0.0:4433")]
    pub(crate) relay_listen: SocketAddr,
    #[command(flatten)]
    pub(crate) tls: crate::relay_tls::ServerArgs,
    /// HLS cuts, decided here for every edge.
    #[command(flatten)]
    pub(crate) cuts: crate::standalone::CutArgs,
}

/// Runs the ingest node until Ctrl-C or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let id = args.node.id();
    let store = args.node.connect().await?;
    let hub = args.cuts.hub();
    let service = crate::node::service(store.clone(), hub.clone(), &id);
    let runs = cluster::placement::follow(store.clone(), service.watch(), id.clone());
    tokio::spawn(ingest_node::supervisor::run(runs, hub.clone()));
    let engine = ingest_node::push::engine::Engine::new(service.watch_pushes(), hub.clone());
    service.set_push_runner(Arc::new(crate::standalone::PushEngine(engine)));
    let admission = ingest_node::admission::Admission::new(service.watch());
    crate::node::spawn_media_listeners(
        hub.clone(),
        admission,
        Some(args.rtmp_listen),
        args.node.srt_listen,
    )
    .await?;

    let metrics = Arc::new(control::metrics::Metrics::for_hub(
        hub.clone(),
        service.load().clone(),
    ));
    let relay_metrics =
        Arc::new(metrics.register(|r| relay::Metrics::register(r.sub_registry_with_prefix("tributary"))));
    let relay = crate::relay_tls::serve_relay(&args, &id, hub.clone(), relay_metrics)?;

    let relay_entry = (
        format!("{}:{}", args.node.advertise(), relay.addr.port()),
        relay.server_name.clone(),
        relay.cert_pem.clone(),
    );
    let running = crate::node::start(
        &args.node,
        "ingest",
        store.clone(),
        service.clone(),
        metrics,
        Some(relay_entry),
    )
    .await?;
    let status_of: cluster::ownership::StatusOf = {
        let service = service.clone();
        Box::new(move |name| service.live_status(name))
    };
    let owner = cluster::ownership::Owner::new(store.clone(), hub.clone(), &id, status_of);
    tokio::spawn(owner.run(running.session.lease(), Duration::from_millis(500)));
    let list_pushes: cluster::push_status::ListPushes = {
        let service = service.clone();
        Box::new(move || {
            service
                .list_pushes()
                .into_iter()
                .map(|p| (p.name, p.status))
                .collect()
        })
    };
    let pushes = cluster::push_status::PushReporter::new(store.clone(), &id, list_pushes);
    tokio::spawn(pushes.run(running.session.lease(), Duration::from_secs(1)));
    let served = crate::node::serve(running, &*store).await;
    drop(relay);
    served
}
