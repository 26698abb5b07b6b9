//! Ingest: which stream specs this node runs.
//!
//! Streams fed by pushes (`push://`) may arrive at any ingest node, so every
//! node accepts them. Streams that pull or listen (files, `srt://`,
//! `tsudp://`, HLS, RIST...) run on one node only: the one named in
//! `streams/{name}/assignment` (the operator writes it).

use std::collections::BTreeMap;
use std::sync::Arc;

use spec::StreamSpec;
use store::keys::{self, Field};
use store::{StateStore, WatchEvent};
use tokio::sync::watch;

/// The desired streams by name.
pub type Specs = Arc<BTreeMap<String, StreamSpec>>;

/// The specs node `id` runs, given every spec and the assignments.
pub fn select(all: &BTreeMap<String, StreamSpec>, assignments: &BTreeMap<String, String>, id: &str) -> Specs {
    Arc::new(
        all.iter()
            .filter(|(name, spec)| {
                spec.parsed_source().is_ok_and(|s| s.is_push())
                    || assignments.get(name.as_str()).is_some_and(|a| a == id)
            })
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect(),
    )
}

/// Follows `all` (the node's service specs) and the store's assignments;
/// the returned channel carries what node `id` runs.
pub fn follow<S: StateStore>(
    store: Arc<S>,
    mut all: watch::Receiver<Specs>,
    id: String,
) -> watch::Receiver<Specs> {
    let (tx, rx) = watch::channel(select(&all.borrow(), &BTreeMap::new(), &id));
    tokio::spawn(async move {
        let mut assignments = BTreeMap::new();
        let mut watch = loop {
            match store.watch(keys::STREAMS).await {
                Ok(w) => break w,
                Err(e) => {
                    tracing::warn!(error = %e, "watching assignments failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        };
        loop {
            tokio::select! {
                r = all.changed() => if r.is_err() { return },
                e = watch.next() => match e {
                    Some(WatchEvent::Put { key, value }) => {
                        if let Some((name, Field::Assignment)) = keys::parse_stream_key(&key) {
                            assignments.insert(name.to_owned(), String::from_utf8_lossy(&value).trim().to_owned());
                        } else {
                            continue;
                        }
                    }
                    Some(WatchEvent::Delete { key }) => {
                        if let Some((name, Field::Assignment)) = keys::parse_stream_key(&key) {
                            assignments.remove(name);
                        } else {
                            continue;
                        }
                    }
                    None => return,
                },
            }
            let next = select(&all.borrow_and_update(), &assignments, &id);
            if *tx.borrow() != next {
                tx.send_replace(next);
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: &str) -> StreamSpec {
        serde_json::from_value(serde_json::json!({ "source": source })).unwrap()
    }

    #[test]
    fn push_streams_run_everywhere_and_pull_streams_where_assigned() {
        let all: BTreeMap<String, StreamSpec> = [
            ("pushed".to_owned(), spec("push://")),
            ("pulled".to_owned(), spec("srt://example.com:9000")),
            ("file".to_owned(), spec("/media/a.ts")),
        ]
        .into();
        let assignments: BTreeMap<String, String> = [("pulled".to_owned(), "ingest-1".to_owned())].into();
        let one = select(&all, &assignments, "ingest-1");
        assert_eq!(one.keys().collect::<Vec<_>>(), ["pulled", "pushed"]);
        let two = select(&all, &assignments, "ingest-2");
        assert_eq!(two.keys().collect::<Vec<_>>(), ["pushed"]);
    }
}
