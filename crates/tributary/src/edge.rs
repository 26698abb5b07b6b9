//! `tributary edge`: a cluster node that serves viewers. A stream's first
//! viewer makes the edge find the stream's owner in etcd and subscribe to it
//! over the QUIC relay; all local viewers share that one subscription.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use store::keys::{self, Field};
use store::{StateStore, WatchEvent};

use crate::node::NodeArgs;

/// Settings of an edge node.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) node: NodeArgs,
    #[command(flatten)]
    pub(crate) tls: crate::relay_tls::ClientArgs,
    /// Seconds an upstream subscription is kept without viewers.
    #[arg(long, env = "TRIBUTARY_IDLE_TIMEOUT", default_value_t = 30)]
    pub(crate) idle_timeout: u64,
}

/// Runs the edge node until Ctrl-C or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    rt.block_on(serve(args))
}

/// Keeps a hub entry for every stream that has an owner, so that wildcard
/// children pushed to an ingest (defined by their base only) are known here.
async fn follow_owners<S: StateStore>(store: Arc<S>, hub: Arc<hub::Hub>) {
    let mut watch = loop {
        match store.watch(keys::STREAMS).await {
            Ok(w) => break w,
            Err(e) => {
                tracing::warn!(error = %e, "watching stream owners failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    while let Some(event) = watch.next().await {
        if let WatchEvent::Put { key, .. } = event
            && let Some((name, Field::Owner)) = keys::parse_stream_key(&key)
            && spec::StreamName::parse(name).is_ok()
        {
            hub.stream(name);
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let id = args.node.id();
    let store = args.node.connect().await?;
    let hub = Arc::new(hub::Hub::default());
    let service = crate::node::service(store.clone(), hub.clone(), &id);
    tokio::spawn(follow_owners(store.clone(), hub.clone()));
    let metrics = Arc::new(control::metrics::Metrics::for_hub(
        hub.clone(),
        service.load().clone(),
    ));
    let relay_metrics =
        Arc::new(metrics.register(|r| relay::Metrics::register(r.sub_registry_with_prefix("tributary"))));
    let relay = crate::relay_tls::pull_on_demand(&args, store.clone(), hub.clone(), relay_metrics)?;

    // players only: an empty spec set refuses every publisher
    let nobody = tokio::sync::watch::channel(Arc::new(BTreeMap::new())).1;
    let admission = ingest_node::admission::Admission::new(nobody);
    crate::node::spawn_media_listeners(hub.clone(), admission, None, args.node.srt_listen).await?;

    let running =
        crate::node::start(&args.node, "edge", store.clone(), service.clone(), metrics, None).await?;
    let served = crate::node::serve(running, &*store).await;
    drop(relay);
    served
}
