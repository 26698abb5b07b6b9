//! The load figures a node publishes in its entry.

use std::time::Instant;

use hub::Hub;
use spec::node::NodeLoad;

/// Samples the node's load between calls.
#[derive(Debug)]
pub struct Sampler {
    last: Option<(Instant, f64, u64)>,
    cores: u32,
}

impl Default for Sampler {
    fn default() -> Self {
        Self {
            last: None,
            cores: std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1)),
        }
    }
}

impl Sampler {
    /// The load since the previous call (CPU and ingest rate are zero on the first).
    pub fn sample(&mut self, hub: &Hub) -> NodeLoad {
        let now = Instant::now();
        let cpu_now = control::load::cpu_seconds();
        let mut load = NodeLoad {
            cores: self.cores,
            ..NodeLoad::default()
        };
        let mut bytes = 0;
        for name in hub.names() {
            if let Some(s) = hub.get(&name) {
                bytes += s.bytes_in();
                load.viewers += s.viewers();
                let watching: u64 = s
                    .viewers_by_protocol()
                    .into_iter()
                    .filter(|&(p, _)| p != hub::Protocol::Relay)
                    .map(|(_, n)| n)
                    .sum();
                if watching > 0 {
                    load.stream_viewers.insert(name.to_string(), watching);
                }
                if s.state() != hub::State::Offline {
                    load.streams += 1;
                }
            }
        }
        if let Some((then, cpu, b)) = self.last {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.0 {
                load.cpu = ((cpu_now - cpu) / secs).max(0.0);
                load.ingest_bytes_per_second = (bytes.saturating_sub(b) as f64 / secs) as u64;
            }
        }
        self.last = Some((now, cpu_now, bytes));
        load
    }
}
