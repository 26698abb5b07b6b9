//! Endless MPEG-TS from a subscriber.

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use hub::{Event, Subscriber};
use media::ts::Muxer;

/// How long an output waits for a publisher to come back before ending.
const OFFLINE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The tracks that can be muxed now: a track whose decoder configuration is
/// not known yet (an AAC track before its first frame, say) is left out until
/// the stream announces it complete.
fn muxable(tracks: Vec<media::Track>) -> Vec<media::Track> {
    tracks
        .into_iter()
        .filter(|t| !t.init.is_empty() || !(t.codec.is_video() || t.codec.is_audio()))
        .collect()
}

/// The MPEG-TS bytes of a live stream from the subscriber's position on,
/// one chunk per frame. Ends when the stream is removed or stays offline.
pub fn stream(mut sub: Subscriber) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    if sub.protocol() == hub::Protocol::Other {
        sub.set_protocol(hub::Protocol::Ts);
    }
    let state = (sub, None::<Muxer>, BytesMut::with_capacity(64 * 1024));
    futures_util::stream::unfold(state, |(mut sub, mut muxer, mut out)| async move {
        loop {
            let event = match tokio::time::timeout(OFFLINE_GRACE, sub.next()).await {
                Ok(e) => e,
                Err(_) if sub.stream().state() == hub::State::Offline => return None,
                Err(_) => continue,
            };
            match event {
                Event::Tracks(tracks) => match Muxer::new(&muxable(tracks)) {
                    Ok(m) => muxer = Some(m),
                    Err(e) => {
                        tracing::warn!(stream = sub.stream().name(), %e, "cannot mux these tracks as mpeg-ts");
                        return None;
                    }
                },
                Event::Frame(frame) => {
                    let Some(m) = muxer.as_mut() else { continue };
                    if let Err(e) = m.mux_frame(&frame, &mut out) {
                        tracing::debug!(stream = sub.stream().name(), %e, "frame skipped");
                        continue;
                    }
                    let chunk = out.split().freeze();
                    return Some((Ok(chunk), (sub, muxer, out)));
                }
                Event::Skipped { lost } => {
                    tracing::debug!(stream = sub.stream().name(), lost, "slow ts viewer skipped ahead");
                }
                Event::Offline => {}
                Event::Closed => return None,
            }
        }
    })
}
