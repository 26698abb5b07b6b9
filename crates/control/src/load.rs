//! This process's load, read from `/proc/self` (Linux; elsewhere the figures
//! are zero or absent): CPU seconds, a CPU load ratio, open descriptors.

use std::time::Instant;

use parking_lot::Mutex;

/// Clock ticks per second of `/proc/self/stat` times (`_SC_CLK_TCK`, 100 on
/// every Linux this runs on).
const CLOCK_TICKS: f64 = 100.0;

/// Shortest span the load ratio is measured over; asked more often, the
/// previous ratio is repeated.
const MIN_SPAN_SECS: f64 = 0.5;

/// One reading of the process's load.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadSample {
    /// User plus system CPU time since the process started.
    pub cpu_seconds: f64,
    /// CPU time over wall time since the previous reading, divided by the
    /// CPUs available: 0 idle, 1 every CPU busy.
    pub load: f64,
    /// The CPUs available to the process.
    pub cpus: u32,
    /// Open file descriptors (sockets included), when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_fds: Option<u64>,
}

/// Samples the process's load; share one per process.
#[derive(Debug)]
pub struct ProcessLoad {
    last: Mutex<(Instant, f64, f64)>,
    cpus: u32,
}

impl Default for ProcessLoad {
    fn default() -> Self {
        Self {
            last: Mutex::new((Instant::now(), cpu_seconds(), 0.0)),
            cpus: std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
        }
    }
}

// === impl ProcessLoad ===

impl ProcessLoad {
    /// The current figures.
    pub fn sample(&self) -> LoadSample {
        let now = Instant::now();
        let cpu = cpu_seconds();
        let mut last = self.last.lock();
        let span = now.duration_since(last.0).as_secs_f64();
        if span >= MIN_SPAN_SECS {
            let ratio = ((cpu - last.1) / span / f64::from(self.cpus)).max(0.0);
            *last = (now, cpu, ratio);
        }
        LoadSample {
            cpu_seconds: cpu,
            load: last.2,
            cpus: self.cpus,
            open_fds: open_fds(),
        }
    }
}

/// User plus system CPU seconds of this process (0 when unreadable).
pub fn cpu_seconds() -> f64 {
    stat_cpu("/proc/self/stat")
}

/// User plus system CPU seconds of the calling thread (0 when unreadable).
pub fn thread_cpu_seconds() -> f64 {
    stat_cpu("/proc/thread-self/stat")
}

fn stat_cpu(path: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| parse_stat_cpu(&s))
        .unwrap_or(0.0)
}

/// utime + stime of a `/proc/PID/stat` line, in seconds.
fn parse_stat_cpu(stat: &str) -> Option<f64> {
    // the command name may hold spaces and parentheses: fields start after the last ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / CLOCK_TICKS)
}

fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_odd_names() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1 2 3";
        assert_eq!(parse_stat_cpu(line), Some(3.0));
        assert_eq!(parse_stat_cpu("garbage"), None);
    }

    #[test]
    fn samples_are_sane() {
        let load = ProcessLoad::default();
        let s = load.sample();
        assert!(s.cpu_seconds >= 0.0 && s.load >= 0.0 && s.cpus >= 1, "{s:?}");
        if cfg!(target_os = "linux") {
            assert!(s.open_fds.is_some_and(|n| n > 0));
        }
    }
}
