//! Pushes in the control service: the desired push specs, their persistence,
//! and their status as the [`PushRunner`] reports it.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use spec::{PushSpec, PushState, PushStatus, StreamName};
use tokio::sync::watch;

use crate::{ApiError, Service};

/// The desired pushes by name.
pub type PushSpecs = Arc<BTreeMap<String, PushSpec>>;

/// Writes the push specs somewhere durable; called after every change.
pub type PersistPushes = Box<dyn Fn(&BTreeMap<String, PushSpec>) -> Result<(), String> + Send + Sync>;

/// What runs the pushes of this process (the ingest node's push engine).
pub trait PushRunner: Send + Sync {
    /// The status of a push; `None` when the runner does not know it.
    fn status(&self, name: &str) -> Option<PushStatus>;
    /// The status of each stream the push runs for, by stream name.
    fn stream_statuses(&self, name: &str) -> BTreeMap<String, PushStatus>;
    /// Starts a push (an automatic one that was stopped, or a manual one).
    fn start(&self, name: &str) -> Result<(), String>;
    /// Stops a push until the next start or spec change.
    fn stop(&self, name: &str) -> Result<(), String>;
}

/// A push as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushView {
    /// The push's name.
    pub name: String,
    /// What it should do.
    pub spec: PushSpec,
    /// What it does: for a pattern, the busiest of its streams' runs.
    pub status: PushStatus,
    /// The status of each stream it runs for (omitted when none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, PushStatus>,
}

/// The push half of the service's state.
pub(crate) struct Pushes {
    specs: watch::Sender<PushSpecs>,
    persist: Option<PersistPushes>,
    runner: OnceLock<Arc<dyn PushRunner>>,
}

impl Default for Pushes {
    fn default() -> Self {
        Self {
            specs: watch::channel(PushSpecs::default()).0,
            persist: None,
            runner: OnceLock::new(),
        }
    }
}

// === impl Service (pushes) ===

impl Service {
    /// Starts with these push specs (already validated, e.g. from the
    /// configuration file); `persist` is called after every push change.
    pub fn with_pushes(mut self, specs: BTreeMap<String, PushSpec>, persist: Option<PersistPushes>) -> Self {
        self.pushes.specs.send_replace(Arc::new(specs));
        self.pushes.persist = persist;
        self
    }

    /// Follows the desired push specs (the push engine does).
    pub fn watch_pushes(&self) -> watch::Receiver<PushSpecs> {
        self.pushes.specs.subscribe()
    }

    /// Sets what runs the pushes; only the first call counts.
    pub fn set_push_runner(&self, runner: Arc<dyn PushRunner>) {
        if self.pushes.runner.set(runner).is_err() {
            tracing::warn!("a push runner is already set; the new one is ignored");
        }
    }

    /// Creates or replaces a push; a changed push restarts.
    pub fn put_push(&self, name: &str, spec: PushSpec) -> Result<PushView, ApiError> {
        let name = StreamName::parse(name).map_err(|e| ApiError::Invalid(format!("push name: {e}")))?;
        if name.is_wildcard_child() {
            return Err(ApiError::Invalid(format!(
                "{name}: a push name cannot contain '+'"
            )));
        }
        spec.validate().map_err(|e| ApiError::Invalid(e.to_string()))?;
        let mut next = (**self.pushes.specs.borrow()).clone();
        let changed = next.get(name.as_str()) != Some(&spec);
        next.insert(name.as_str().to_owned(), spec);
        if changed {
            self.commit_pushes(next)?;
        }
        self.get_push(name.as_str())
    }

    /// Deletes a push; its runs stop.
    pub fn delete_push(&self, name: &str) -> Result<(), ApiError> {
        let mut next = (**self.pushes.specs.borrow()).clone();
        if next.remove(name).is_none() {
            return Err(ApiError::NoPush(name.to_owned()));
        }
        self.commit_pushes(next)
    }

    /// One push with its status.
    pub fn get_push(&self, name: &str) -> Result<PushView, ApiError> {
        let spec = self
            .pushes
            .specs
            .borrow()
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::NoPush(name.to_owned()))?;
        Ok(self.push_view(name, spec))
    }

    /// Every push with its status, by name.
    pub fn list_pushes(&self) -> Vec<PushView> {
        let specs = self.pushes.specs.borrow().clone();
        specs
            .iter()
            .map(|(name, spec)| self.push_view(name, spec.clone()))
            .collect()
    }

    /// Starts a push (see [`PushRunner::start`]).
    pub fn start_push(&self, name: &str) -> Result<PushView, ApiError> {
        self.get_push(name)?;
        self.runner()?.start(name).map_err(ApiError::Unavailable)?;
        self.get_push(name)
    }

    /// Stops a push (see [`PushRunner::stop`]).
    pub fn stop_push(&self, name: &str) -> Result<PushView, ApiError> {
        self.get_push(name)?;
        self.runner()?.stop(name).map_err(ApiError::Unavailable)?;
        self.get_push(name)
    }

    fn runner(&self) -> Result<&Arc<dyn PushRunner>, ApiError> {
        self.pushes
            .runner
            .get()
            .ok_or_else(|| ApiError::Unavailable("this node does not run pushes".into()))
    }

    fn commit_pushes(&self, next: BTreeMap<String, PushSpec>) -> Result<(), ApiError> {
        if let Some(persist) = &self.pushes.persist {
            persist(&next).map_err(ApiError::Persist)?;
        }
        self.pushes.specs.send_replace(Arc::new(next));
        Ok(())
    }

    fn push_view(&self, name: &str, spec: PushSpec) -> PushView {
        let runner = self.pushes.runner.get();
        let mut status = runner.and_then(|r| r.status(name)).unwrap_or_default();
        let mut streams = runner.map(|r| r.stream_statuses(name)).unwrap_or_default();
        let now = spec::Time::from_unix_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        );
        for s in std::iter::once(&mut status).chain(streams.values_mut()) {
            if s.state != PushState::Stopped {
                s.node = Some(self.node().to_owned());
            }
            s.updated_at = Some(now);
        }
        PushView {
            name: name.to_owned(),
            spec,
            status,
            streams,
        }
    }
}

// === impl Service (pushes from the shared state store) ===

impl Service {
    /// Replaces the push specs with what the cluster's state store holds
    /// (nothing is persisted: the store is the source).
    pub fn sync_pushes(&self, specs: BTreeMap<String, PushSpec>) {
        if **self.pushes.specs.borrow() == specs {
            return;
        }
        self.pushes.specs.send_replace(Arc::new(specs));
    }
}
