//! What a cluster node publishes about itself under `nodes/{role}/{id}`.
//!
//! The value is bound to the node's lease: when a node dies its entry
//! vanishes. Edges read an ingest's entry to reach its relay; the operator
//! reads `load` to place streams.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A node's entry in the state store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// The node's id (unique in the cluster; the pod name in Kubernetes).
    pub id: String,
    /// `ingest` or `edge`.
    pub role: String,
    /// Base URL of the node's HTTP port (outputs, REST API, metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// `HOST:PORT` of the QUIC relay (ingest nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    /// TLS server name of the relay certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_server_name: Option<String>,
    /// The relay's self-signed certificate (PEM), when the node generated its
    /// own: clients then trust exactly this certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_cert_pem: Option<String>,
    /// How busy the node is.
    #[serde(default)]
    pub load: NodeLoad,
    /// The software version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// A node's load, refreshed every few seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeLoad {
    /// CPU used by the process over the last interval, in cores (1.0 = one core busy).
    pub cpu: f64,
    /// Cores available to the process.
    pub cores: u32,
    /// Streams live on the node.
    pub streams: u32,
    /// Viewers (local subscribers) on the node.
    pub viewers: u64,
    /// Bytes per second received by the node's inputs.
    pub ingest_bytes_per_second: u64,
    /// Viewers per live stream on this node, relay subscriptions of edges not
    /// counted; streams without viewers are left out. The operator sums these
    /// over the nodes for a stream's `status.viewers`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub stream_viewers: std::collections::BTreeMap<String, u64>,
}

impl NodeLoad {
    /// A single figure for placement: CPU share of the available cores plus a
    /// small weight per stream, so idle nodes with fewer streams win ties.
    pub fn score(&self) -> f64 {
        let cores = f64::from(self.cores.max(1));
        self.cpu / cores + f64::from(self.streams) * 0.01
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_camel_case_json() {
        let info = NodeInfo {
            id: "ingest-0".into(),
            role: "ingest".into(),
            relay: Some("10.0.0.5:4433".into()),
            relay_server_name: Some("ingest-0".into()),
            load: NodeLoad {
                cpu: 0.5,
                cores: 2,
                streams: 3,
                viewers: 4,
                ingest_bytes_per_second: 5,
                stream_viewers: [("cam".to_owned(), 4)].into(),
            },
            ..NodeInfo::default()
        };
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains("\"relayServerName\":\"ingest-0\""), "{json}");
        assert!(json.contains("\"ingestBytesPerSecond\":5"), "{json}");
        assert!(!json.contains("relayCertPem"), "{json}");
        assert_eq!(serde_json::from_str::<NodeInfo>(&json).unwrap(), info);
    }

    #[test]
    fn busier_nodes_score_higher() {
        let idle = NodeLoad {
            cores: 2,
            ..NodeLoad::default()
        };
        let busy = NodeLoad {
            cpu: 1.0,
            cores: 2,
            streams: 1,
            ..NodeLoad::default()
        };
        let many = NodeLoad {
            cores: 2,
            streams: 5,
            ..NodeLoad::default()
        };
        assert!(idle.score() < busy.score());
        assert!(idle.score() < many.score());
        assert!(many.score() < busy.score());
    }
}
