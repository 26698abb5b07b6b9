//! Edge: who holds a stream's live buffer, and how to reach its relay.

use spec::node::NodeInfo;
use store::{StateStore, keys};

/// Why a stream has no reachable owner.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No node owns the stream (it is not live anywhere).
    #[error("stream {0} is not live on any ingest node")]
    NoOwner(String),
    /// The owner has no registration (it is going away).
    #[error("the owner of {stream}, node {node}, is not registered")]
    OwnerGone {
        /// The stream.
        stream: String,
        /// The owner named in the store.
        node: String,
    },
    /// The owner serves no relay.
    #[error("node {0} has no relay address")]
    NoRelay(String),
    /// The store failed or holds a corrupt value.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// The owner of `stream` and its registration.
pub async fn owner<S: StateStore>(store: &S, stream: &str) -> Result<NodeInfo, ResolveError> {
    let Some(id) = store.get(&keys::owner_key(stream)).await? else {
        return Err(ResolveError::NoOwner(stream.to_owned()));
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    let info: Option<NodeInfo> = store::json::get_json(store, &keys::node_key("ingest", &id)).await?;
    let info = info.ok_or_else(|| ResolveError::OwnerGone {
        stream: stream.to_owned(),
        node: id.clone(),
    })?;
    if info.relay.is_none() {
        return Err(ResolveError::NoRelay(id));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Embedded;

    #[tokio::test]
    async fn finds_the_owner_and_says_why_not() {
        let store = Embedded::new();
        assert!(matches!(
            owner(&store, "cam").await,
            Err(ResolveError::NoOwner(_))
        ));
        store
            .put("streams/cam/owner", b"i1".to_vec(), None)
            .await
            .unwrap();
        assert!(matches!(
            owner(&store, "cam").await,
            Err(ResolveError::OwnerGone { .. })
        ));
        store
            .put("nodes/ingest/i1", b"garbage".to_vec(), None)
            .await
            .unwrap();
        let err = owner(&store, "cam").await.unwrap_err();
        assert!(err.to_string().contains("nodes/ingest/i1"), "{err}");
        let info = NodeInfo {
            id: "i1".into(),
            role: "ingest".into(),
            relay: Some("127.0.0.1:4433".into()),
            ..NodeInfo::default()
        };
        store::json::put_json(&store, "nodes/ingest/i1", &info, None)
            .await
            .unwrap();
        assert_eq!(owner(&store, "cam").await.unwrap(), info);
    }
}
