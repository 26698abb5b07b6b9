//! Prometheus metrics (`prometheus-client`): one shared [`Registry`] per
//! process, served as `GET /metrics` in the OpenMetrics text format.
//!
//! Other parts of the process register their own families before or while
//! serving ([`Metrics::register`], e.g. `metrics.register(|r| relay.register(r))`).
//! The hub's and the process's figures are read at scrape time by
//! collectors, so the media path pays nothing for them:
//!
//! | family | type | labels | what |
//! |---|---|---|---|
//! | `tributary_stream_live` | gauge | `stream` | 1 while frames flow |
//! | `tributary_stream_ingest_bits_per_second` | gauge | `stream` | sum of the tracks' bitrates over the buffered window |
//! | `tributary_stream_frames_total` | counter | `stream` | frames accepted |
//! | `tributary_stream_bytes_in_total` | counter | `stream` | payload bytes accepted |
//! | `tributary_stream_viewers` | gauge | `stream`, `protocol` | readers by output protocol (non-zero ones) |
//! | `tributary_streams`, `tributary_streams_live` | gauge | | streams in the hub, live ones |
//! | `process_cpu_seconds_total` | counter | | user + system CPU time |
//! | `tributary_node_load` | gauge | | CPU time over wall time between scrapes per CPU (0..1) |
//! | `process_open_fds` | gauge | | open descriptors, sockets included |

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hub::Hub;
use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
pub use prometheus_client::registry::Registry;

use crate::load::ProcessLoad;

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The process's metric registry.
#[derive(Debug, Default)]
pub struct Metrics {
    registry: RwLock<Registry>,
}

// === impl Metrics ===

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the hub's and the process's collectors.
    pub fn for_hub(hub: Arc<Hub>, load: Arc<ProcessLoad>) -> Self {
        let metrics = Self::new();
        metrics.register(|r| {
            r.register_collector(Box::new(HubCollector { hub }));
            r.register_collector(Box::new(ProcessCollector { load }));
        });
        metrics
    }

    /// Registers families or collectors; works before and while serving.
    pub fn register<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry.write())
    }

    /// The OpenMetrics text of every family.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::text::encode(&mut out, &self.registry.read())?;
        Ok(out)
    }
}

/// `GET /metrics`; merge into the node's HTTP router (open, like `/healthz`).
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { scrape(&metrics) }
        }),
    )
}

fn scrape(metrics: &Metrics) -> Response {
    match metrics.encode() {
        Ok(text) => {
            let mut r = text.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            r
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// Per-stream figures of a hub, read at scrape time.
#[derive(Debug)]
struct HubCollector {
    hub: Arc<Hub>,
}

struct StreamRow {
    name: String,
    live: bool,
    bitrate: u64,
    frames: u64,
    bytes: u64,
    viewers: Vec<(&'static str, u64)>,
}

impl Collector for HubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows: Vec<StreamRow> = self
            .hub
            .names()
            .into_iter()
            .filter_map(|name| {
                let s = self.hub.get(&name)?;
                let live = s.state() == hub::State::Live;
                Some(StreamRow {
                    live,
                    bitrate: if live {
                        s.track_bitrates().values().sum()
                    } else {
                        0
                    },
                    frames: s.stats().pushed,
                    bytes: s.bytes_in(),
                    viewers: s
                        .viewers_by_protocol()
                        .into_iter()
                        .map(|(p, n)| (p.label(), n))
                        .collect(),
                    name,
                })
            })
            .collect();
        let live = rows.iter().filter(|r| r.live).count() as u64;
        gauge(
            &mut encoder,
            "tributary_streams",
            "Streams in this process",
            rows.len() as u64,
        )?;
        gauge(
            &mut encoder,
            "tributary_streams_live",
            "Streams with frames flowing",
            live,
        )?;
        per_stream(
            &mut encoder,
            &rows,
            "tributary_stream_live",
            "1 while the stream's frames flow",
            MetricType::Gauge,
            |r| u64::from(r.live),
        )?;
        per_stream(
            &mut encoder,
            &rows,
            "tributary_stream_ingest_bits_per_second",
            "Ingest bitrate over the buffered window, bits per second",
            MetricType::Gauge,
            |r| r.bitrate,
        )?;
        per_stream(
            &mut encoder,
            &rows,
            "tributary_stream_frames",
            "Frames accepted",
            MetricType::Counter,
            |r| r.frames,
        )?;
        per_stream(
            &mut encoder,
            &rows,
            "tributary_stream_bytes_in",
            "Payload bytes accepted",
            MetricType::Counter,
            |r| r.bytes,
        )?;
        let mut family = encoder.encode_descriptor(
            "tributary_stream_viewers",
            "Readers of the stream by output protocol",
            None,
            MetricType::Gauge,
        )?;
        for r in &rows {
            for &(protocol, n) in &r.viewers {
                let labels = [("stream", r.name.as_str()), ("protocol", protocol)];
                ConstGauge::new(n as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(metric)
}

fn per_stream(
    encoder: &mut DescriptorEncoder,
    rows: &[StreamRow],
    name: &str,
    help: &str,
    kind: MetricType,
    value: impl Fn(&StreamRow) -> u64,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for r in rows {
        let labels = [("stream", r.name.as_str())];
        let metric = family.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(value(r)).encode(metric)?,
            _ => ConstGauge::new(i64::try_from(value(r)).unwrap_or(i64::MAX)).encode(metric)?,
        }
    }
    Ok(())
}

/// CPU, load and descriptors of this process, read at scrape time.
#[derive(Debug)]
struct ProcessCollector {
    load: Arc<ProcessLoad>,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.load.sample();
        let metric = encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(s.cpu_seconds).encode(metric)?;
        let metric = encoder.encode_descriptor(
            "tributary_node_load",
            "CPU time over wall time since the previous scrape, per available CPU",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(s.load).encode(metric)?;
        if let Some(fds) = s.open_fds {
            gauge(&mut encoder, "process_open_fds", "Open file descriptors", fds)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_stream_and_its_viewers_show() {
        let hub = Arc::new(Hub::default());
        let stream = hub.stream("cam");
        let publisher = stream.publish().unwrap();
        publisher.set_tracks(vec![media::Track::new(1, media::Codec::H264, 90_000)]);
        for i in 0..10i64 {
            let t = media::Timestamp::new(i * 3000, 90_000);
            publisher.push(media::Frame::new(1, t, t, i == 0, vec![0u8; 1000]));
        }
        let _ts = stream.subscribe_as(hub::Protocol::Ts);
        let _ts2 = stream.subscribe_as(hub::Protocol::Ts);
        let metrics = Metrics::for_hub(hub.clone(), Arc::new(ProcessLoad::default()));
        let text = metrics.encode().unwrap();
        for line in [
            "tributary_streams_live 1",
            "tributary_stream_live{stream=\"cam\"} 1",
            "tributary_stream_frames_total{stream=\"cam\"} 10",
            "tributary_stream_bytes_in_total{stream=\"cam\"} 10000",
            "tributary_stream_viewers{stream=\"cam\",protocol=\"ts\"} 2",
            "# TYPE process_cpu_seconds counter",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in\n{text}");
        }
        // 10 000 bytes over 0.3 s of media: 266 666 bits/s
        assert!(
            text.contains("tributary_stream_ingest_bits_per_second{stream=\"cam\"} 266666"),
            "{text}"
        );
    }
}
