//! The load figures a node publishes in its entry.

use std::time::Instant;

use hub::Hub;
use spec::node::NodeLoad;

/// CPU time of this process, in seconds (user + system), from `/proc/self/stat`.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat).map(|t| t as f64 / 100.0)
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // the command name may hold spaces and parentheses: fields start after the last ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

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
        let cpu_now = process_cpu_seconds().unwrap_or(0.0);
        let mut load = NodeLoad {
            cores: self.cores,
            ..NodeLoad::default()
        };
        let mut bytes = 0;
        for name in hub.names() {
            if let Some(s) = hub.get(&name) {
                bytes += s.bytes_in();
                load.viewers += s.viewers();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_after_the_command_name() {
        let line = "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(line), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert!(process_cpu_seconds().is_some());
    }
}
