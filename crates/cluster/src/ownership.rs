//! Ingest: ownership and status of the streams live on this node.
//!
//! For each stream of the hub that has a publisher, the node claims
//! `streams/{name}/owner` (create-if-absent, bound to its lease) and keeps
//! `streams/{name}/status` up to date under the same lease. When the stream
//! ends both are deleted. A claim held by another node is left alone and
//! retried: it frees itself when that node's lease ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hub::Hub;
use spec::StreamStatus;
use store::{LeaseId, StateStore, StoreError, keys};
use tokio::sync::watch;

/// Computes a stream's status as this node sees it.
pub type StatusOf = Box<dyn Fn(&str) -> Option<StreamStatus> + Send + Sync>;

/// What the node holds for one stream.
#[derive(Debug, Clone, PartialEq)]
struct Held {
    lease: LeaseId,
    /// The status last written, to skip identical writes.
    status: Option<Vec<u8>>,
    written: tokio::time::Instant,
}

/// Outcome of one pass, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Streams claimed in this pass.
    pub claimed: Vec<String>,
    /// Streams released in this pass.
    pub released: Vec<String>,
    /// Live streams another node owns.
    pub contested: Vec<(String, String)>,
}

/// Claims and releases stream ownership for node `id`.
pub struct Owner<S> {
    store: Arc<S>,
    hub: Arc<Hub>,
    id: String,
    status_of: StatusOf,
    held: HashMap<String, Held>,
    /// Contested streams already logged, with the owner seen.
    contested: HashMap<String, String>,
    /// Rewrite an unchanged status this often (it also proves the claim is still ours).
    pub refresh: Duration,
}

impl<S: StateStore> Owner<S> {
    /// An owner for node `id` over `hub`.
    pub fn new(store: Arc<S>, hub: Arc<Hub>, id: &str, status_of: StatusOf) -> Self {
        Self {
            store,
            hub,
            id: id.to_owned(),
            status_of,
            held: HashMap::new(),
            contested: HashMap::new(),
            refresh: Duration::from_secs(5),
        }
    }

    /// Names of the streams this node owns.
    pub fn owned(&self) -> Vec<String> {
        let mut v: Vec<String> = self.held.keys().cloned().collect();
        v.sort();
        v
    }

