//! The running operator: leader election, a store watch that triggers
//! reconciles when nodes or streams change, and the controllers, which run
//! only while this replica leads.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use kube::Client;
use store::StateStore;
use store::keys::{self, Field};
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
    // The Lease is released only after the controllers have stopped, so a
    // standby never starts while this replica still writes.
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let election = tokio::spawn(leader::run(
        client.clone(),
        options.leader.clone(),
        leader_tx,
        async move {
            let _ = release_rx.await;
        },
    ));

    loop {
        tokio::select! {
            () = shutdown.clone() => break,
            r = leader_rx.wait_for(|l| *l) => if r.is_err() { break },
        }
        leading.send_replace(true);
        tracing::info!("leading: reconciling Stream and Push resources");
        let mut lost = leader_rx.clone();
        let controllers = controller::run(
            client.clone(),
            reconciler.clone(),
            options.controller.clone(),
            metrics.clone(),
            trigger_rx.clone(),
            shutdown.clone(),
        );
        tokio::select! {
            // Shutdown: the controllers finish their reconciles and return.
            () = controllers => {}
            // Leadership lost: stop at once; reconciles in flight are
            // dropped at their next await, before another store write.
            _ = lost.wait_for(|l| !*l) => {}
        }
        leading.send_replace(false);
        if shutdown.peek().is_some() {
            break;
        }
        tracing::info!("no longer leading: controllers stopped");
    }
    let _ = release_tx.send(());
    let _ = election.await;
    watcher.abort();
}

/// Fires `trigger` when what nodes report changes (node entries, stream and
/// push owners and statuses; not the specs and assignments the operator
/// writes itself), at most once per [`TRIGGER_EVERY`]; re-establishes the
/// watches when they end.
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
    let follow = |prefix: &'static str| {
        let store = store.clone();
        let changed = changed.clone();
        async move {
            loop {
                let mut watch = match store.watch(prefix).await {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(prefix, error = %e, "watching the store failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                while let Some(event) = watch.next().await {
                    let key = match &event {
                        store::WatchEvent::Put { key, .. } | store::WatchEvent::Delete { key } => key,
                    };
                    if reported_by_nodes(key) {
                        // `Notify` keeps one permit: a burst of changes is one trigger.
                        changed.notify_one();
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    tokio::join!(
        pace,
        follow(keys::NODES),
        follow(keys::STREAMS),
        follow(keys::PUSHES)
    );
}

/// Whether a store key is one the nodes write (and the operator reads).
fn reported_by_nodes(key: &str) -> bool {
    key.starts_with(keys::NODES)
        || matches!(
            keys::parse_stream_key(key),
            Some((_, Field::Owner | Field::Status))
        )
        || matches!(keys::parse_push_key(key), Some((_, Field::Status)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_nodes_write_triggers_reconciles() {
        assert!(reported_by_nodes("nodes/ingest/i-1"));
        assert!(reported_by_nodes("streams/cam/owner"));
        assert!(reported_by_nodes("streams/cam/status"));
        assert!(reported_by_nodes("pushes/rec/status"));
        assert!(!reported_by_nodes("streams/cam/spec"));
        assert!(!reported_by_nodes("streams/cam/assignment"));
        assert!(!reported_by_nodes("pushes/rec/spec"));
    }
}
