//! The Kubernetes side: watches `Stream` and `Push` resources with kube's
//! controller runtime, hands each to the [`Reconciler`], and applies the
//! [`Outcome`]: finalizer patches, status patches, and Events.
//!
//! Resources are read as dynamic objects and their specs parsed by the
//! reconciler, so one malformed resource becomes a condition on itself
//! instead of stopping the watch of all the others.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, Resource as _};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::json;
use spec::Time;
use store::StateStore;
use tokio::sync::watch;

use crate::crd::{Push, Stream};
use crate::decide;
use crate::reconcile::{Kind, Outcome, Reconciler, Resource};

/// Field manager and event reporter name.
pub const MANAGER: &str = "tributary-operator";

/// Settings of the controllers.
#[derive(Clone, Debug)]
pub struct Config {
    /// Watch this namespace only; all when `None`.
    pub watch_namespace: Option<String>,
    /// Reconcile every resource this often even when nothing changes.
    pub resync: Duration,
    /// This replica's name, in Events.
    pub instance: String,
}

/// Counters of the controllers, registered as `tributary_operator_*`.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    reconciles: Family<Vec<(String, String)>, Counter>,
}

impl Metrics {
    /// Registers the counters.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tributary_operator_reconciles",
            "Reconciles by kind and result (ok, error)",
            self.reconciles.clone(),
        );
    }

    fn count(&self, kind: Kind, ok: bool) {
        let kind = match kind {
            Kind::Stream => "stream",
            Kind::Push => "push",
        };
        let result = if ok { "ok" } else { "error" };
        self.reconciles
            .get_or_create(&vec![
                ("kind".into(), kind.into()),
                ("result".into(), result.into()),
            ])
            .inc();
    }
}

/// Why a reconcile failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster store failed.
    #[error("store: {0}")]
    Store(String),
    /// The Kubernetes API failed.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// The object has no namespace (the resources are namespaced).
    #[error("the object has no namespace")]
    NoNamespace,
}

struct Context<S> {
    kind: Kind,
    client: Client,
    resource: ApiResource,
    reconciler: Arc<Reconciler<S>>,
    cache: Store<DynamicObject>,
    recorder: Recorder,
    resync: Duration,
    /// Consecutive failures per object and when it may be retried.
    failures: Mutex<HashMap<ObjectRef<DynamicObject>, (u32, std::time::Instant)>>,
    metrics: Metrics,
}

/// The API resource of a kind.
pub fn api_resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Stream => ApiResource::erase::<Stream>(&()),
        Kind::Push => ApiResource::erase::<Push>(&()),
    }
}

/// Runs the controllers of both kinds until `shutdown` completes.
/// `trigger` fires when the store changed (nodes, statuses): every resource
/// is reconciled again then.
pub async fn run<S: StateStore>(
    client: Client,
    reconciler: Arc<Reconciler<S>>,
    config: Config,
    metrics: Metrics,
    trigger: watch::Receiver<()>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures_util::FutureExt::shared(Box::pin(shutdown));
    let streams = controller(
        Kind::Stream,
        client.clone(),
        reconciler.clone(),
        &config,
        metrics.clone(),
        trigger.clone(),
        shutdown.clone(),
    );
    let pushes = controller(
        Kind::Push,
        client,
        reconciler,
        &config,
        metrics,
        trigger,
        shutdown,
    );
    tokio::join!(streams, pushes);
}

fn controller<S: StateStore>(
    kind: Kind,
    client: Client,
    reconciler: Arc<Reconciler<S>>,
    config: &Config,
    metrics: Metrics,
    trigger: watch::Receiver<()>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    let resource = api_resource(kind);
    let api: Api<DynamicObject> = match &config.watch_namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let controller = Controller::new_with(api, watcher::Config::default(), resource.clone());
    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: Some(config.instance.clone()),
    };
    let ctx = Arc::new(Context {
        kind,
        recorder: Recorder::new(client.clone(), reporter),
        client,
        resource,
        reconciler,
        cache: controller.store(),
        resync: config.resync,
        failures: Mutex::new(HashMap::new()),
        metrics,
    });
    let triggers = futures_util::stream::unfold(trigger, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    });
    controller
        .reconcile_all_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(move |result| async move {
            if let Err(e) = result {
                tracing::debug!(?kind, error = %e, "reconcile");
            }
        })
}

