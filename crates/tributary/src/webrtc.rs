//! WebRTC flags and start-up, shared by `standalone`, `ingest` and `edge`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

/// WebRTC (WHEP playback, WHIP publishing) settings.
#[derive(Debug, Clone, Args)]
pub(crate) struct WebRtcArgs {
    /// The UDP port every WebRTC session shares.
    #[arg(long, env = "TRIBUTARY_WEBRTC_LISTEN", default_value = "0.0.0.0:8189")]
    pub(crate) webrtc_listen: SocketAddr,
    /// Addresses announced to WebRTC peers (ICE host candidates), comma
    /// separated: the node's public addresses behind NAT or in Kubernetes.
    /// Default: the listen address, or 127.0.0.1 when that is 0.0.0.0.
    #[arg(long, env = "TRIBUTARY_PUBLIC_IP", value_delimiter = ',')]
    pub(crate) public_ip: Vec<IpAddr>,
    /// Run loops sharing the WebRTC sessions, each on a thread of its own
    /// (a frame's first packets go to a loop's viewers one after the other);
    /// 0: four per core the process may use.
    #[arg(long, env = "TRIBUTARY_WEBRTC_LOOPS", default_value_t = 0)]
    pub(crate) webrtc_loops: usize,
}

/// Binds the WebRTC port and returns its HTTP routes (`/whep/NAME`, `/whip/NAME`).
pub(crate) async fn start(
    args: &WebRtcArgs,
    hub: Arc<hub::Hub>,
    admit: webrtc::server::Admit,
    metrics: &control::metrics::Metrics,
) -> anyhow::Result<axum::Router> {
    let config = webrtc::server::Config {
        listen: args.webrtc_listen,
        public_ips: args.public_ip.clone(),
        loops: args.webrtc_loops,
        ..webrtc::server::Config::default()
    };
    let server = webrtc::server::Server::bind(config, hub, admit)
        .await
        .with_context(|| format!("binding the WebRTC port {}", args.webrtc_listen))?;
    let stats = server.stats.clone();
    metrics.register(|r| r.register_collector(Box::new(webrtc::server::Collector(stats))));
    Ok(webrtc::http::router(server))
}

/// Publishing admission from the node's stream specs (as RTMP and SRT).
pub(crate) fn admit(admission: ingest_node::admission::Admission) -> webrtc::server::Admit {
    Arc::new(move |name, peer, key| {
        admission
            .check(name, peer, key)
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

/// Refuses every publisher (edges).
pub(crate) fn refuse_publishers() -> webrtc::server::Admit {
    Arc::new(|_, _, _| Err("edge nodes do not take publishers; publish to an ingest node".to_owned()))
}
