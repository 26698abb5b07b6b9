//! The in-process store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::watch::{Reported, Watch, WatchEvent};
use crate::{LeaseId, Result, StateStore, StoreError};

/// Change events kept for slow watchers before they resynchronise from a listing.
const EVENTS_BUFFER: usize = 1024;

/// An in-process [`StateStore`]: a `BTreeMap` with revisions, leases that
/// expire on tokio time, and watchers fed by a broadcast channel. Cloning
/// shares the same store. Leases and watches need a running tokio runtime.
#[derive(Clone)]
pub struct Embedded {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    events: broadcast::Sender<(i64, WatchEvent)>,
}

#[derive(Default)]
struct State {
    kv: BTreeMap<String, Entry>,
    leases: HashMap<i64, Lease>,
    revision: i64,
    next_lease: i64,
}

struct Entry {
    value: Vec<u8>,
    lease: Option<i64>,
    mod_revision: i64,
}

struct Lease {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<String>,
}

impl Default for Embedded {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("Embedded")
            .field("keys", &state.kv.len())
            .field("leases", &state.leases.len())
            .field("revision", &state.revision)
            .finish()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn listing(&self, prefix: &str) -> Vec<(String, Vec<u8>, i64)> {
        self.kv
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, e)| (k.clone(), e.value.clone(), e.mod_revision))
            .collect()
    }

    fn detach(&mut self, key: &str, lease: Option<i64>) {
        if let Some(lease) = lease.and_then(|id| self.leases.get_mut(&id)) {
            lease.keys.remove(key);
        }
    }

    fn remove(&mut self, key: &str, events: &broadcast::Sender<(i64, WatchEvent)>) -> bool {
        let Some(entry) = self.kv.remove(key) else {
            return false;
        };
        self.detach(key, entry.lease);
        self.revision += 1;
        let _ = events.send((self.revision, WatchEvent::Delete { key: key.to_owned() }));
        true
    }

    fn set(
        &mut self,
        key: &str,
        value: Vec<u8>,
        lease: Option<i64>,
        events: &broadcast::Sender<(i64, WatchEvent)>,
    ) {
        self.revision += 1;
        let entry = Entry {
            value: value.clone(),
            lease,
            mod_revision: self.revision,
        };
        if let Some(old) = self.kv.insert(key.to_owned(), entry) {
            self.detach(key, old.lease);
        }
        if let Some(lease) = lease.and_then(|id| self.leases.get_mut(&id)) {
            lease.keys.insert(key.to_owned());
        }
        let _ = events.send((
            self.revision,
            WatchEvent::Put {
                key: key.to_owned(),
                value,
            },
        ));
    }

    fn end_lease(&mut self, id: i64, events: &broadcast::Sender<(i64, WatchEvent)>) {
        if let Some(lease) = self.leases.remove(&id) {
            for key in lease.keys {
                self.remove(&key, events);
            }
        }
    }
}

impl Embedded {
    /// An empty store.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(EVENTS_BUFFER);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                events,
            }),
        }
    }
}

/// Ends lease `id` at its deadline unless it is renewed or revoked first.
async fn expire_lease(inner: Weak<Inner>, id: i64, mut deadline: Instant) {
    loop {
        tokio::time::sleep_until(deadline).await;
        let Some(inner) = inner.upgrade() else { return };
        let mut state = inner.lock();
        match state.leases.get(&id) {
            None => return,
            Some(lease) if lease.deadline <= Instant::now() => {
                state.end_lease(id, &inner.events);
                return;
            }
            Some(lease) => deadline = lease.deadline,
        }
    }
}

/// Feeds one watcher: the listing at subscription, then the broadcast events.
async fn run_watch(
    inner: Weak<Inner>,
    prefix: String,
    mut rx: broadcast::Receiver<(i64, WatchEvent)>,
    listing: Vec<(String, Vec<u8>, i64)>,
    mut last: i64,
    tx: tokio::sync::mpsc::Sender<WatchEvent>,
) {
    let mut reported = Reported::default();
    let mut pending = reported.resync(listing);
    loop {
        for event in pending.drain(..) {
            if tx.send(event).await.is_err() {
                return;
            }
        }
        let received = tokio::select! {
            () = tx.closed() => return,
            received = rx.recv() => received,
        };
        match received {
            Ok((revision, event)) => {
                let key = match &event {
                    WatchEvent::Put { key, .. } | WatchEvent::Delete { key } => key,
                };
                if revision > last && key.starts_with(&prefix) && reported.record(&event, revision) {
                    pending.push(event);
                }
                last = last.max(revision);
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let Some(inner) = inner.upgrade() else { return };
                let state = inner.lock();
                rx = rx.resubscribe();
                last = state.revision;
                pending = reported.resync(state.listing(&prefix));
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl StateStore for Embedded {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.lock().kv.get(key).map(|e| e.value.clone()))
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<()> {
        let mut state = self.inner.lock();
        if let Some(LeaseId(id)) = lease
            && !state.leases.contains_key(&id)
        {
            return Err(StoreError::LeaseNotFound(LeaseId(id)));
        }
        state.set(key, value, lease.map(|l| l.0), &self.inner.events);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.inner.lock().remove(key, &self.inner.events))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let state = self.inner.lock();
        Ok(state
            .listing(prefix)
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect())
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let ttl = Duration::from_secs(crate::ttl_secs(ttl).unsigned_abs());
        let deadline = Instant::now() + ttl;
        let id = {
            let mut state = self.inner.lock();
            state.next_lease += 1;
            let id = state.next_lease;
            state.leases.insert(
                id,
                Lease {
                    ttl,
                    deadline,
                    keys: BTreeSet::new(),
                },
            );
            id
        };
        tokio::spawn(expire_lease(Arc::downgrade(&self.inner), id, deadline));
        Ok(LeaseId(id))
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        let mut state = self.inner.lock();
        let entry = state
            .leases
            .get_mut(&lease.0)
            .ok_or(StoreError::LeaseNotFound(lease))?;
        entry.deadline = Instant::now() + entry.ttl;
        Ok(())
    }

    async fn revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.lock().end_lease(lease.0, &self.inner.events);
        Ok(())
    }

    async fn claim(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<bool> {
        let mut state = self.inner.lock();
        if !state.leases.contains_key(&lease.0) {
            return Err(StoreError::LeaseNotFound(lease));
        }
        if state.kv.contains_key(key) {
            return Ok(false);
        }
        state.set(key, value, Some(lease.0), &self.inner.events);
        Ok(true)
    }

    async fn watch(&self, prefix: &str) -> Result<Watch> {
        let (tx, watch) = Watch::channel();
        let (rx, listing, revision) = {
            let state = self.inner.lock();
            (
                self.inner.events.subscribe(),
                state.listing(prefix),
                state.revision,
            )
        };
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(run_watch(inner, prefix.to_owned(), rx, listing, revision, tx));
        Ok(watch)
    }
}
