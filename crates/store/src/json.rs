//! Typed values stored as JSON: the spec and status types of the `spec` crate,
//! or any serde type. A value that does not decode yields
//! [`StoreError::Corrupt`] naming the key.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{LeaseId, Result, StateStore, StoreError, keys};

/// Decodes the JSON value at `key`, if present.
pub async fn get_json<T: DeserializeOwned, S: StateStore>(store: &S, key: &str) -> Result<Option<T>> {
    match store.get(key).await? {
        None => Ok(None),
        Some(bytes) => decode(key, &bytes).map(Some),
    }
}

/// Stores `value` as JSON at `key`, bound to `lease` if given.
pub async fn put_json<T: Serialize, S: StateStore>(
    store: &S,
    key: &str,
    value: &T,
    lease: Option<LeaseId>,
) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
        key: key.to_owned(),
        source,
    })?;
    store.put(key, bytes, lease).await
}

/// Decodes a JSON value read from `key`.
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        key: key.to_owned(),
        source,
    })
}

/// The spec of stream `name`.
pub async fn stream_spec<S: StateStore>(store: &S, name: &str) -> Result<Option<spec::StreamSpec>> {
    get_json(store, &keys::stream_spec_key(name)).await
}

/// Stores the spec of stream `name`.
pub async fn put_stream_spec<S: StateStore>(store: &S, name: &str, value: &spec::StreamSpec) -> Result<()> {
    put_json(store, &keys::stream_spec_key(name), value, None).await
}

/// The status of stream `name`.
pub async fn stream_status<S: StateStore>(store: &S, name: &str) -> Result<Option<spec::StreamStatus>> {
    get_json(store, &keys::stream_status_key(name)).await
}

/// Stores the status of stream `name`, bound to the owner's `lease`.
pub async fn put_stream_status<S: StateStore>(
    store: &S,
    name: &str,
    value: &spec::StreamStatus,
    lease: LeaseId,
) -> Result<()> {
    put_json(store, &keys::stream_status_key(name), value, Some(lease)).await
}

/// The spec of push `name`.
pub async fn push_spec<S: StateStore>(store: &S, name: &str) -> Result<Option<spec::PushSpec>> {
    get_json(store, &keys::push_spec_key(name)).await
}

/// Stores the spec of push `name`.
pub async fn put_push_spec<S: StateStore>(store: &S, name: &str, value: &spec::PushSpec) -> Result<()> {
    put_json(store, &keys::push_spec_key(name), value, None).await
}

/// The status of push `name`.
pub async fn push_status<S: StateStore>(store: &S, name: &str) -> Result<Option<spec::PushStatus>> {
    get_json(store, &keys::push_status_key(name)).await
}

/// Stores the status of push `name`, bound to the owner's `lease`.
pub async fn put_push_status<S: StateStore>(
    store: &S,
    name: &str,
    value: &spec::PushStatus,
    lease: LeaseId,
) -> Result<()> {
    put_json(store, &keys::push_status_key(name), value, Some(lease)).await
}
