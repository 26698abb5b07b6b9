//! Nodes and viewer sessions as the API lists them.
//!
//! Where the nodes come from is pluggable ([`NodeSource`]): a cluster lists
//! the nodes registered in its state store; by default the service reports
//! this process alone ([`LocalNode`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use hub::Hub;

use crate::load::ProcessLoad;
use crate::{ApiError, Service};

/// One node as the API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeEntry {
    /// The node's id.
    pub id: String,
    /// Its role: `standalone`, `ingest`, `edge`, `operator`.
    pub role: String,
    /// Addresses, capacity, load: whatever the node publishes, as JSON.
    pub info: serde_json::Value,
}

/// Lists the nodes of the cluster.
pub trait NodeSource: Send + Sync {
    /// Every node known right now.
    fn list(&self) -> BoxFuture<'_, Result<Vec<NodeEntry>, ApiError>>;
}

/// This process as the only node, with its load.
#[derive(Debug)]
pub struct LocalNode {
    id: String,
    role: String,
    hub: Arc<Hub>,
    load: Arc<ProcessLoad>,
}

impl LocalNode {
    /// The node `id` of `role` whose streams live in `hub`.
    pub fn new(id: &str, role: &str, hub: Arc<Hub>, load: Arc<ProcessLoad>) -> Self {
        Self {
            id: id.to_owned(),
            role: role.to_owned(),
            hub,
            load,
        }
    }

    /// The node's info: its load plus stream and viewer counts.
    pub fn info(&self) -> serde_json::Value {
        let load = self.load.sample();
        let (mut streams, mut live, mut viewers) = (0u64, 0u64, 0u64);
        for name in self.hub.names() {
            if let Some(s) = self.hub.get(&name) {
                streams += 1;
                live += u64::from(s.state() == hub::State::Live);
                viewers += s.viewers();
            }
        }
        let mut info = serde_json::to_value(load).unwrap_or_default();
        if let Some(map) = info.as_object_mut() {
            map.insert("streams".into(), streams.into());
            map.insert("streamsLive".into(), live.into());
            map.insert("viewers".into(), viewers.into());
        }
        info
    }
}

impl NodeSource for LocalNode {
    fn list(&self) -> BoxFuture<'_, Result<Vec<NodeEntry>, ApiError>> {
        let entry = NodeEntry {
            id: self.id.clone(),
            role: self.role.clone(),
            info: self.info(),
        };
        Box::pin(async move { Ok(vec![entry]) })
    }
}

/// The viewers of one stream on this node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The stream.
    pub stream: String,
    /// All its viewers.
    pub viewers: u64,
    /// Viewers by output protocol label (`hls`, `ts`, ...), only non-zero ones.
    pub by_protocol: BTreeMap<String, u64>,
}

// === impl Service (nodes and sessions) ===

impl Service {
    /// Replaces where [`Service::list_nodes`] gets the nodes (a cluster's
    /// state store); by default this process alone.
    pub fn set_node_source(&self, source: Arc<dyn NodeSource>) {
        *self.nodes.write() = source;
    }

    /// Every node of the cluster with its info.
    pub async fn list_nodes(&self) -> Result<Vec<NodeEntry>, ApiError> {
        let source = self.nodes.read().clone();
        source.list().await
    }

    /// The viewers of every stream of this process (wildcard children
    /// included), by name.
    pub fn list_sessions(&self) -> Vec<SessionView> {
        self.hub()
            .names()
            .into_iter()
            .filter_map(|name| {
                let s = self.hub().get(&name)?;
                Some(SessionView {
                    stream: name,
                    viewers: s.viewers(),
                    by_protocol: s
                        .viewers_by_protocol()
                        .into_iter()
                        .map(|(p, n)| (p.label().to_owned(), n))
                        .collect(),
                })
            })
            .collect()
    }

    /// This process's load sampler (shared with the metrics).
    pub fn load(&self) -> &Arc<ProcessLoad> {
        &self.load
    }
}
