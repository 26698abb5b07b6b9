//! Ingest: the status of the pushes this node runs, under `pushes/{name}/status`.
//!
//! A push runs on the node where its stream is live. While a push is active
//! here (connecting, pushing, retrying, or failed) the node writes its status
//! under its lease, naming itself; when the push goes idle here the node
//! removes the entry if it still names this node. A push whose pattern
//! matches streams on several nodes is reported by each in turn; the
//! operator shows the latest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use spec::{PushState, PushStatus};
use store::{LeaseId, StateStore, StoreError, keys};
use tokio::sync::watch;

/// Lists the pushes this node knows with their status here.
pub type ListPushes = Box<dyn Fn() -> Vec<(String, PushStatus)> + Send + Sync>;

/// Whether a push status means the push is doing something on this node.
pub fn is_active(state: PushState) -> bool {
    matches!(
        state,
        PushState::Connecting | PushState::Pushing | PushState::Retrying | PushState::Error
    )
}

#[derive(Debug)]
struct Written {
    lease: LeaseId,
    bytes: Vec<u8>,
    at: tokio::time::Instant,
}

/// Writes the status of the pushes active on node `id`.
pub struct PushReporter<S> {
    store: Arc<S>,
    id: String,
    list: ListPushes,
    written: HashMap<String, Written>,
    /// Rewrite an unchanged status this often.
    pub refresh: Duration,
}

impl<S: StateStore> PushReporter<S> {
    /// A reporter for node `id`.
    pub fn new(store: Arc<S>, id: &str, list: ListPushes) -> Self {
        Self {
            store,
            id: id.to_owned(),
            list,
            written: HashMap::new(),
            refresh: Duration::from_secs(5),
        }
    }

