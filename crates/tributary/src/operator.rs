//! `tributary operator`: the Kubernetes operator for `Stream` and `Push`
//! resources, and `tributary operator crds`, which prints their definitions.

use std::net::SocketAddr;

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
    anyhow::bail!("the operator's controller is not built yet")
}
