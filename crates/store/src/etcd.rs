//! The etcd store.

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, PutOptions, Txn, TxnOp,
    WatchOptions,
};
use tokio::sync::mpsc;

use crate::watch::{Reported, Watch, WatchEvent};
use crate::{LeaseId, Result, StateStore, StoreError};

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "/tributary/";

/// First and longest pause between two attempts of a watch to reconnect.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How to reach etcd.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Client URLs, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Prefix of every key; [`DEFAULT_PREFIX`] by default.
    pub prefix: String,
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// Limit on one request.
    pub request_timeout: Duration,
}

impl EtcdOptions {
    /// Options for `endpoints` with the default prefix and timeouts.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Replaces the key prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// A [`StateStore`] over etcd (v3 API). Cloning shares the connection.
#[derive(Clone)]
pub struct Etcd {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Etcd {
    /// Connects to the endpoints of `options`.
    pub async fn connect(options: EtcdOptions) -> Result<Self> {
        let connect = ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            .with_timeout(options.request_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true);
        let client = Client::connect(&options.endpoints, Some(connect)).await?;
        Ok(Self {
            client,
            prefix: options.prefix,
        })
    }

    /// The key prefix of this store.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// `key` of `kv` relative to `prefix`.
fn relative(prefix: &str, kv: &KeyValue) -> Result<String> {
    let key = std::str::from_utf8(kv.key())
        .map_err(|_| StoreError::InvalidKey(String::from_utf8_lossy(kv.key()).into_owned()))?;
    key.strip_prefix(prefix)
        .map(str::to_owned)
        .ok_or_else(|| StoreError::InvalidKey(key.to_owned()))
}

fn lease_error(lease: LeaseId, error: etcd_client::Error) -> StoreError {
    match &error {
        etcd_client::Error::LeaseKeepAliveError(m) if m.contains("not found") => {
            StoreError::LeaseNotFound(lease)
        }
        etcd_client::Error::GRpcStatus(s) if s.message().contains("lease not found") => {
            StoreError::LeaseNotFound(lease)
        }
        _ => StoreError::Etcd(error),
    }
}

impl StateStore for Etcd {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let resp = self.client.clone().get(self.full(key), None).await?;
        Ok(resp.kvs().first().map(|kv| kv.value().to_vec()))
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<()> {
        let options = lease.map(|l| PutOptions::new().with_lease(l.0));
        self.client
            .clone()
            .put(self.full(key), value, options)
            .await
            .map_err(|e| match lease {
                Some(l) => lease_error(l, e),
                None => StoreError::Etcd(e),
            })?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let resp = self.client.clone().delete(self.full(key), None).await?;
        Ok(resp.deleted() > 0)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let resp = self
            .client
            .clone()
            .get(self.full(prefix), Some(GetOptions::new().with_prefix()))
            .await?;
        resp.kvs()
            .iter()
            .map(|kv| Ok((relative(&self.prefix, kv)?, kv.value().to_vec())))
            .collect()
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let resp = self
            .client
            .clone()
            .lease_grant(crate::ttl_secs(ttl), None)
            .await?;
        Ok(LeaseId(resp.id()))
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        // Opening the keep-alive stream sends one renewal and checks its answer.
        self.client
            .clone()
            .lease_keep_alive(lease.0)
            .await
            .map_err(|e| lease_error(lease, e))?;
        Ok(())
    }

    async fn revoke(&self, lease: LeaseId) -> Result<()> {
        match self.client.clone().lease_revoke(lease.0).await {
            Ok(_) => Ok(()),
            Err(e) => match lease_error(lease, e) {
                StoreError::LeaseNotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn claim(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<bool> {
        let key = self.full(key);
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key,
                value,
                Some(PutOptions::new().with_lease(lease.0)),
            )]);
        let resp = self
            .client
            .clone()
            .txn(txn)
            .await
            .map_err(|e| lease_error(lease, e))?;
        Ok(resp.succeeded())
    }

    async fn watch(&self, prefix: &str) -> Result<Watch> {
        let (tx, watch) = Watch::channel();
        let client = self.client.clone();
        let root = self.prefix.clone();
        let full = self.full(prefix);
        tokio::spawn(async move {
            tokio::select! {
                () = tx.closed() => {}
                () = run_watch(client, root, full, &tx) => {}
            }
        });
        Ok(watch)
    }
}

/// Lists `full` and reports the difference, then follows a watch from the
/// listed revision; on any failure waits and starts over. Returns once the
/// reader is gone.
async fn run_watch(client: Client, root: String, full: String, tx: &mpsc::Sender<WatchEvent>) {
    let mut reported = Reported::default();
    let mut retry = RETRY_MIN;
    loop {
        match follow(client.clone(), &root, &full, tx, &mut reported, &mut retry).await {
            Ok(()) => return,
            Err(e) => tracing::debug!(prefix = %full, error = %e, "etcd watch interrupted; resuming"),
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// One listing and watch; `Ok` means the reader is gone.
async fn follow(
    mut client: Client,
    root: &str,
    full: &str,
    tx: &mpsc::Sender<WatchEvent>,
    reported: &mut Reported,
    retry: &mut Duration,
) -> Result<()> {
    let listing = client.get(full, Some(GetOptions::new().with_prefix())).await?;
    let revision = listing.header().map_or(0, |h| h.revision());
    let mut entries = Vec::with_capacity(listing.kvs().len());
    for kv in listing.kvs() {
        entries.push((relative(root, kv)?, kv.value().to_vec(), kv.mod_revision()));
    }
    let mut stream = client
        .watch(
            full,
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(revision + 1),
            ),
        )
        .await?;
    for event in reported.resync(entries) {
        if tx.send(event).await.is_err() {
            return Ok(());
        }
    }
    *retry = RETRY_MIN;
    while let Some(resp) = stream.message().await? {
        if resp.canceled() {
            return Err(StoreError::Etcd(etcd_client::Error::WatchError(format!(
                "watch canceled (compacted at {}): {}",
                resp.compact_revision(),
                resp.cancel_reason()
            ))));
        }
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            let key = relative(root, kv)?;
            let event = match event.event_type() {
                EventType::Put => WatchEvent::Put {
                    key,
                    value: kv.value().to_vec(),
                },
                EventType::Delete => WatchEvent::Delete { key },
            };
            if reported.record(&event, kv.mod_revision()) && tx.send(event).await.is_err() {
                return Ok(());
            }
        }
    }
    Err(StoreError::Etcd(etcd_client::Error::WatchError(
        "watch stream ended".to_owned(),
    )))
}
