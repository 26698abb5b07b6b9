//! The push engine: follows the push specs and the hub's streams, and runs
//! every enabled push once per live stream its pattern matches.
//!
//! - A push is enabled when its spec has `autoStart`, or after
//!   [`Engine::start`]; [`Engine::stop`] disables it until the next start or
//!   spec change. An enabled push that matches no live stream is `waiting`.
//! - A run starts within [`POLL_INTERVAL`] of its stream going live. It
//!   ends when the target returns (the stream ended); the push then waits for
//!   the stream to come back. A run whose stream goes offline is stopped at
//!   once while it has sent nothing (connecting, retrying), else after
//!   [`OFFLINE_GRACE`] if the target has not ended by itself; a removed
//!   stream stops its run at once.
//! - A failed attempt is retried after `retry.intervalSeconds`, at most
//!   `retry.limit` times in a row (an attempt that sent media resets the
//!   count); a bad target or no retry policy stops the run in state `error`,
//!   which stays until the stream goes offline, the push is started again or
//!   its spec changes.
//! - Changing or deleting a spec stops its runs. Every run is a task the
//!   engine owns and aborts; dropping the engine stops everything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hub::{Hub, LiveStream};
use spec::{PushSpec, PushState, PushStatus, RetryPolicy, StreamName};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Job, PushError};

/// The push specs by name, as the control service publishes them.
pub type PushSpecs = Arc<BTreeMap<String, PushSpec>>;

/// How often the engine looks at the hub for streams going live or offline.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long a run that has sent media may outlive its stream going offline
/// (the target normally ends by itself at once).
pub const OFFLINE_GRACE: Duration = Duration::from_secs(5);
/// A run that ended while its stream is still live is restarted after this
/// pause (a publisher that reconnected at once).
const RESTART_PAUSE: Duration = Duration::from_millis(500);

/// Why the engine refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No push of that name is defined.
    #[error("no push named {0:?}")]
    NotFound(String),
}

/// Runs the pushes; see the module docs. Create it inside a Tokio runtime.
#[derive(Debug)]
pub struct Engine {
    shared: Arc<Shared>,
    follower: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    hub: Arc<Hub>,
    specs: watch::Receiver<PushSpecs>,
    pushes: Mutex<BTreeMap<String, Push>>,
    /// Wakes the follower: a run ended, or a push was started.
    kick: Arc<Notify>,
}

#[derive(Debug)]
struct Push {
    spec: PushSpec,
    enabled: bool,
    /// Runs by stream name.
    runs: BTreeMap<String, Run>,
    /// The last error of a run that is gone.
    last_error: Option<String>,
}

/// One push of one stream: a task retrying attempts. Aborted when dropped.
#[derive(Debug)]
struct Run {
    stream: Arc<LiveStream>,
    task: JoinHandle<()>,
    bytes: Arc<AtomicU64>,
    progress: Arc<Mutex<Progress>>,
    offline_since: Option<Instant>,
}

/// What a run's task reports.
#[derive(Debug, Clone)]
struct Progress {
    state: PushState,
    /// [`Run::bytes`] when the current attempt started.
    attempt_start: u64,
    /// When the current attempt was first seen sending.
    connected_at: Option<Instant>,
    last_error: Option<String>,
    ended: Option<(Instant, Outcome)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The stream ended.
    Ended,
    /// The target failed and the run gave up.
    Failed,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// === impl Engine ===

impl Engine {
    /// An engine following `specs` over the streams of `hub`.
    pub fn new(specs: watch::Receiver<PushSpecs>, hub: Arc<Hub>) -> Self {
        let shared = Arc::new(Shared {
            hub,
            specs: specs.clone(),
            pushes: Mutex::default(),
            kick: Arc::new(Notify::new()),
        });
        let follower = tokio::spawn(follow(shared.clone(), specs));
        Self { shared, follower }
    }

    /// The status of a push: its busiest run's state (`pushing` before
    /// `connecting`, `retrying`, `error`), bytes summed over its runs;
    /// `None` for an unknown push.
    pub fn status(&self, name: &str) -> Option<PushStatus> {
        self.shared.synced().get(name).map(Push::status)
    }

    /// The status of each stream a push runs for (one for a plain stream
    /// name, one per matching stream for a pattern); `None` for an unknown push.
    pub fn stream_statuses(&self, name: &str) -> Option<BTreeMap<String, PushStatus>> {
        let pushes = self.shared.synced();
        let push = pushes.get(name)?;
        let now = Instant::now();
        Some(
            push.runs
                .iter()
                .map(|(stream, run)| (stream.clone(), run.status(now)))
                .collect(),
        )
    }

