//! The running operator: leader election, a store watch that triggers
//! reconciles when nodes or streams change, and the controllers, which run
//! only while this replica leads.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use kube::Client;
use store::StateStore;
use tokio::sync::watch;

use crate::controller::{self, Metrics};
use crate::leader;
use crate::reconcile::{Reconciler, Settings};

/// Everything the operator is configured with.
#[derive(Clone, Debug)]
pub struct Options {
    /// The controllers' settings.
    pub controller: controller::Config,
    /// The leader election's settings.
    pub leader: leader::Config,
    /// The reconciler's settings.
    pub settings: Settings,
}

/// Minimum time between two store-triggered reconciles of everything.
const TRIGGER_EVERY: Duration = Duration::from_secs(2);

/// Runs the operator until `shutdown` completes. `leading` reports whether
/// this replica leads (for readiness and metrics).
pub async fn run<S: StateStore>(
    client: Client,
    store: Arc<S>,
    options: Options,
    metrics: Metrics,
    leading: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = Box::pin(shutdown).shared();
    let reconciler = Arc::new(Reconciler::new(store.clone(), options.settings.clone()));
    let (trigger_tx, trigger_rx) = watch::channel(());
    let watcher = tokio::spawn(watch_store(store, trigger_tx));

    let (leader_tx, mut leader_rx) = watch::channel(false);
    let election = tokio::spawn(leader::run(
        client.clone(),
        options.leader.clone(),
        leader_tx,
        shutdown.clone(),
    ));

    loop {
        tokio::select! {
            () = shutdown.clone() => break,
            r = leader_rx.wait_for(|l| *l) => if r.is_err() { break },
        }
        leading.send_replace(true);
        tracing::info!("leading: reconciling Stream and Push resources");
        let mut lost = leader_rx.clone();
        let stop = {
            let shutdown = shutdown.clone();
            async move {
                tokio::select! {
                    () = shutdown => {}
                    _ = lost.wait_for(|l| !*l) => {}
                }
            }
        };
        controller::run(
            client.clone(),
            reconciler.clone(),
            options.controller.clone(),
            metrics.clone(),
            trigger_rx.clone(),
            stop,
        )
        .await;
        leading.send_replace(false);
        if shutdown.peek().is_some() {
            break;
        }
        tracing::info!("no longer leading: controllers stopped");
    }
    let _ = election.await;
    watcher.abort();
}

/// Fires `trigger` when anything under the store's prefix changes, at most
/// once per [`TRIGGER_EVERY`]; re-establishes the watch when it ends.
async fn watch_store<S: StateStore>(store: Arc<S>, trigger: watch::Sender<()>) {
    let changed = Arc::new(tokio::sync::Notify::new());
    let pace = {
        let changed = changed.clone();
        async move {
            loop {
                changed.notified().await;
                trigger.send_replace(());
                tokio::time::sleep(TRIGGER_EVERY).await;
            }
        }
    };
    let follow = async move {
        loop {
            let mut watch = match store.watch("").await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "watching the store failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            // `Notify` keeps one permit: a burst of changes is one trigger.
            while watch.next().await.is_some() {
                changed.notify_one();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::join!(pace, follow);
}
