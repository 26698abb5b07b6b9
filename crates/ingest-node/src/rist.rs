//! RIST input (`rist://` sources): MPEG-TS received over RIST (main
//! profile) through librist (the `rist` crate, behind this crate's `rist`
//! feature).
//!
//! `rist://@HOST:PORT` or `rist://:PORT` listens for a RIST sender as long as
//! the stream is defined; `rist://HOST:PORT` calls one (librist keeps
//! reconnecting by itself). Query options (`cname`, `buffer`, `secret`,
//! `aes-type`, ...) go to librist unchanged.
//!
//! librist's blocking reads run on a blocking thread with a short timeout;
//! the blocks come to the async side over a channel, and when the input's
//! task ends the thread sees the channel closed and destroys the librist
//! context. The received TS goes through [`media::ts::Demuxer`] into the
//! stream's publisher, taken on the first block and released after
//! [`crate::SOURCE_IDLE_TIMEOUT`] of silence, like [`crate::tsudp`].

use std::sync::Arc;

use hub::{LiveStream, Publisher};
use media::ts::Demuxer;
use spec::source::{RistMode, RistSource};

/// The message an input or push reports when this build has no librist.
pub const NO_RIST: &str = "built without RIST support (the `rist` cargo feature of ingest-node/tributary)";

/// The librist URL of a source or push target: listeners get `@` and, without a
/// host, every IPv4 interface (`rist://@0.0.0.0:PORT`); options are kept.
pub fn librist_url(source: &RistSource) -> String {
    let mut url = String::from("rist://");
    if source.mode == RistMode::Listener {
        url.push('@');
    }
    match source.host.as_deref() {
        Some(h) if h.contains(':') => url.push_str(&format!("[{h}]")),
        Some(h) => url.push_str(h),
        None => url.push_str("0.0.0.0"),
    }
    url.push_str(&format!(":{}", source.port));
    for (i, (k, v)) in source.options.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(k);
        if !v.is_empty() {
            url.push('=');
            url.push_str(v);
        }
    }
    url
}

/// Receives `source` into `stream`. A listener returns only when librist
/// fails; a caller also returns an error when its peer goes silent for
/// [`crate::SOURCE_IDLE_TIMEOUT`] (or never sends), so that the supervisor
/// retries it with backoff.
pub async fn run(source: RistSource, stream: Arc<LiveStream>) -> Result<(), String> {
    let url = librist_url(&source);
    let shown = spec::Source::Rist(source.clone()).redacted().to_string();
    let mut blocks = receive(url).map_err(|e| format!("rist input {shown}: {e}"))?;
    let mut source_state: Option<(Publisher, Demuxer)> = None;
    loop {
        let block = match tokio::time::timeout(crate::SOURCE_IDLE_TIMEOUT, blocks.recv()).await {
            Ok(Some(Ok(block))) => block,
            Ok(Some(Err(e))) => return Err(format!("rist input {shown}: {e}")),
            Ok(None) => return Err(format!("rist input {shown}: the librist reader stopped")),
            Err(_) => {
                if let Some((publisher, mut demux)) = source_state.take() {
                    demux.finish();
                    crate::tsudp::drain(&mut demux, &publisher, "rist input");
                    tracing::info!(stream = stream.name(), source = %shown, "rist source went silent");
                }
                if source.mode == RistMode::Caller {
                    return Err(format!(
                        "rist input {shown}: nothing received for {} s",
                        crate::SOURCE_IDLE_TIMEOUT.as_secs()
                    ));
                }
                continue;
            }
        };
        if source_state.is_none() {
            match stream.publish() {
                Ok(p) => {
                    tracing::info!(stream = stream.name(), source = %shown, "rist source started");
                    source_state = Some((p, Demuxer::new()));
                }
                Err(e) => {
                    tracing::debug!(stream = stream.name(), %e, "rist block dropped");
                    continue;
                }
            }
        }
        if let Some((publisher, demux)) = source_state.as_mut() {
            demux.feed(&block);
            crate::tsudp::drain(demux, publisher, "rist input");
        }
    }
}

/// Blocks of the RIST session, read on a blocking thread; an error ends them.
type Blocks = tokio::sync::mpsc::Receiver<Result<Vec<u8>, String>>;

/// Starts librist on a thread of its own that forwards each data block until
/// the returned receiver is dropped; a librist error (a URL it refuses, a
/// port in use) is the first and last message.
#[cfg(feature = "rist")]
fn receive(url: String) -> Result<Blocks, String> {
    use std::time::Duration;
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    std::thread::Builder::new()
        .name("rist-receiver".into())
        .spawn(move || {
            // created here: a caller's host name is resolved by librist, blocking
            let mut receiver = match rist::Receiver::new(&url) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.to_string()));
                    return;
                }
            };
            while !tx.is_closed() {
                match receiver.recv(Duration::from_millis(100)) {
                    Ok(None) => {}
                    Ok(Some(block)) => {
                        if tx.blocking_send(Ok(block)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e.to_string()));
                        break;
                    }
                }
            }
            // dropping `receiver` here destroys the librist context
        })
        .map_err(|e| format!("cannot start the rist reader thread: {e}"))?;
    Ok(rx)
}

#[cfg(not(feature = "rist"))]
fn receive(_url: String) -> Result<Blocks, String> {
    Err(NO_RIST.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rist(url: &str) -> RistSource {
        match spec::Source::parse(url).unwrap() {
            spec::Source::Rist(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn librist_urls() {
        for (ours, theirs) in [
            ("rist://:8193", "rist://@0.0.0.0:8193"),
            ("rist://@127.0.0.1:8193", "rist://@127.0.0.1:8193"),
            ("rist://@[::]:8193", "rist://@[::]:8193"),
            (
                "rist://10.0.0.1:8193?cname=x&buffer=500",
                "rist://10.0.0.1:8193?buffer=500&cname=x",
            ),
            ("rist://[::1]:1", "rist://[::1]:1"),
        ] {
            assert_eq!(librist_url(&rist(ours)), theirs, "{ours}");
        }
    }

    #[cfg(not(feature = "rist"))]
    #[tokio::test]
    async fn without_the_feature_sources_say_so() {
        let hub = hub::Hub::default();
        let e = run(rist("rist://:8193"), hub.stream("s")).await.unwrap_err();
        assert!(e.contains("built without RIST support"), "{e}");
    }
}
