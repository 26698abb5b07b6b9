//! Helpers shared by the ingest-node tests with real peers: polling a
//! condition, a stream's track checks, child processes killed on drop.
//! (The std-only ones live in `testkit`.)
#![allow(dead_code)]

use std::process::Child;
use std::time::Duration;

use hub::{LiveStream, State};
use media::Codec;

/// Waits (polling, at most `secs`) until `cond` holds.
pub(crate) async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True once both tracks are known with their parameters (the demuxer
/// announces a track at the PMT and describes it when its first frame comes).
pub(crate) fn described(stream: &LiveStream) -> bool {
    let tracks = stream.tracks();
    tracks.len() == 2 && tracks.iter().all(|t| t.video.is_some() || t.audio.is_some())
}

/// Live with both tracks described.
pub(crate) fn live(stream: &LiveStream) -> bool {
    stream.state() == State::Live && described(stream)
}

/// H.264 320x240 and AAC at 48 kHz: what [`testkit::ffmpeg_push`] sends.
pub(crate) fn assert_h264_aac(stream: &LiveStream) {
    assert_tracks_h264_aac(&stream.tracks());
}

/// H.264 320x240 and AAC at 48 kHz among `tracks`; returns the audio parameters.
pub(crate) fn assert_tracks_h264_aac(tracks: &[media::Track]) -> media::AudioInfo {
    let video = tracks
        .iter()
        .find(|t| t.codec == Codec::H264)
        .expect("an h264 track");
    let v = video.video.clone().expect("video info from the sps");
    assert_eq!((v.width, v.height), (320, 240));
    let audio = tracks
        .iter()
        .find(|t| t.codec == Codec::Aac)
        .expect("an aac track");
    let a = audio.audio.clone().expect("audio info");
    assert_eq!(a.sample_rate, 48_000);
    a
}

/// A child process, killed when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Proc {
    /// Kills it now (SIGKILL: no SRT shutdown is sent).
    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Waits up to `secs` for it to exit by itself; its success.
    pub(crate) async fn exited(&mut self, secs: u64) -> Option<bool> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status.success());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
