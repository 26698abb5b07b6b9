//! One reconcile of one resource against the cluster store: reads what the
//! nodes published, applies the decisions of [`crate::decide`] to the store,
//! and returns what must change on the resource (finalizers, status, events).
//!
//! Nothing here talks to Kubernetes: [`crate::controller`] turns resources into
//! [`Resource`] and applies the [`Outcome`], and tests can drive the same code
//! with hand-made resources against a real store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use spec::node::NodeInfo;
use spec::{PushSpec, PushStatus, StreamSpec, StreamStatus, Time};
use store::{StateStore, StoreError, keys};

use crate::decide::{self, FinalizerStep, Invalid, Note, Placement, PublicUrls};

/// How long an assignment counts as "recent" for placement.
const RECENT: Duration = Duration::from_secs(30);

/// The kind of a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A `Stream`.
    Stream,
    /// A `Push`.
    Push,
}

/// A resource as the reconciler needs it.
#[derive(Clone, Debug, Default)]
pub struct Resource {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`: the stream's or push's name in the cluster.
    pub name: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `metadata.creationTimestamp`.
    pub created: Option<Time>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `metadata.finalizers`.
    pub finalizers: Vec<String>,
    /// `spec`, unparsed: a bad spec becomes a condition, not an error.
    pub spec: serde_json::Value,
    /// `status`, if any.
    pub status: Option<serde_json::Value>,
}

/// What must change on the resource after a reconcile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The new finalizer list, when it changes.
    pub finalizers: Option<Vec<String>>,
    /// The new status, when it changes.
    pub status: Option<serde_json::Value>,
    /// Events to emit.
    pub events: Vec<Note>,
    /// The store failed; retry with backoff.
    pub error: Option<String>,
}

/// Settings of the reconciler.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Public addresses for playback URLs.
    pub urls: PublicUrls,
    /// A status whose only changes are rates and counters is rewritten at
    /// most this often.
    pub status_refresh: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            urls: PublicUrls::default(),
            status_refresh: Duration::from_secs(10),
        }
    }
}

/// The reconciler: the store plus what it remembers between reconciles.
#[derive(Debug)]
pub struct Reconciler<S> {
    store: Arc<S>,
    settings: Settings,
    recent: Mutex<BTreeMap<String, Vec<Instant>>>,
    /// Placement reads the nodes, decides and writes the assignment under
    /// this lock, so concurrent reconciles see each other's choices.
    placing: tokio::sync::Mutex<()>,
}

impl<S: StateStore> Reconciler<S> {
    /// A reconciler over `store`.
    pub fn new(store: Arc<S>, settings: Settings) -> Self {
        Self {
            store,
            settings,
            recent: Mutex::new(BTreeMap::new()),
            placing: tokio::sync::Mutex::new(()),
        }
    }

    /// Reconciles a resource. `conflict` names the namespace that holds the
    /// same name first, if any (see [`decide::name_conflict`]).
    pub async fn reconcile(&self, kind: Kind, r: &Resource, conflict: Option<&str>) -> Outcome {
        match decide::finalizer_step(r.deleting, &r.finalizers) {
            FinalizerStep::Ignore => Outcome::default(),
            FinalizerStep::Add => Outcome {
                finalizers: Some(decide::finalizers_with(&r.finalizers, true)),
                ..Outcome::default()
            },
            FinalizerStep::Cleanup => self.cleanup(kind, r, conflict).await,
            FinalizerStep::Reconcile => match kind {
                Kind::Stream => self.stream(r, conflict).await,
                Kind::Push => self.push(r, conflict).await,
            },
        }
    }

    async fn cleanup(&self, kind: Kind, r: &Resource, conflict: Option<&str>) -> Outcome {
        // A conflicting or invalid resource never wrote to the store; the
        // name belongs to someone else or to nothing.
        let valid = spec::StreamName::parse(&r.name).is_ok();
        if valid && conflict.is_none() {
            let keys = match kind {
                Kind::Stream => vec![keys::stream_spec_key(&r.name), keys::assignment_key(&r.name)],
                Kind::Push => vec![keys::push_spec_key(&r.name)],
            };
            for key in keys {
                if let Err(e) = self.store.delete(&key).await {
                    return Outcome {
                        error: Some(format!("removing {key}: {e}")),
                        ..Outcome::default()
                    };
                }
            }
            tracing::info!(kind = ?kind, name = %r.name, namespace = %r.namespace, "removed from the store");
        }
        Outcome {
            finalizers: Some(decide::finalizers_with(&r.finalizers, false)),
            ..Outcome::default()
        }
    }

    async fn stream(&self, r: &Resource, conflict: Option<&str>) -> Outcome {
        let previous: Option<StreamStatus> = r.status.clone().and_then(|v| serde_json::from_value(v).ok());
        let parsed = match conflict {
            Some(ns) => Err(conflict_error("Stream", ns, &r.name)),
            None => decide::parse_stream(&r.name, &r.spec),
        };
        let now = now();
        let mut observed = Observed::default();
        let mut placement = None;
        let mut earlier_spec = false;
        let store_result = match &parsed {
            Ok(spec) => {
                self.apply_stream(&r.name, spec, &mut observed, &mut placement)
                    .await
            }
            // An invalid spec changes nothing; an earlier valid one (if any) stays.
            Err(invalid) if invalid.reason != "NameConflict" && invalid.reason != "InvalidName" => self
                .store
                .get(&keys::stream_spec_key(&r.name))
                .await
                .map(|v| earlier_spec = v.is_some()),
            Err(_) => Ok(()),
        };
        let store_error = store_result.as_ref().err().map(ToString::to_string);
        let status = decide::stream_status(&decide::StreamObservation {
            name: &r.name,
            generation: r.generation,
            spec: parsed.as_ref(),
            placement: placement.as_ref(),
            store: store_error.as_deref().map_or(Ok(()), Err),
            node_status: observed.status.as_ref(),
            owner: observed.owner.as_deref(),
            viewers: observed.viewers,
            previous: previous.as_ref(),
            earlier_spec,
            urls: &self.settings.urls,
            now,
        });
        let events = decide::events(
            placement.as_ref(),
            previous.as_ref().map_or(&[][..], |p| &p.conditions),
            &status.conditions,
        );
        self.finish(previous.as_ref(), &status, events, store_error)
    }

    /// Writes the spec and the assignment, and reads what the nodes report.
    /// `placement` is set as soon as the assignment is decided (and written),
    /// so a later read failure does not lose the decision's event.
    async fn apply_stream(
        &self,
        name: &str,
        spec: &StreamSpec,
        observed: &mut Observed,
        placement: &mut Option<Placement>,
    ) -> store::Result<()> {
        put_if_changed(&*self.store, &keys::stream_spec_key(name), spec).await?;
        let nodes = {
            let _placing = self.placing.lock().await;
            let current = self
                .store
                .get(&keys::assignment_key(name))
                .await?
                .map(|v| String::from_utf8_lossy(&v).trim().to_owned())
                .filter(|s| !s.is_empty());
            let nodes = self.nodes().await?;
            let ingests: Vec<NodeInfo> = nodes.iter().filter(|n| n.role == "ingest").cloned().collect();
            let decided = decide::place(spec, current.as_deref(), &ingests, &self.recent_counts());
            match decided.store_change(current.as_deref()) {
                Some(Some(node)) => {
                    self.store
                        .put(&keys::assignment_key(name), node.as_bytes().to_vec(), None)
                        .await?;
                    self.recent
                        .lock()
                        .entry(node.to_owned())
                        .or_default()
                        .push(Instant::now());
                    tracing::info!(stream = name, node, "assigned");
                }
                Some(None) => {
                    self.store.delete(&keys::assignment_key(name)).await?;
                }
                None => {}
            }
            *placement = Some(decided);
            nodes
        };
        observed.owner = self
            .store
            .get(&keys::owner_key(name))
            .await?
            .map(|v| String::from_utf8_lossy(&v).trim().to_owned());
        observed.status = read_json(&*self.store, &keys::stream_status_key(name)).await?;
        observed.viewers = nodes.iter().filter_map(|n| n.load.stream_viewers.get(name)).sum();
        Ok(())
    }

    async fn push(&self, r: &Resource, conflict: Option<&str>) -> Outcome {
        let previous: Option<PushStatus> = r.status.clone().and_then(|v| serde_json::from_value(v).ok());
        let parsed = match conflict {
            Some(ns) => Err(conflict_error("Push", ns, &r.name)),
            None => decide::parse_push(&r.name, &r.spec),
        };
        let mut node_status = None;
        let store_result: store::Result<()> = match &parsed {
            Ok(spec) => {
                async {
                    put_if_changed::<_, PushSpec>(&*self.store, &keys::push_spec_key(&r.name), spec).await?;
                    node_status = read_json(&*self.store, &keys::push_status_key(&r.name)).await?;
                    Ok(())
                }
                .await
            }
            Err(_) => Ok(()),
        };
        let store_error = store_result.as_ref().err().map(ToString::to_string);
        let status = decide::push_status(&decide::PushObservation {
            generation: r.generation,
            spec: parsed.as_ref(),
            store: store_error.as_deref().map_or(Ok(()), Err),
            node_status: node_status.as_ref(),
            previous: previous.as_ref(),
            now: now(),
        });
        let events = decide::events(
            None,
            previous.as_ref().map_or(&[][..], |p| &p.conditions),
            &status.conditions,
        );
        self.finish(previous.as_ref(), &status, events, store_error)
    }

    async fn nodes(&self) -> store::Result<Vec<NodeInfo>> {
        let mut out = Vec::new();
        for (key, value) in self.store.list(keys::NODES).await? {
            match serde_json::from_slice::<NodeInfo>(&value) {
                Ok(n) => out.push(n),
                Err(e) => tracing::warn!(%key, error = %e, "skipping a node entry that does not parse"),
            }
        }
        Ok(out)
    }

    fn finish<T: Serialize>(
        &self,
        previous: Option<&T>,
        status: &T,
        events: Vec<Note>,
        error: Option<String>,
    ) -> Outcome {
        let refresh = i64::try_from(self.settings.status_refresh.as_millis()).unwrap_or(i64::MAX);
        Outcome {
            finalizers: None,
            status: decide::status_needs_write(previous, status, refresh)
                .then(|| serde_json::to_value(status).ok())
                .flatten(),
            events,
            error,
        }
    }

    fn recent_counts(&self) -> BTreeMap<String, u32> {
        let mut recent = self.recent.lock();
        recent.retain(|_, times| {
            times.retain(|t| t.elapsed() < RECENT);
            !times.is_empty()
        });
        recent
            .iter()
            .map(|(n, t)| (n.clone(), u32::try_from(t.len()).unwrap_or(u32::MAX)))
            .collect()
    }
}

#[derive(Debug, Default)]
struct Observed {
    owner: Option<String>,
    status: Option<StreamStatus>,
    viewers: u64,
}

fn conflict_error(kind: &str, namespace: &str, name: &str) -> Invalid {
    Invalid {
        reason: "NameConflict",
        message: format!(
            "a {kind} named {name:?} in namespace {namespace:?} was created first; names are unique across namespaces"
        ),
    }
}

async fn put_if_changed<S: StateStore, T: Serialize + DeserializeOwned + PartialEq>(
    store: &S,
    key: &str,
    value: &T,
) -> store::Result<()> {
    let current: Option<T> = match store.get(key).await? {
        Some(bytes) => serde_json::from_slice(&bytes).ok(),
        None => None,
    };
    if current.as_ref() != Some(value) {
        let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            key: key.to_owned(),
            source,
        })?;
        store.put(key, bytes, None).await?;
    }
    Ok(())
}

async fn read_json<S: StateStore, T: DeserializeOwned>(store: &S, key: &str) -> store::Result<Option<T>> {
    Ok(match store.get(key).await? {
        Some(bytes) => match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(%key, error = %e, "ignoring a value that does not parse");
                None
            }
        },
        None => None,
    })
}

fn now() -> Time {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Time::from_unix_millis(ms)
}
