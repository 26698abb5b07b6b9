//! The node's lease and registration under `nodes/{role}/{id}`.

use std::sync::Arc;
use std::time::Duration;

use spec::node::NodeInfo;
use store::{LeaseId, StateStore, StoreError, keys};
use tokio::sync::watch;

/// Builds the node's current entry (called at every refresh).
pub type Describe = Box<dyn Fn() -> NodeInfo + Send + Sync>;

/// A registered node: its lease (renewed in the background) and its entry.
#[derive(Debug)]
pub struct Session {
    lease: watch::Receiver<Option<LeaseId>>,
    task: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Registers the node described by `describe` with a lease of `ttl`, and
    /// keeps both alive: renewals every `ttl / 3`, the entry rewritten every
    /// `refresh` (load figures). When the lease is found ended (the store lost
    /// it, or the node was paused past its TTL) a new one is granted and the
    /// entry written again. Store errors are retried; they never end the session.
    pub fn start<S: StateStore>(store: Arc<S>, ttl: Duration, refresh: Duration, describe: Describe) -> Self {
        let (tx, lease) = watch::channel(None);
        let task = tokio::spawn(run(store, ttl, refresh, describe, tx));
        Self { lease, task }
    }

    /// The current lease (`None` while the node is not registered).
    pub fn lease(&self) -> watch::Receiver<Option<LeaseId>> {
        self.lease.clone()
    }

    /// Waits until the node is registered; returns its lease.
    pub async fn registered(&self) -> LeaseId {
        let mut rx = self.lease.clone();
        loop {
            if let Some(l) = *rx.borrow_and_update() {
                return l;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops renewing and revokes the lease: the entry and everything bound
    /// to the lease (ownerships, statuses) vanish at once.
    pub async fn close<S: StateStore>(self, store: &S) {
        self.task.abort();
        let lease = *self.lease.borrow();
        if let Some(lease) = lease
            && let Err(e) = store.revoke(lease).await
        {
            tracing::warn!(error = %e, "revoking the node lease failed; it ends with its TTL");
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run<S: StateStore>(
    store: Arc<S>,
    ttl: Duration,
    refresh: Duration,
    describe: Describe,
    tx: watch::Sender<Option<LeaseId>>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let lease = match register(&*store, ttl, &describe).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "registering the node failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        let info = describe();
        tracing::info!(role = %info.role, id = %info.id, lease = lease.0, "node registered");
        tx.send_replace(Some(lease));
        keep(&*store, lease, ttl, refresh, &describe).await;
        tx.send_replace(None);
        tracing::warn!(lease = lease.0, "node lease lost; registering again");
    }
}

async fn register<S: StateStore>(store: &S, ttl: Duration, describe: &Describe) -> store::Result<LeaseId> {
    let lease = store.grant_lease(ttl).await?;
    let info = describe();
    store::json::put_json(store, &keys::node_key(&info.role, &info.id), &info, Some(lease)).await?;
    Ok(lease)
}

/// Renews `lease` and rewrites the entry until the lease is found ended.
async fn keep<S: StateStore>(
    store: &S,
    lease: LeaseId,
    ttl: Duration,
    refresh: Duration,
    describe: &Describe,
) {
    let period = (ttl / 3).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last_write = tokio::time::Instant::now();
    let mut failing = false;
    loop {
        tick.tick().await;
        match store.keep_alive(lease).await {
            Ok(()) => {
                if failing {
                    tracing::info!(lease = lease.0, "state store reachable again");
                    failing = false;
                    // the store may have restarted: write the entry again at once
                    last_write = tokio::time::Instant::now() - refresh;
                }
            }
            Err(StoreError::LeaseNotFound(_)) => return,
            Err(e) => {
                if !failing {
                    tracing::warn!(lease = lease.0, error = %e, "renewing the node lease failed; retrying");
                }
                failing = true;
                continue;
            }
        }
        if last_write.elapsed() >= refresh {
            let info = describe();
            match store::json::put_json(store, &keys::node_key(&info.role, &info.id), &info, Some(lease))
                .await
            {
                Ok(()) => last_write = tokio::time::Instant::now(),
                Err(StoreError::LeaseNotFound(_)) => return,
                Err(e) => tracing::warn!(error = %e, "updating the node entry failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Embedded;

    fn node(id: &str) -> Describe {
        let id = id.to_owned();
        Box::new(move || NodeInfo {
            id: id.clone(),
            role: "ingest".into(),
            ..NodeInfo::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn registers_renews_and_registers_again_after_losing_the_lease() {
        let store = Arc::new(Embedded::new());
        let session = Session::start(
            store.clone(),
            Duration::from_secs(3),
            Duration::from_secs(1),
            node("a"),
        );
        let lease = session.registered().await;
        let info: NodeInfo = store::json::get_json(&*store, "nodes/ingest/a")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.id, "a");
        // renewed: still there long after the TTL
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(store.get("nodes/ingest/a").await.unwrap().is_some());
        // the store loses the lease: a new one is granted and the entry comes back
        let mut rx = session.lease();
        rx.borrow_and_update();
        store.revoke(lease).await.unwrap();
        assert!(store.get("nodes/ingest/a").await.unwrap().is_none());
        let new = loop {
            rx.changed().await.unwrap();
            if let Some(l) = *rx.borrow() {
                break l;
            }
        };
        assert_ne!(new, lease);
        assert!(store.get("nodes/ingest/a").await.unwrap().is_some());
        session.close(&*store).await;
        assert!(store.get("nodes/ingest/a").await.unwrap().is_none());
    }
}
