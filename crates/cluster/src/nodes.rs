//! The nodes of the cluster as the control API lists them: every entry under
//! `nodes/` in the state store.

use std::sync::Arc;

use control::{ApiError, NodeEntry, NodeSource};
use store::{StateStore, keys};

/// Lists the nodes registered in the state store.
#[derive(Debug)]
pub struct StoreNodes<S> {
    store: Arc<S>,
}

impl<S> StoreNodes<S> {
    /// Nodes from `store`.
    pub fn new(store: Arc<S>) -> Self {
        Self { store }
    }
}

impl<S: StateStore> NodeSource for StoreNodes<S> {
    fn list(&self) -> futures_util::future::BoxFuture<'_, Result<Vec<NodeEntry>, ApiError>> {
        Box::pin(async move {
            let listed = self
                .store
                .list(keys::NODES)
                .await
                .map_err(|e| ApiError::Unavailable(format!("state store: {e}")))?;
            Ok(listed
                .into_iter()
                .filter_map(|(key, value)| {
                    let rest = key.strip_prefix(keys::NODES)?;
                    let (role, id) = rest.split_once('/')?;
                    // a value that does not decode is still listed, as a string
                    let info = serde_json::from_slice(&value).unwrap_or_else(|_| {
                        serde_json::Value::String(String::from_utf8_lossy(&value).into_owned())
                    });
                    Some(NodeEntry {
                        id: id.to_owned(),
                        role: role.to_owned(),
                        info,
                    })
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Embedded;

    #[tokio::test]
    async fn lists_every_registered_node_even_a_corrupt_one() {
        let store = Arc::new(Embedded::new());
        store
            .put(
                "nodes/ingest/i1",
                br#"{"id":"i1","role":"ingest"}"#.to_vec(),
                None,
            )
            .await
            .unwrap();
        store
            .put("nodes/edge/e1", b"not json".to_vec(), None)
            .await
            .unwrap();
        let nodes = StoreNodes::new(store).list().await.unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!((nodes[0].role.as_str(), nodes[0].id.as_str()), ("edge", "e1"));
        assert_eq!(nodes[0].info, serde_json::json!("not json"));
        assert_eq!(nodes[1].info["role"], "ingest");
    }
}
