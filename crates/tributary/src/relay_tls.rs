//! The QUIC relay in the cluster roles: TLS settings, the ingest's relay
//! server and the edge's on-demand puller with an etcd resolver.
//!
//! TLS is always on. With certificate files the relay uses them (and mutual
//! TLS when a client CA is given); without, the ingest generates a
//! self-signed certificate at start and publishes it in its etcd entry, and
//! edges trust exactly that certificate for that node (etcd is then the
//! trust anchor).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use store::StateStore;

/// Relay TLS settings of an ingest node.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServerArgs {
    /// Relay certificate chain (PEM); without it a self-signed certificate is
    /// generated and published in etcd for edges to pin.
    #[arg(long, env = "TRIBUTARY_RELAY_CERT", requires = "relay_key")]
    pub(crate) relay_cert: Option<PathBuf>,
    /// Private key of the relay certificate (PEM).
    #[arg(long, env = "TRIBUTARY_RELAY_KEY", requires = "relay_cert")]
    pub(crate) relay_key: Option<PathBuf>,
    /// CA (PEM) whose client certificates edges must present: mutual TLS.
    #[arg(long, env = "TRIBUTARY_RELAY_CLIENT_CA")]
    pub(crate) relay_client_ca: Option<PathBuf>,
    /// The name the relay certificate is valid for (default: the node id).
    #[arg(long, env = "TRIBUTARY_RELAY_SERVER_NAME")]
    pub(crate) relay_server_name: Option<String>,
}

/// Relay TLS settings of an edge node.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClientArgs {
    /// CA (PEM) that issued the ingests' relay certificates; ingests with a
    /// self-signed certificate are trusted by the copy in their etcd entry.
    #[arg(long, env = "TRIBUTARY_RELAY_CA")]
    pub(crate) relay_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for ingests that require mutual TLS.
    #[arg(long, env = "TRIBUTARY_RELAY_CLIENT_CERT", requires = "relay_client_key")]
    pub(crate) relay_client_cert: Option<PathBuf>,
    /// Private key of the client certificate (PEM).
    #[arg(long, env = "TRIBUTARY_RELAY_CLIENT_KEY", requires = "relay_client_cert")]
    pub(crate) relay_client_key: Option<PathBuf>,
}

fn read(path: &PathBuf, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

/// The ingest's running relay and what its node entry says about it.
pub(crate) struct ServedRelay {
    _server: relay::Server,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) server_name: String,
    /// The self-signed certificate edges pin, when no files were given.
    pub(crate) cert_pem: Option<String>,
}

/// Binds the relay port of an ingest node.
pub(crate) fn serve_relay(
    args: &crate::ingest::Args,
    id: &str,
    hub: Arc<hub::Hub>,
    metrics: Arc<relay::Metrics>,
) -> anyhow::Result<ServedRelay> {
    let tls = &args.tls;
    let server_name = tls.relay_server_name.clone().unwrap_or_else(|| id.to_owned());
    let client_ca = tls
        .relay_client_ca
        .as_ref()
        .map(|p| read(p, "relay client CA"))
        .transpose()?;
    let (config, cert_pem) = match (&tls.relay_cert, &tls.relay_key) {
        (Some(cert), Some(key)) => (
            relay::tls::server_config(
                &read(cert, "relay certificate")?,
                &read(key, "relay key")?,
                client_ca.as_deref(),
            )
            .context("relay TLS")?,
            None,
        ),
        _ => {
            let own = relay::tls::SelfSigned::generate(std::slice::from_ref(&server_name))
                .context("generating the relay certificate")?;
            (
                own.server_config(client_ca.as_deref()).context("relay TLS")?,
                Some(own.cert_pem.clone()),
            )
        }
    };
    let server = relay::Server::bind(
        args.relay_listen,
        config,
        hub,
        metrics,
        relay::ServerConfig::default(),
    )
    .with_context(|| format!("binding the relay port {}", args.relay_listen))?;
    let addr = server.local_addr()?;
    tracing::info!(%addr, %server_name, self_signed = cert_pem.is_some(), "relay listening");
    Ok(ServedRelay {
        _server: server,
        addr,
        server_name,
        cert_pem,
    })
}

/// Resolves a stream's upstream from etcd: owner, then the owner's entry.
struct EtcdResolver<S> {
    store: Arc<S>,
}

impl<S: StateStore> relay::Resolver for EtcdResolver<S> {
    async fn upstream(&self, stream: &str) -> Option<relay::Upstream> {
        let info = match cluster::resolve::owner(&*self.store, stream).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(stream, "no upstream: {e}");
                return None;
            }
        };
        let relay_addr = info.relay.as_deref()?;
        let addr = match tokio::net::lookup_host(relay_addr).await.map(|mut a| a.next()) {
            Ok(Some(a)) => a,
            Ok(None) | Err(_) => {
                tracing::warn!(stream, node = %info.id, relay = relay_addr, "the owner's relay address does not resolve");
                return None;
            }
        };
        let pinned_cert = match info
            .relay_cert_pem
            .as_deref()
            .map(|p| CertificateDer::from_pem_slice(p.as_bytes()))
        {
            None => None,
            Some(Ok(c)) => Some(c.into_owned()),
            Some(Err(e)) => {
                tracing::warn!(stream, node = %info.id, "the owner's relay certificate does not parse: {e}");
                return None;
            }
        };
        Some(relay::Upstream {
            addr,
            server_name: info.relay_server_name.clone().unwrap_or_else(|| info.id.clone()),
            pinned_cert,
        })
    }
}

/// The edge's relay: one client, one puller serving every hub stream on demand.
pub(crate) struct Pulling {
    _task: tokio::task::JoinHandle<()>,
}

impl Drop for Pulling {
    fn drop(&mut self) {
        self._task.abort();
    }
}

/// Starts the edge's relay client and serves every stream of `hub` on demand.
pub(crate) fn pull_on_demand<S: StateStore>(
    args: &crate::edge::Args,
    store: Arc<S>,
    hub: Arc<hub::Hub>,
    metrics: Arc<relay::Metrics>,
) -> anyhow::Result<Pulling> {
    let tls = &args.tls;
    let ca = tls.relay_ca.as_ref().map(|p| read(p, "relay CA")).transpose()?;
    let identity = match (&tls.relay_client_cert, &tls.relay_client_key) {
        (Some(c), Some(k)) => Some((read(c, "relay client certificate")?, read(k, "relay client key")?)),
        _ => None,
    };
    let client_tls = relay::tls::ClientTls::new(
        ca.as_deref(),
        identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
    )
    .context("relay TLS")?;
    // a dead ingest is noticed within seconds, so failover does not wait long
    let config = relay::ClientConfig {
        keep_alive: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(4),
        ..relay::ClientConfig::default()
    };
    let client = relay::Client::new(hub.clone(), client_tls, metrics, config);
    let puller = relay::Puller::new(
        client,
        EtcdResolver { store },
        relay::PullerConfig {
            idle_timeout: Duration::from_secs(args.idle_timeout),
            ..relay::PullerConfig::default()
        },
    );
    // every stream the hub knows (defined, or owned somewhere) is served on demand
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut watched = std::collections::BTreeSet::new();
        loop {
            tick.tick().await;
            let names: std::collections::BTreeSet<String> = hub.names().into_iter().collect();
            for name in names.difference(&watched) {
                puller.watch(name);
            }
            for name in watched.difference(&names) {
                puller.unwatch(name);
            }
            watched = names;
        }
    });
    Ok(Pulling { _task: task })
}
