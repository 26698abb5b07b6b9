use crate::LeaseId;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The lease has expired, was revoked, or never existed.
    #[error("lease {0:?} not found (expired or revoked)")]
    LeaseNotFound(LeaseId),
    /// The etcd client reported an error (connection, timeout, server error).
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// A key read from etcd is not UTF-8 or lies outside the store's prefix.
    #[error("invalid key from etcd: {0:?}")]
    InvalidKey(String),
    /// A stored value does not decode as the expected type.
    #[error("corrupt value at {key}: {source}")]
    Corrupt {
        /// The key, relative to the prefix.
        key: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A value could not be encoded.
    #[error("cannot encode value for {key}: {source}")]
    Encode {
        /// The key, relative to the prefix.
        key: String,
        /// The encoding error.
        source: serde_json::Error,
    },
}