async fn reconcile<S: StateStore>(obj: Arc<DynamicObject>, ctx: Arc<Context<S>>) -> Result<Action, Error> {
    let key = ObjectRef::from_obj_with(&*obj, ctx.resource.clone());
    // A failing object waits out its backoff even when a store change asks
    // for everything to be reconciled.
    if let Some(&(_, retry_at)) = ctx.failures.lock().get(&key) {
        let now = std::time::Instant::now();
        if retry_at > now {
            return Ok(Action::requeue(retry_at - now));
        }
    }
    let resource = to_resource(&obj)?;
    let conflict = {
        let same_name = ctx.cache.state();
        let others: Vec<(String, Option<Time>)> = same_name
            .iter()
            .filter(|o| o.name_any() == resource.name)
            .map(|o| (o.namespace().unwrap_or_default(), created(o)))
            .collect();
        decide::name_conflict(
            &resource.namespace,
            resource.created,
            others.iter().map(|(ns, t)| (ns.as_str(), *t)),
        )
    };
    let outcome = ctx
        .reconciler
        .reconcile(ctx.kind, &resource, conflict.as_deref())
        .await;
    let result = apply(&ctx.client, &ctx.resource, &ctx.recorder, &obj, &outcome).await;
    let ok = result.is_ok() && outcome.error.is_none();
    ctx.metrics.count(ctx.kind, ok);
    result?;
    if let Some(e) = outcome.error {
        return Err(Error::Store(e));
    }
    ctx.failures.lock().remove(&key);
    if outcome.finalizers.is_some() {
        // The patch brings the object back through the watch.
        return Ok(Action::await_change());
    }
    Ok(Action::requeue(ctx.resync))
}

fn error_policy<S: StateStore>(obj: Arc<DynamicObject>, error: &Error, ctx: Arc<Context<S>>) -> Action {
    let key = ObjectRef::from_obj_with(&*obj, ctx.resource.clone());
    let delay = {
        let mut map = ctx.failures.lock();
        let entry = map.entry(key).or_insert((0, std::time::Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        let delay = backoff(entry.0);
        entry.1 = std::time::Instant::now() + delay;
        delay
    };
    tracing::warn!(
        kind = ?ctx.kind,
        name = %obj.name_any(),
        namespace = ?obj.namespace(),
        error = %error,
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// Delay before retry number `failures` (1-based): 500 ms doubling up to 60 s.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(7);
    (Duration::from_millis(500) * (1 << exp)).min(Duration::from_secs(60))
}

/// The reconciler's view of a dynamic object.
pub fn to_resource(obj: &DynamicObject) -> Result<Resource, Error> {
    Ok(Resource {
        namespace: obj.namespace().ok_or(Error::NoNamespace)?,
        name: obj.name_any(),
        generation: obj.metadata.generation,
        created: created(obj),
        deleting: obj.metadata.deletion_timestamp.is_some(),
        finalizers: obj.finalizers().to_vec(),
        spec: obj.data.get("spec").cloned().unwrap_or(serde_json::Value::Null),
        status: obj.data.get("status").cloned().filter(|s| !s.is_null()),
    })
}

fn created(obj: &DynamicObject) -> Option<Time> {
    obj.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| Time::from_unix_millis(t.0.as_millisecond()))
}

/// Applies an outcome to the object: the finalizer list (a merge patch
/// guarded by the object's `resourceVersion`), the status (a merge patch of
/// the status subresource holding only what changed), and the events.
pub async fn apply(
    client: &Client,
    resource: &ApiResource,
    recorder: &Recorder,
    obj: &DynamicObject,
    outcome: &Outcome,
) -> Result<(), Error> {
    let ns = obj.namespace().ok_or(Error::NoNamespace)?;
    let name = obj.name_any();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, resource);
    if let Some(finalizers) = &outcome.finalizers {
        let patch = json!({
            "metadata": {
                "finalizers": finalizers,
                "resourceVersion": obj.resource_version(),
            }
        });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    if let Some(status) = &outcome.status {
        let old = obj.data.get("status").cloned().unwrap_or(serde_json::Value::Null);
        // Guarded by the version the diff was made against: a stale cached
        // object gets a conflict and a retry rather than a partial patch.
        let patch = json!({
            "metadata": { "resourceVersion": obj.resource_version() },
            "status": decide::merge_patch(&old, status),
        });
        let params = PatchParams::apply(MANAGER);
        api.patch_status(
            &name,
            &PatchParams {
                force: false,
                ..params
            },
            &Patch::Merge(&patch),
        )
        .await?;
    }
    if !outcome.events.is_empty() {
        let reference = obj.object_ref(resource);
        for note in &outcome.events {
            let event = Event {
                type_: if note.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: truncate(&note.reason, 128),
                note: Some(truncate(&note.note, 1024)),
                action: "Reconcile".into(),
                secondary: None,
            };
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::warn!(%name, reason = %note.reason, error = %e, "publishing an event failed");
            }
        }
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