    /// One pass over the hub with the node's current `lease` (`None`: not
    /// registered, nothing can be claimed; what was held is forgotten, since
    /// it went with the old lease).
    pub async fn pass(&mut self, lease: Option<LeaseId>) -> store::Result<Pass> {
        let mut out = Pass::default();
        let Some(lease) = lease else {
            self.held.clear();
            return Ok(out);
        };
        // claims made under an older lease went with it
        self.held.retain(|_, h| h.lease == lease);
        let mut live = Vec::new();
        for name in self.hub.names() {
            if let Some(s) = self.hub.get(&name)
                && s.state() != hub::State::Offline
            {
                live.push(name);
            }
        }
        let mut first_error = None;
        for name in &live {
            if let Err(e) = self.hold(name, lease, &mut out).await {
                first_error.get_or_insert(e);
            }
        }
        let gone: Vec<String> = self.held.keys().filter(|n| !live.contains(n)).cloned().collect();
        for name in gone {
            match self.release(&name).await {
                Ok(()) => {
                    self.held.remove(&name);
                    out.released.push(name);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.contested.retain(|n, _| live.contains(n));
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    async fn hold(&mut self, name: &str, lease: LeaseId, out: &mut Pass) -> store::Result<()> {
        let owner_key = keys::owner_key(name);
        if !self.held.contains_key(name) {
            let claimed = self
                .store
                .claim(&owner_key, self.id.as_bytes().to_vec(), lease)
                .await?;
            if !claimed {
                let current = self.store.get(&owner_key).await?;
                let current = current.map(|v| String::from_utf8_lossy(&v).into_owned());
                match current {
                    Some(owner) if owner == self.id => {
                        // ours from an earlier lease or run: bind it to the current lease
                        self.store
                            .put(&owner_key, self.id.as_bytes().to_vec(), Some(lease))
                            .await?;
                    }
                    Some(owner) => {
                        if self.contested.get(name) != Some(&owner) {
                            tracing::warn!(stream = name, %owner, "stream is live here but owned by another node; waiting for its lease to end");
                            self.contested.insert(name.to_owned(), owner.clone());
                        }
                        out.contested.push((name.to_owned(), owner));
                        return Ok(());
                    }
                    // released between the claim and the read: claim again next pass
                    None => return Ok(()),
                }
            }
            tracing::info!(stream = name, node = %self.id, "claimed stream ownership");
            self.contested.remove(name);
            out.claimed.push(name.to_owned());
            self.held.insert(
                name.to_owned(),
                Held {
                    lease,
                    status: None,
                    written: tokio::time::Instant::now(),
                },
            );
        }
        let Some(status) = (self.status_of)(name) else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&status).map_err(|source| StoreError::Encode {
            key: keys::stream_status_key(name),
            source,
        })?;
        let held = self.held.get_mut(name).expect("held above");
        if held.status.as_ref() != Some(&bytes) || held.written.elapsed() >= self.refresh {
            self.store
                .put(&keys::stream_status_key(name), bytes.clone(), Some(lease))
                .await?;
            held.status = Some(bytes);
            held.written = tokio::time::Instant::now();
        }
        Ok(())
    }

    async fn release(&self, name: &str) -> store::Result<()> {
        let owner_key = keys::owner_key(name);
        if let Some(v) = self.store.get(&owner_key).await?
            && v == self.id.as_bytes()
        {
            self.store.delete(&keys::stream_status_key(name)).await?;
            self.store.delete(&owner_key).await?;
            tracing::info!(stream = name, node = %self.id, "released stream ownership");
        }
        Ok(())
    }

    /// Runs passes every `period` and whenever the lease changes, until aborted.
    pub async fn run(mut self, lease: watch::Receiver<Option<LeaseId>>, period: Duration) {
        let mut passes = crate::passes::Passes::new(lease, period);
        while let Some(current) = passes.next().await {
            let result = self.pass(current).await;
            passes.report(result, "updating stream ownership failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::sample;
    use store::Embedded;

    fn status_of(hub: Arc<Hub>) -> StatusOf {
        Box::new(move |name| {
            let s = hub.get(name)?;
            Some(StreamStatus {
                viewers: s.viewers(),
                ..StreamStatus::default()
            })
        })
    }

    fn go_live(hub: &Hub, name: &str) -> hub::Publisher {
        let p = hub.stream(name).publish().unwrap();
        p.set_tracks(vec![sample::h264_track(1)]);
        p.push(sample::h264_frame(1, 0, true, 100));
        p
    }

    #[tokio::test(start_paused = true)]
    async fn claims_live_streams_and_releases_them_when_they_end() {
        let store = Arc::new(Embedded::new());
        let hub = Arc::new(Hub::default());
        let lease = store.grant_lease(Duration::from_secs(10)).await.unwrap();
        let mut owner = Owner::new(store.clone(), hub.clone(), "ingest-a", status_of(hub.clone()));
        hub.stream("idle");
        let p = go_live(&hub, "cam");
        let pass = owner.pass(Some(lease)).await.unwrap();
        assert_eq!(pass.claimed, vec!["cam".to_owned()]);
        assert_eq!(
            store.get("streams/cam/owner").await.unwrap().unwrap(),
            b"ingest-a"
        );
        assert!(store.get("streams/cam/status").await.unwrap().is_some());
        assert!(store.get("streams/idle/owner").await.unwrap().is_none());
        // a second pass changes nothing
        assert_eq!(owner.pass(Some(lease)).await.unwrap(), Pass::default());
        drop(p);
        let pass = owner.pass(Some(lease)).await.unwrap();
        assert_eq!(pass.released, vec!["cam".to_owned()]);
        assert!(store.get("streams/cam/owner").await.unwrap().is_none());
        assert!(store.get("streams/cam/status").await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_owned_elsewhere_is_claimed_once_that_lease_ends() {
        let store = Arc::new(Embedded::new());
        let (hub_a, hub_b) = (Arc::new(Hub::default()), Arc::new(Hub::default()));
        let lease_a = store.grant_lease(Duration::from_secs(3)).await.unwrap();
        let lease_b = store.grant_lease(Duration::from_secs(30)).await.unwrap();
        let mut a = Owner::new(store.clone(), hub_a.clone(), "a", status_of(hub_a.clone()));
        let mut b = Owner::new(store.clone(), hub_b.clone(), "b", status_of(hub_b.clone()));
        let _pa = go_live(&hub_a, "cam");
        let _pb = go_live(&hub_b, "cam");
        assert_eq!(
            a.pass(Some(lease_a)).await.unwrap().claimed,
            vec!["cam".to_owned()]
        );
        let pass = b.pass(Some(lease_b)).await.unwrap();
        assert_eq!(pass.contested, vec![("cam".to_owned(), "a".to_owned())]);
        // node a dies: its lease is not renewed
        tokio::time::sleep(Duration::from_secs(4)).await;
        store.keep_alive(lease_b).await.unwrap();
        assert!(
            store.get("streams/cam/owner").await.unwrap().is_none(),
            "lease a ended"
        );
        assert_eq!(
            b.pass(Some(lease_b)).await.unwrap().claimed,
            vec!["cam".to_owned()]
        );
        assert_eq!(store.get("streams/cam/owner").await.unwrap().unwrap(), b"b");
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_lease_rebinds_the_claim() {
        let store = Arc::new(Embedded::new());
        let hub = Arc::new(Hub::default());
        let mut owner = Owner::new(store.clone(), hub.clone(), "a", status_of(hub.clone()));
        let _p = go_live(&hub, "cam");
        let first = store.grant_lease(Duration::from_secs(10)).await.unwrap();
        owner.pass(Some(first)).await.unwrap();
        // the store lost nothing but the node re-registered with a new lease
        let second = store.grant_lease(Duration::from_secs(10)).await.unwrap();
        owner.pass(Some(second)).await.unwrap();
        store.revoke(first).await.unwrap();
        assert_eq!(
            store.get("streams/cam/owner").await.unwrap().unwrap(),
            b"a",
            "bound to the new lease"
        );
        assert_eq!(owner.owned(), vec!["cam".to_owned()]);
    }
}
