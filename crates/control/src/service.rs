//! The service behind the REST and gRPC APIs.

use std::collections::BTreeMap;
use std::sync::Arc;

use hub::Hub;
use spec::{StreamName, StreamSpec, StreamState, StreamStatus, TrackStatus};
use tokio::sync::watch;

/// The desired streams by name.
pub type Specs = Arc<BTreeMap<String, StreamSpec>>;

/// Writes the specs somewhere durable; called after every change.
pub type Persist = Box<dyn Fn(&BTreeMap<String, StreamSpec>) -> Result<(), String> + Send + Sync>;

/// Errors of the control API, each with an HTTP-like class.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No stream of that name.
    #[error("no stream named {0:?}")]
    NotFound(String),
    /// The request is malformed (bad name, bad spec).
    #[error("{0}")]
    Invalid(String),
    /// No push of that name.
    #[error("no push named {0:?}")]
    NoPush(String),
    /// Nothing runs pushes in this process, or it refused.
    #[error("{0}")]
    Unavailable(String),
    /// The spec was accepted but could not be saved.
    #[error("could not save the configuration: {0}")]
    Persist(String),
}

/// A stream as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamView {
    /// The stream's name.
    pub name: String,
    /// What it should be.
    pub spec: StreamSpec,
    /// What it is.
    pub status: StreamStatus,
}

/// Streams: desired specs plus the live state from the [`Hub`].
pub struct Service {
    hub: Arc<Hub>,
    specs: watch::Sender<Specs>,
    persist: Option<Persist>,
    node: String,
    pub(crate) pushes: crate::pushes::Pushes,
    pub(crate) nodes: parking_lot::RwLock<Arc<dyn crate::NodeSource>>,
    pub(crate) load: Arc<crate::load::ProcessLoad>,
}

// === impl Service ===

impl Service {
    /// A service over `hub` starting with `specs` (already validated, e.g.
    /// from the configuration file). `persist` is called after every change.
    pub fn new(
        hub: Arc<Hub>,
        specs: BTreeMap<String, StreamSpec>,
        persist: Option<Persist>,
        node: &str,
    ) -> Self {
        for name in specs.keys() {
            hub.stream(name);
        }
        let load = Arc::new(crate::load::ProcessLoad::default());
        let local = crate::LocalNode::new(node, "standalone", hub.clone(), load.clone());
        Self {
            hub,
            specs: watch::channel(Arc::new(specs)).0,
            persist,
            node: node.to_owned(),
            pushes: crate::pushes::Pushes::default(),
            nodes: parking_lot::RwLock::new(Arc::new(local)),
            load,
        }
    }

    /// This node's id, as statuses report it.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The hub the streams live in.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Follows the desired specs (inputs start and stop on changes).
    pub fn watch(&self) -> watch::Receiver<Specs> {
        self.specs.subscribe()
    }

    /// Creates or replaces a stream.
    pub fn put_stream(&self, name: &str, spec: StreamSpec) -> Result<StreamView, ApiError> {
        let name = StreamName::parse(name).map_err(|e| ApiError::Invalid(e.to_string()))?;
        if name.is_wildcard_child() {
            return Err(ApiError::Invalid(format!(
                "{name} is a wildcard child of {}; define the base stream instead",
                name.base()
            )));
        }
        spec.validate().map_err(|e| ApiError::Invalid(e.to_string()))?;
        let mut next = (**self.specs.borrow()).clone();
        let changed = next.get(name.as_str()) != Some(&spec);
        next.insert(name.as_str().to_owned(), spec);
        if changed {
            self.commit(next)?;
        }
        self.hub.stream(name.as_str());
        self.get_stream(name.as_str())
    }

    /// Deletes a stream; its input stops and its viewers are disconnected.
    pub fn delete_stream(&self, name: &str) -> Result<(), ApiError> {
        let mut next = (**self.specs.borrow()).clone();
        if next.remove(name).is_none() {
            return Err(ApiError::NotFound(name.to_owned()));
        }
        self.commit(next)?;
        self.hub.remove(name);
        Ok(())
    }

    /// One stream with its status.
    pub fn get_stream(&self, name: &str) -> Result<StreamView, ApiError> {
        let spec = self
            .specs
            .borrow()
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(name.to_owned()))?;
        let status = self.status(name, &spec);
        Ok(StreamView {
            name: name.to_owned(),
            spec,
            status,
        })
    }

    /// Every stream with its status, by name.
    pub fn list_streams(&self) -> Vec<StreamView> {
        let specs = self.specs.borrow().clone();
        specs
            .iter()
            .map(|(name, spec)| StreamView {
                name: name.clone(),
                spec: spec.clone(),
                status: self.status(name, spec),
            })
            .collect()
    }

    fn commit(&self, next: BTreeMap<String, StreamSpec>) -> Result<(), ApiError> {
        if let Some(persist) = &self.persist {
            persist(&next).map_err(ApiError::Persist)?;
        }
        self.specs.send_replace(Arc::new(next));
        Ok(())
    }

    /// The live status of a stream, from its buffer and publisher state.
    fn status(&self, name: &str, spec: &StreamSpec) -> StreamStatus {
        let mut status = StreamStatus::default();
        let Some(stream) = self.hub.get(name) else {
            return status;
        };
        status.state = match stream.state() {
            hub::State::Live => StreamState::Live,
            hub::State::Booting => StreamState::Booting,
            hub::State::Offline if spec.parsed_source().is_ok_and(|s| s.is_push()) => StreamState::Waiting,
            hub::State::Offline => StreamState::Offline,
        };
        if status.state != StreamState::Offline {
            status.node = Some(self.node.clone());
        }
        status.last_error = stream.last_error();
        status.viewers = stream.viewers();
        if status.state == StreamState::Live {
            let rates = stream.track_bitrates();
            status.tracks = stream
                .tracks()
                .iter()
                .map(|t| track_status(t, rates.get(&t.id).copied()))
                .collect();
        }
        status
    }
}

fn track_status(t: &media::Track, bitrate: Option<u64>) -> TrackStatus {
    let mut s = TrackStatus {
        id: t.id,
        codec: t.codec.to_string(),
        bitrate,
        ..TrackStatus::default()
    };
    if let Some(v) = &t.video {
        s.width = Some(v.width);
        s.height = Some(v.height);
        s.fps = v.fps;
    }
    if let Some(a) = &t.audio {
        s.sample_rate = Some(a.sample_rate);
        s.channels = Some(u32::from(a.channels));
    }
    s
}

// === impl Service (shared state store) ===

impl Service {
    /// Replaces the stream specs with what the cluster's state store holds.
    /// Nothing is persisted: the store is the source. Streams that vanished
    /// are removed from the hub (their inputs stop, their viewers end).
    pub fn sync_specs(&self, specs: BTreeMap<String, StreamSpec>) {
        let old = self.specs.borrow().clone();
        if *old == specs {
            return;
        }
        for name in specs.keys() {
            self.hub.stream(name);
        }
        for name in old.keys().filter(|n| !specs.contains_key(*n)) {
            self.hub.remove(name);
        }
        self.specs.send_replace(Arc::new(specs));
    }

    /// The live status of stream `name` (a defined stream or a wildcard
    /// child of one) as this node sees it; `None` when no spec covers it.
    pub fn live_status(&self, name: &str) -> Option<StreamStatus> {
        let parsed = StreamName::parse(name).ok()?;
        let specs = self.specs.borrow().clone();
        let spec = specs.get(name).or_else(|| specs.get(parsed.base()))?;
        Some(self.status(name, spec))
    }
}