    /// One pass with the node's current `lease` (`None`: not registered;
    /// what was written went with the old lease).
    pub async fn pass(&mut self, lease: Option<LeaseId>) -> store::Result<()> {
        let Some(lease) = lease else {
            self.written.clear();
            return Ok(());
        };
        self.written.retain(|_, w| w.lease == lease);
        let mut active = Vec::new();
        let mut first_error = None;
        for (name, mut status) in (self.list)() {
            if !is_active(status.state) {
                continue;
            }
            active.push(name.clone());
            status.node = Some(self.id.clone());
            // The time stamp changes on every call; compare without it.
            let stamp = status.updated_at.take();
            let bytes = match serde_json::to_vec(&status) {
                Ok(b) => b,
                Err(source) => {
                    first_error.get_or_insert(StoreError::Encode {
                        key: keys::push_status_key(&name),
                        source,
                    });
                    continue;
                }
            };
            let fresh = self
                .written
                .get(&name)
                .is_some_and(|w| w.bytes == bytes && w.at.elapsed() < self.refresh);
            if fresh {
                continue;
            }
            status.updated_at = stamp;
            let value = serde_json::to_vec(&status).unwrap_or_else(|_| bytes.clone());
            match self
                .store
                .put(&keys::push_status_key(&name), value, Some(lease))
                .await
            {
                Ok(()) => {
                    self.written.insert(
                        name,
                        Written {
                            lease,
                            bytes,
                            at: tokio::time::Instant::now(),
                        },
                    );
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let idle: Vec<String> = self
            .written
            .keys()
            .filter(|n| !active.contains(n))
            .cloned()
            .collect();
        for name in idle {
            match self.remove_if_ours(&name).await {
                Ok(()) => {
                    self.written.remove(&name);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn remove_if_ours(&self, name: &str) -> store::Result<()> {
        let key = keys::push_status_key(name);
        if let Some(v) = self.store.get(&key).await? {
            let node = serde_json::from_slice::<PushStatus>(&v).ok().and_then(|s| s.node);
            if node.as_deref() == Some(self.id.as_str()) {
                self.store.delete(&key).await?;
            }
        }
        Ok(())
    }

    /// Runs passes every `period` and whenever the lease changes.
    pub async fn run(mut self, lease: watch::Receiver<Option<LeaseId>>, period: Duration) {
        let mut passes = crate::passes::Passes::new(lease, period);
        while let Some(current) = passes.next().await {
            let result = self.pass(current).await;
            passes.report(result, "writing push status failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use store::Embedded;

    fn lister(states: Arc<Mutex<Vec<(String, PushState, u64)>>>) -> ListPushes {
        Box::new(move || {
            states
                .lock()
                .iter()
                .map(|(n, state, bytes)| {
                    (
                        n.clone(),
                        PushStatus {
                            state: *state,
                            bytes: *bytes,
                            updated_at: Some(spec::Time::from_unix_millis(i64::try_from(*bytes).unwrap())),
                            ..PushStatus::default()
                        },
                    )
                })
                .collect()
        })
    }

    async fn read(store: &Embedded, name: &str) -> Option<PushStatus> {
        let v = store.get(&keys::push_status_key(name)).await.unwrap()?;
        Some(serde_json::from_slice(&v).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn active_pushes_are_reported_and_idle_ones_removed() {
        let store = Arc::new(Embedded::new());
        let lease = store.grant_lease(Duration::from_secs(10)).await.unwrap();
        let states = Arc::new(Mutex::new(vec![
            ("rec".to_owned(), PushState::Pushing, 100),
            ("out".to_owned(), PushState::Stopped, 0),
        ]));
        let mut r = PushReporter::new(store.clone(), "ingest-1", lister(states.clone()));

        r.pass(None).await.unwrap();
        assert!(read(&store, "rec").await.is_none(), "nothing without a lease");

        r.pass(Some(lease)).await.unwrap();
        let s = read(&store, "rec").await.unwrap();
        assert_eq!(
            (s.state, s.bytes, s.node.as_deref()),
            (PushState::Pushing, 100, Some("ingest-1"))
        );
        assert!(s.updated_at.is_some());
        assert!(
            read(&store, "out").await.is_none(),
            "a stopped push is not reported"
        );

        // Another node took over "rec": going idle here leaves its entry alone.
        states.lock()[0].1 = PushState::Waiting;
        let theirs = PushStatus {
            state: PushState::Pushing,
            node: Some("ingest-2".into()),
            ..PushStatus::default()
        };
        store
            .put(
                &keys::push_status_key("rec"),
                serde_json::to_vec(&theirs).unwrap(),
                None,
            )
            .await
            .unwrap();
        r.pass(Some(lease)).await.unwrap();
        assert_eq!(
            read(&store, "rec").await.unwrap().node.as_deref(),
            Some("ingest-2")
        );

        // Active again here, then idle: written, then removed.
        states.lock()[0].1 = PushState::Retrying;
        r.pass(Some(lease)).await.unwrap();
        assert_eq!(read(&store, "rec").await.unwrap().state, PushState::Retrying);
        states.lock()[0].1 = PushState::Stopped;
        r.pass(Some(lease)).await.unwrap();
        assert!(read(&store, "rec").await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn unchanged_statuses_are_rewritten_only_to_refresh() {
        let store = Arc::new(Embedded::new());
        let lease = store.grant_lease(Duration::from_secs(10)).await.unwrap();
        let states = Arc::new(Mutex::new(vec![("rec".to_owned(), PushState::Pushing, 5)]));
        let mut r = PushReporter::new(store.clone(), "ingest-1", lister(states.clone()));
        r.pass(Some(lease)).await.unwrap();
        // Someone deletes it; an unchanged status is not rewritten before the refresh.
        store.delete(&keys::push_status_key("rec")).await.unwrap();
        r.pass(Some(lease)).await.unwrap();
        assert!(read(&store, "rec").await.is_none());
        tokio::time::advance(Duration::from_secs(6)).await;
        r.pass(Some(lease)).await.unwrap();
        assert!(
            read(&store, "rec").await.is_some(),
            "rewritten after the refresh period"
        );
        // A change is written at once.
        store.delete(&keys::push_status_key("rec")).await.unwrap();
        states.lock()[0].2 = 6;
        r.pass(Some(lease)).await.unwrap();
        assert_eq!(read(&store, "rec").await.unwrap().bytes, 6);
    }
}