    /// Enables a push (a push in state `error` tries again).
    pub fn start(&self, name: &str) -> Result<(), EngineError> {
        {
            let mut pushes = self.shared.synced();
            let push = pushes
                .get_mut(name)
                .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
            push.enabled = true;
            let failed: Vec<String> = push
                .runs
                .iter()
                .filter(|(_, r)| r.outcome() == Some(Outcome::Failed))
                .map(|(s, _)| s.clone())
                .collect();
            for stream in failed {
                push.remove_run(&stream);
            }
        }
        self.shared.kick.notify_one();
        Ok(())
    }

    /// Disables a push and stops its runs.
    pub fn stop(&self, name: &str) -> Result<(), EngineError> {
        let mut pushes = self.shared.synced();
        let push = pushes
            .get_mut(name)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        push.enabled = false;
        push.stop_runs();
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.follower.abort();
        lock(&self.shared.pushes).clear();
    }
}

/// The engine's loop: reconcile on every spec change, kick and tick.
async fn follow(shared: Arc<Shared>, mut specs: watch::Receiver<PushSpecs>) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut open = true;
    loop {
        shared.reconcile();
        tokio::select! {
            _ = tick.tick() => {}
            () = shared.kick.notified() => {}
            changed = specs.changed(), if open => open = changed.is_ok(),
        }
    }
}

// === impl Shared ===

impl Shared {
    /// The pushes, brought in line with the current specs.
    fn synced(&self) -> MutexGuard<'_, BTreeMap<String, Push>> {
        let specs = self.specs.borrow().clone();
        let mut pushes = lock(&self.pushes);
        pushes.retain(|name, push| {
            let keep = specs.get(name) == Some(&push.spec);
            if !keep {
                tracing::info!(push = name, "push changed or deleted: its runs stop");
            }
            keep
        });
        for (name, spec) in specs.iter() {
            pushes.entry(name.clone()).or_insert_with(|| Push {
                spec: spec.clone(),
                enabled: spec.auto_start,
                runs: BTreeMap::new(),
                last_error: None,
            });
        }
        pushes
    }

    /// Ends the runs whose stream is gone, starts runs for live streams.
    fn reconcile(&self) {
        let mut pushes = self.synced();
        let names = self.hub.names();
        let now = Instant::now();
        for (name, push) in pushes.iter_mut() {
            if !push.enabled {
                continue;
            }
            let mut done = Vec::new();
            for (stream, run) in &mut push.runs {
                if !run.keep(now) {
                    done.push(stream.clone());
                }
            }
            for stream in done {
                push.remove_run(&stream);
            }
            for stream_name in &names {
                if push.runs.contains_key(stream_name)
                    || !StreamName::parse(stream_name).is_ok_and(|n| push.spec.stream.matches(&n))
                {
                    continue;
                }
                let Some(stream) = self.hub.get(stream_name) else {
                    continue;
                };
                if stream.is_closed() || stream.state() != hub::State::Live {
                    continue;
                }
                tracing::info!(
                    push = name,
                    stream = stream_name,
                    target = push.spec.target,
                    "push starts"
                );
                let run = Run::spawn(name, &push.spec, stream, self.kick.clone());
                push.runs.insert(stream_name.clone(), run);
            }
        }
    }
}

// === impl Push ===

impl Push {
    fn remove_run(&mut self, stream: &str) {
        if let Some(run) = self.runs.remove(stream)
            && let Some(e) = lock(&run.progress).last_error.clone()
        {
            self.last_error = Some(e);
        }
    }

    fn stop_runs(&mut self) {
        let streams: Vec<String> = self.runs.keys().cloned().collect();
        for stream in streams {
            self.remove_run(&stream);
        }
    }

    fn status(&self) -> PushStatus {
        let now = Instant::now();
        let mut status = PushStatus {
            state: if self.enabled {
                PushState::Waiting
            } else {
                PushState::Stopped
            },
            last_error: self.last_error.clone(),
            ..Default::default()
        };
        for run in self.runs.values() {
            let s = run.status(now);
            if rank(s.state) > rank(status.state) {
                status.state = s.state;
            }
            status.bytes += s.bytes;
            status.uptime_seconds = status.uptime_seconds.max(s.uptime_seconds);
            if s.last_error.is_some() {
                status.last_error = s.last_error;
            }
        }
        status
    }
}

/// How much a run's state says about its push: the busiest run wins.
fn rank(state: PushState) -> u8 {
    match state {
        PushState::Stopped => 0,
        PushState::Waiting => 1,
        PushState::Error => 2,
        PushState::Retrying => 3,
        PushState::Connecting => 4,
        PushState::Pushing => 5,
    }
}

// === impl Run ===

