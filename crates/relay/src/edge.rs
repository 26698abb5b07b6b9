//! On-demand pulling for edges: a stream is subscribed upstream when a local
//! viewer asks for it ([`hub::LiveStream::request`]), once however many
//! viewers watch, dropped after an idle timeout without viewers, and moved to
//! another ingest (re-resolved, with backoff) when its upstream is lost while
//! viewers remain.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hub::LiveStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{Client, Upstream};

/// Finds the ingest that owns a stream (in a cluster: from etcd).
pub trait Resolver: Send + Sync + 'static {
    /// The stream's ingest now, `None` when no ingest has it.
    fn upstream(&self, stream: &str) -> impl Future<Output = Option<Upstream>> + Send;
}

/// A fixed map of stream name -> upstream (tests, static configurations).
#[derive(Debug, Default)]
pub struct StaticResolver {
    map: parking_lot::RwLock<HashMap<String, Upstream>>,
}

impl StaticResolver {
    /// Sets (or with `None`, removes) the upstream of `stream`.
    pub fn set(&self, stream: &str, upstream: Option<Upstream>) {
        let mut m = self.map.write();
        match upstream {
            Some(u) => m.insert(stream.to_owned(), u),
            None => m.remove(stream),
        };
    }
}

impl Resolver for StaticResolver {
    async fn upstream(&self, stream: &str) -> Option<Upstream> {
        self.map.read().get(stream).cloned()
    }
}

impl<R: Resolver> Resolver for Arc<R> {
    fn upstream(&self, stream: &str) -> impl Future<Output = Option<Upstream>> + Send {
        (**self).upstream(stream)
    }
}

/// Settings of the [`Puller`].
#[derive(Debug, Clone)]
pub struct PullerConfig {
    /// An upstream subscription without local viewers for this long is dropped.
    pub idle_timeout: Duration,
    /// First retry delay after a failed resolve/subscribe or a lost upstream.
    pub backoff_min: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
    /// Retrying stops when nobody watches and this long passed since the
    /// request (or since the upstream was lost).
    pub give_up: Duration,
}

impl Default for PullerConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            give_up: Duration::from_secs(20),
        }
    }
}

struct Inner<R> {
    client: Client,
    resolver: R,
    config: PullerConfig,
    /// Upstream subscriptions feeding now (counted by their feeders).
    active: Arc<AtomicUsize>,
    tasks: parking_lot::Mutex<HashMap<String, JoinHandle<()>>>,
}

impl<R> Drop for Inner<R> {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().values() {
            t.abort();
        }
    }
}

/// Drives on-demand upstream subscriptions of an edge.
pub struct Puller<R> {
    inner: Arc<Inner<R>>,
}

impl<R> std::fmt::Debug for Puller<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Puller")
            .field("active", &self.inner.active.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<R> Drop for Puller<R> {
    fn drop(&mut self) {
        for (_, t) in self.inner.tasks.lock().drain() {
            t.abort();
        }
    }
}

impl<R: Resolver> Puller<R> {
    /// A puller subscribing through `client` to the upstreams `resolver` names.
    pub fn new(client: Client, resolver: R, config: PullerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                resolver,
                config,
                active: Arc::default(),
                tasks: parking_lot::Mutex::default(),
            }),
        }
    }

    /// Serves `stream` on demand from now on: the local hub's stream of that
    /// name is pulled whenever a viewer requests it. Idempotent.
    pub fn watch(&self, stream: &str) {
        let mut tasks = self.inner.tasks.lock();
        if tasks.get(stream).is_some_and(|t| !t.is_finished()) {
            return;
        }
        let live = self.inner.client.hub().stream(stream);
        let inner = Arc::downgrade(&self.inner);
        tasks.insert(stream.to_owned(), tokio::spawn(drive(inner, live)));
    }

    /// Stops serving `stream` (its upstream subscription, if any, ends).
    pub fn unwatch(&self, stream: &str) {
        if let Some(t) = self.inner.tasks.lock().remove(stream) {
            t.abort();
        }
    }

    /// Upstream subscriptions feeding now (counted from their first catalog
    /// applied until they end).
    pub fn active(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }
}

/// Resolves when `stream` has had no viewers for `idle`.
async fn idle(stream: &LiveStream, idle: Duration) {
    let tick = (idle / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut since: Option<Instant> = None;
    loop {
        tokio::time::sleep(tick).await;
        if stream.viewers() == 0 {
            let s = *since.get_or_insert_with(Instant::now);
            if s.elapsed() >= idle {
                return;
            }
        } else {
            since = None;
        }
    }
}

async fn drive<R: Resolver>(inner: std::sync::Weak<Inner<R>>, stream: Arc<LiveStream>) {
    let name = stream.name().to_owned();
    loop {
        stream.requested().await;
        let Some(inner) = inner.upgrade() else { return };
        let cfg = inner.config.clone();
        let mut backoff = cfg.backoff_min;
        let mut since = Instant::now();
        loop {
            if stream.viewers() == 0 && since.elapsed() >= cfg.give_up {
                tracing::info!(stream = name, "relay: no viewers left, stopped retrying upstream");
                break;
            }
            let failure = match inner.resolver.upstream(&name).await {
                None => format!("no ingest has stream {name}"),
                Some(up) => match inner
                    .client
                    .subscribe_counted(&name, &up, Some(inner.active.clone()))
                    .await
                {
                    Err(e) => e.to_string(),
                    Ok(mut sub) => {
                        tracing::info!(stream = name, upstream = %up.addr, "relay: pulling from ingest");
                        backoff = cfg.backoff_min;
                        let why = tokio::select! {
                            why = sub.ended() => Some(why),
                            () = idle(&stream, cfg.idle_timeout) => None,
                        };
                        drop(sub);
                        match why {
                            None => {
                                tracing::info!(
                                    stream = name,
                                    "relay: no viewers, upstream subscription dropped"
                                );
                                break;
                            }
                            Some(why) => {
                                since = Instant::now();
                                format!("upstream {} lost: {why}", up.addr)
                            }
                        }
                    }
                },
            };
            tracing::warn!(stream = name, "relay: {failure}; retrying in {backoff:?}");
            stream.set_error(failure);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(cfg.backoff_max);
        }
    }
}
