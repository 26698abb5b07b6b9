use std::collections::BTreeMap;

use tokio::sync::mpsc;

/// One change seen by a [`Watch`]; keys are relative to the store's prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// `key` was created or set to `value`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// `key` was deleted (explicitly or by its lease ending).
    Delete {
        /// The key.
        key: String,
    },
}

/// A stream of [`WatchEvent`]s under a prefix. Dropping it stops the watch.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<WatchEvent>,
}

/// Events buffered between the watch task and the reader.
pub(crate) const WATCH_BUFFER: usize = 256;

impl Watch {
    pub(crate) fn channel() -> (mpsc::Sender<WatchEvent>, Self) {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        (tx, Self { rx })
    }

    /// The next event; `None` once the store is gone.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }
}

/// What a watch task has reported so far: key -> revision of the reported value.
/// Used to turn a fresh listing into the events a reader missed.
#[derive(Default)]
pub(crate) struct Reported {
    keys: BTreeMap<String, i64>,
}

impl Reported {
    /// Records an event at `revision`; returns whether it should be forwarded.
    pub(crate) fn record(&mut self, event: &WatchEvent, revision: i64) -> bool {
        match event {
            WatchEvent::Put { key, .. } => {
                self.keys.insert(key.clone(), revision);
                true
            }
            WatchEvent::Delete { key } => self.keys.remove(key).is_some(),
        }
    }

    /// The events that turn what was reported into `listing` (key, value, mod revision),
    /// and records them.
    pub(crate) fn resync(&mut self, listing: Vec<(String, Vec<u8>, i64)>) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        let mut seen = BTreeMap::new();
        for (key, value, rev) in listing {
            if self.keys.get(&key) != Some(&rev) {
                events.push(WatchEvent::Put {
                    key: key.clone(),
                    value,
                });
            }
            seen.insert(key, rev);
        }
        for key in self.keys.keys() {
            if !seen.contains_key(key) {
                events.push(WatchEvent::Delete { key: key.clone() });
            }
        }
        self.keys = seen;
        events
    }
}
