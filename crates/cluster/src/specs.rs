//! Stream and push specs in a cluster: the state store is the source.
//!
//! [`follow`] keeps a node's [`control::Service`] equal to the specs under
//! `streams/*/spec` and `pushes/*/spec`; [`persist_streams`] and
//! [`persist_pushes`] are the service's persistence callbacks, writing the
//! API's changes to the store (the API answers only once the store has them).

use std::collections::BTreeMap;
use std::sync::Arc;

use control::Service;
use spec::{PushSpec, StreamSpec};
use store::keys::{self, Field};
use store::{StateStore, WatchEvent};

/// Keeps `service`'s stream and push specs equal to the store's, until the
/// store goes away. A value that does not decode is logged and skipped: one
/// corrupt spec never hides the others.
pub async fn follow<S: StateStore>(store: Arc<S>, service: Arc<Service>) {
    let streams = follow_prefix::<S, StreamSpec>(&store, keys::STREAMS, keys::parse_stream_key, {
        let service = service.clone();
        move |m| service.sync_specs(m)
    });
    let pushes = follow_prefix::<S, PushSpec>(&store, keys::PUSHES, keys::parse_push_key, move |m| {
        service.sync_pushes(m);
    });
    tokio::join!(streams, pushes);
}

async fn follow_prefix<S: StateStore, T: serde::de::DeserializeOwned + Clone + PartialEq>(
    store: &S,
    prefix: &str,
    parse: fn(&str) -> Option<(&str, Field)>,
    apply: impl Fn(BTreeMap<String, T>),
) {
    let mut backoff = std::time::Duration::from_millis(200);
    let mut watch = loop {
        match store.watch(prefix).await {
            Ok(w) => break w,
            Err(e) => {
                tracing::warn!(%prefix, error = %e, "watching specs failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
            }
        }
    };
    let mut specs = BTreeMap::new();
    let mut applied = None;
    loop {
        // apply once the burst of events the watch has ready is consumed
        let event = match tokio::time::timeout(std::time::Duration::from_millis(20), watch.next()).await {
            Ok(event) => event,
            Err(_) => {
                if applied.as_ref() != Some(&specs) {
                    apply(specs.clone());
                    applied = Some(specs.clone());
                }
                watch.next().await
            }
        };
        let Some(event) = event else { return };
        update(&mut specs, parse, event);
    }
}

fn update<T: serde::de::DeserializeOwned>(
    specs: &mut BTreeMap<String, T>,
    parse: fn(&str) -> Option<(&str, Field)>,
    event: WatchEvent,
) {
    match event {
        WatchEvent::Put { key, value } => {
            if let Some((name, Field::Spec)) = parse(&key) {
                match store::json::decode::<T>(&key, &value) {
                    Ok(spec) => {
                        specs.insert(name.to_owned(), spec);
                    }
                    Err(e) => tracing::warn!(error = %e, "ignoring a spec that does not decode"),
                }
            }
        }
        WatchEvent::Delete { key } => {
            if let Some((name, Field::Spec)) = parse(&key) {
                specs.remove(name);
            }
        }
    }
}

/// Writes the difference between the store's specs and `next` (puts for new
/// or changed ones, deletes for removed ones). Runs on the caller's thread,
/// which must be a worker of a multi-threaded tokio runtime.
fn write_diff<S: StateStore, T: serde::Serialize + serde::de::DeserializeOwned + PartialEq>(
    store: &S,
    prefix: &str,
    parse: fn(&str) -> Option<(&str, Field)>,
    key_of: fn(&str) -> String,
    next: &BTreeMap<String, T>,
) -> Result<(), String> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        handle.block_on(async {
            let listed = store.list(prefix).await.map_err(|e| e.to_string())?;
            let mut current = BTreeMap::new();
            for (key, value) in listed {
                if let Some((name, Field::Spec)) = parse(&key) {
                    current.insert(name.to_owned(), store::json::decode::<T>(&key, &value).ok());
                }
            }
            for (name, spec) in next {
                if current.get(name).and_then(Option::as_ref) != Some(spec) {
                    store::json::put_json(store, &key_of(name), spec, None)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            for name in current.keys().filter(|n| !next.contains_key(*n)) {
                store.delete(&key_of(name)).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    })
}

/// The service's persistence callback for streams: writes to the store.
pub fn persist_streams<S: StateStore>(store: Arc<S>) -> control::Persist {
    Box::new(move |next| {
        write_diff(
            &*store,
            keys::STREAMS,
            keys::parse_stream_key,
            keys::stream_spec_key,
            next,
        )
    })
}

/// The service's persistence callback for pushes: writes to the store.
pub fn persist_pushes<S: StateStore>(store: Arc<S>) -> control::PersistPushes {
    Box::new(move |next| {
        write_diff(
            &*store,
            keys::PUSHES,
            keys::parse_push_key,
            keys::push_spec_key,
            next,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use store::Embedded;

    fn spec(source: &str) -> StreamSpec {
        serde_json::from_value(serde_json::json!({ "source": source })).unwrap()
    }

    async fn eventually(mut f: impl FnMut() -> bool) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached in 2 s");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn api_writes_reach_the_store_and_store_changes_reach_every_node() {
        let store = Arc::new(Embedded::new());
        let node_a = Arc::new(
            Service::new(
                Arc::new(hub::Hub::default()),
                BTreeMap::new(),
                Some(persist_streams(store.clone())),
                "a",
            )
            .with_pushes(BTreeMap::new(), Some(persist_pushes(store.clone()))),
        );
        let node_b = Arc::new(Service::new(
            Arc::new(hub::Hub::default()),
            BTreeMap::new(),
            None,
            "b",
        ));
        tokio::spawn(follow(store.clone(), node_a.clone()));
        tokio::spawn(follow(store.clone(), node_b.clone()));

        node_a.put_stream("cam", spec("push://")).unwrap();
        assert!(
            store.get("streams/cam/spec").await.unwrap().is_some(),
            "written before the API answered"
        );
        eventually(|| node_b.get_stream("cam").is_ok()).await;
        assert!(node_b.hub().get("cam").is_some(), "the hub knows the stream");

        // a corrupt value is skipped, the others stay
        store
            .put("streams/bad/spec", b"{not json".to_vec(), None)
            .await
            .unwrap();
        store::json::put_stream_spec(&*store, "cam2", &spec("push://"))
            .await
            .unwrap();
        eventually(|| node_b.get_stream("cam2").is_ok()).await;
        assert!(node_b.get_stream("bad").is_err());
        assert!(node_b.get_stream("cam").is_ok());

        node_a.delete_stream("cam").unwrap();
        assert!(store.get("streams/cam/spec").await.unwrap().is_none());
        eventually(|| node_b.get_stream("cam").is_err()).await;
        assert!(node_b.hub().get("cam").is_none(), "removed from the hub");

        let push: PushSpec = serde_json::from_value(serde_json::json!({
            "stream": "cam2", "target": "srt://127.0.0.1:9999"
        }))
        .unwrap();
        node_a.put_push("out", push).unwrap();
        eventually(|| node_b.get_push("out").is_ok()).await;
    }
}