impl Run {
    fn spawn(push: &str, spec: &PushSpec, stream: Arc<LiveStream>, kick: Arc<Notify>) -> Self {
        let bytes = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(Mutex::new(Progress {
            state: PushState::Connecting,
            attempt_start: 0,
            connected_at: None,
            last_error: None,
            ended: None,
        }));
        let job = Job {
            name: push.to_owned(),
            stream: stream.clone(),
            target: spec.target.clone(),
            audio_override: spec.audio_override.as_ref().map(PathBuf::from),
            bytes: bytes.clone(),
        };
        let task = tokio::spawn(attempts(job, spec.retry, progress.clone(), kick));
        Self {
            stream,
            task,
            bytes,
            progress,
            offline_since: None,
        }
    }

    fn outcome(&self) -> Option<Outcome> {
        lock(&self.progress).ended.map(|(_, o)| o)
    }

    /// Whether the run stays: see the module docs.
    fn keep(&mut self, now: Instant) -> bool {
        let up = !self.stream.is_closed() && self.stream.state() != hub::State::Offline;
        let (ended, sending) = {
            let p = lock(&self.progress);
            (p.ended, self.bytes.load(Ordering::Relaxed) > p.attempt_start)
        };
        match ended {
            Some((at, Outcome::Ended)) => up && now.duration_since(at) < RESTART_PAUSE,
            Some((_, Outcome::Failed)) => up,
            None if self.stream.is_closed() => false,
            None if up => {
                self.offline_since = None;
                true
            }
            None => {
                let since = *self.offline_since.get_or_insert(now);
                sending && now.duration_since(since) < OFFLINE_GRACE
            }
        }
    }

    fn status(&self, now: Instant) -> PushStatus {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let mut p = lock(&self.progress);
        let mut state = p.state;
        if state == PushState::Connecting && bytes > p.attempt_start {
            state = PushState::Pushing;
            p.connected_at.get_or_insert(now);
        }
        if p.ended.is_some_and(|(_, o)| o == Outcome::Ended) {
            state = PushState::Waiting;
        }
        let uptime = match (state, p.connected_at) {
            (PushState::Pushing, Some(at)) => now.duration_since(at).as_secs(),
            _ => 0,
        };
        PushStatus {
            state,
            bytes,
            uptime_seconds: uptime,
            last_error: p.last_error.clone(),
            ..Default::default()
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A run's task: attempts until the stream ends or the retry policy gives up.
async fn attempts(job: Job, retry: Option<RetryPolicy>, progress: Arc<Mutex<Progress>>, kick: Arc<Notify>) {
    let mut retries = 0u32;
    loop {
        let start = job.bytes.load(Ordering::Relaxed);
        {
            let mut p = lock(&progress);
            p.state = PushState::Connecting;
            p.attempt_start = start;
            p.connected_at = None;
        }
        let error = match dispatch(&job).await {
            Ok(()) => {
                tracing::info!(
                    push = job.name,
                    stream = job.stream.name(),
                    "push ended with its stream"
                );
                let mut p = lock(&progress);
                p.state = PushState::Stopped;
                p.ended = Some((Instant::now(), Outcome::Ended));
                break;
            }
            Err(e) => e,
        };
        if job.bytes.load(Ordering::Relaxed) > start {
            retries = 0;
        }
        let give_up = matches!(error, PushError::BadTarget(_))
            || retry.is_none_or(|r| r.limit.is_some_and(|limit| retries >= limit));
        tracing::warn!(push = job.name, stream = job.stream.name(), %error, give_up, "push failed");
        {
            let mut p = lock(&progress);
            p.last_error = Some(error.to_string());
            p.connected_at = None;
            if give_up {
                p.state = PushState::Error;
                p.ended = Some((Instant::now(), Outcome::Failed));
            } else {
                p.state = PushState::Retrying;
            }
        }
        if give_up {
            break;
        }
        retries += 1;
        let interval = retry.map_or(1, |r| r.interval_seconds);
        tokio::time::sleep(Duration::from_secs(u64::from(interval))).await;
    }
    kick.notify_one();
}

/// One attempt of a job, on the target its URL names.
async fn dispatch(job: &Job) -> Result<(), PushError> {
    let scheme = job
        .target
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        None if job.target.starts_with('/') => super::file::run(job).await,
        Some("srt") => super::srt::run(job).await,
        Some("rtmp" | "rtmps") => super::rtmp::run(job).await,
        Some("tsudp" | "tsrtp") => super::tsudp::run(job).await,
        Some("rtp") => super::rtp::run(job).await,
        Some("rist") => super::rist::run(job).await,
        Some("http" | "https") => super::cmaf::run(job).await,
        Some(s) => Err(PushError::BadTarget(format!(
            "{s} pushes are not supported by this node"
        ))),
        None => Err(PushError::BadTarget(format!(
            "{}: neither a URL nor an absolute file path",
            job.target
        ))),
    }
}
