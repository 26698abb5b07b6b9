//! Prometheus metrics of the relay (prometheus-client). Both sides share one
//! [`Metrics`]; a node registers it once and hands an `Arc` to its server
//! and client.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets_range};
use prometheus_client::registry::Registry;

/// Label of per-stream families.
pub type StreamLabel = Vec<(String, String)>;

/// The relay's metric families. `Default` gives unregistered metrics (tests).
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Seconds from the ingest taking a frame from its buffer to the edge
    /// pushing it into its hub (100 us .. 1 s buckets).
    pub latency: Histogram,
    /// Bytes sent on media streams (ingest).
    pub bytes_sent: Counter,
    /// Bytes received on media streams (edge).
    pub bytes_received: Counter,
    /// Frames sent (ingest).
    pub frames_sent: Counter,
    /// Frames received and pushed into the hub (edge).
    pub frames_received: Counter,
    /// Groups reset by the ingest because they fell behind, per stream.
    pub dropped_groups: Family<StreamLabel, Counter>,
    /// Subscriptions this edge holds on ingests.
    pub upstream_subscriptions: Gauge,
    /// Subscriptions edges hold on this ingest.
    pub downstream_subscriptions: Gauge,
    /// Open QUIC connections (both sides).
    pub connections: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            latency: Histogram::new(exponential_buckets_range(0.0001, 1.0, 21)),
            bytes_sent: Counter::default(),
            bytes_received: Counter::default(),
            frames_sent: Counter::default(),
            frames_received: Counter::default(),
            dropped_groups: Family::default(),
            upstream_subscriptions: Gauge::default(),
            downstream_subscriptions: Gauge::default(),
            connections: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Creates the families and registers them under the `relay_` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("relay");
        r.register(
            "latency_seconds",
            "Frame relay latency: ingest buffer to edge hub",
            m.latency.clone(),
        );
        r.register("sent_bytes", "Media bytes sent to edges", m.bytes_sent.clone());
        r.register(
            "received_bytes",
            "Media bytes received from ingests",
            m.bytes_received.clone(),
        );
        r.register("sent_frames", "Frames sent to edges", m.frames_sent.clone());
        r.register(
            "received_frames",
            "Frames received from ingests",
            m.frames_received.clone(),
        );
        r.register(
            "dropped_groups",
            "Groups of pictures reset because they fell behind",
            m.dropped_groups.clone(),
        );
        r.register(
            "upstream_subscriptions",
            "Subscriptions this edge holds on ingests",
            m.upstream_subscriptions.clone(),
        );
        r.register(
            "downstream_subscriptions",
            "Subscriptions edges hold on this ingest",
            m.downstream_subscriptions.clone(),
        );
        r.register(
            "connections",
            "Open relay QUIC connections",
            m.connections.clone(),
        );
        m
    }

    /// Dropped groups of `stream` so far.
    pub fn dropped(&self, stream: &str) -> u64 {
        self.dropped_groups
            .get_or_create(&vec![("stream".to_owned(), stream.to_owned())])
            .get()
    }

    pub(crate) fn drop_group(&self, stream: &str) {
        self.dropped_groups
            .get_or_create(&vec![("stream".to_owned(), stream.to_owned())])
            .inc();
    }
}

/// Decrements a gauge when dropped.
#[derive(Debug)]
pub(crate) struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub(crate) fn new(g: &Gauge) -> Self {
        g.inc();
        Self(g.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
