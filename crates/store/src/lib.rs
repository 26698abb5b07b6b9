//! The cluster state store: one [`StateStore`] trait over a small key-value
//! model (byte values, string keys relative to a prefix, leases, a
//! create-if-absent claim, prefix watches), with two implementations:
//!
//! - [`Embedded`]: in-process (a `BTreeMap`, leases expired by tokio time,
//!   broadcast watchers), used by `tributary standalone`.
//! - [`Etcd`]: over `etcd-client`, keys under a configurable prefix (default
//!   [`DEFAULT_PREFIX`]); watches survive reconnects by re-listing and
//!   re-watching from the listed revision.
//!
//! [`keys`] names the keys of the cluster keyspace and [`json`] stores the spec
//! types as JSON values.

mod embedded;
mod error;
mod etcd;
pub mod json;
pub mod keys;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use embedded::Embedded;
pub use error::StoreError;
pub use etcd::{DEFAULT_PREFIX, Etcd, EtcdOptions};
pub use watch::{Watch, WatchEvent};

/// Identifier of a lease: keys put with a lease vanish when it expires or is revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub i64);

/// Result of a store operation.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A key-value state store with leases and prefix watches.
///
/// Keys are strings relative to the store's prefix (`streams/cam1/spec`);
/// values are bytes. Every method is cancel-safe in the sense that dropping the
/// future leaves the store consistent (the operation either happened or not).
pub trait StateStore: Send + Sync + 'static {
    /// The value of `key`, if present.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Sets `key` to `value`, bound to `lease` if given (the key is deleted
    /// when the lease ends). A put without a lease detaches the key from any lease.
    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes `key`; returns whether it existed.
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Every key starting with `prefix`, with its value, in key order.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<(String, Vec<u8>)>>> + Send;

    /// Grants a lease that ends `ttl` after its last renewal (whole seconds,
    /// at least one).
    fn grant_lease(&self, ttl: Duration) -> impl Future<Output = Result<LeaseId>> + Send;

    /// Renews `lease` once, for its full TTL. Fails with
    /// [`StoreError::LeaseNotFound`] if the lease has already ended.
    fn keep_alive(&self, lease: LeaseId) -> impl Future<Output = Result<()>> + Send;

    /// Ends `lease` now, deleting its keys. Revoking an unknown lease is not an error.
    fn revoke(&self, lease: LeaseId) -> impl Future<Output = Result<()>> + Send;

    /// Creates `key` with `value` bound to `lease` only if `key` does not
    /// exist (one transaction); returns whether this call created it.
    fn claim(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> impl Future<Output = Result<bool>> + Send;

    /// Watches every key starting with `prefix`. The watch first yields a
    /// [`WatchEvent::Put`] for each key present, then every change. After a
    /// disconnection it yields the difference between what it last reported
    /// and the current contents, then carries on.
    fn watch(&self, prefix: &str) -> impl Future<Output = Result<Watch>> + Send;
}

/// Renews `lease` every `ttl / 3` until the lease is found ended (the task
/// then returns [`StoreError::LeaseNotFound`]) or the task is aborted. A failed
/// renewal (store unreachable) is retried on the next tick.
pub fn spawn_keep_alive<S: StateStore>(
    store: Arc<S>,
    lease: LeaseId,
    ttl: Duration,
) -> tokio::task::JoinHandle<Result<()>> {
    let period = (ttl / 3).max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.keep_alive(lease).await {
                Ok(()) => {}
                Err(StoreError::LeaseNotFound(id)) => return Err(StoreError::LeaseNotFound(id)),
                Err(e) => tracing::warn!(lease = lease.0, error = %e, "lease renewal failed"),
            }
        }
    })
}

/// Whole seconds of a TTL, at least one.
pub(crate) fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX)
}
