//! Leader election over a `coordination.k8s.io/v1` Lease, so that of several
//! operator replicas exactly one reconciles at a time.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Settings of the election.
#[derive(Clone, Debug)]
pub struct Config {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (`holderIdentity`).
    pub identity: String,
    /// How long a held lease is valid without renewal (`leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How often the holder renews and a candidate retries.
    pub retry_period: Duration,
}

/// Runs the election until `shutdown` completes; `leader` is `true` while
/// this replica holds the Lease. On shutdown a held Lease is released.
pub async fn run(
    client: kube::Client,
    config: Config,
    leader: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let _ = (client, config, leader, shutdown);
    unimplemented!("leader election")
}
