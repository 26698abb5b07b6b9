//! Turning tag bodies into tracks and canonical frames.

use bytes::Bytes;

use super::{
    AUDIO_TRACK_ID, AudioPacket, Error, Metadata, Result, TIMESCALE, Tag, TagType, VIDEO_TRACK_ID,
    VideoPacket, parse_audio_body, parse_video_body,
};
use crate::{Codec, Frame, Timestamp, Track, nal};

/// Half the range of a 32-bit millisecond clock.
const HALF_WRAP: i64 = 1 << 31;
/// Range of a 32-bit millisecond clock (FLV and RTMP timestamps).
const WRAP: i64 = 1 << 32;

/// What one tag body amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A track appeared (its first sequence header) or its decoder
    /// configuration changed. A repeated identical sequence header gives no event.
    Track(Track),
    /// A frame of a track announced before, payload in canonical form.
    Frame(Frame),
    /// `onMetaData` script data.
    Metadata(Metadata),
    /// AVC end of sequence / Enhanced RTMP SequenceEnd.
    EndOfSequence {
        /// [`Track::id`] of the video track.
        track: u32,
    },
}

/// Stateful conversion of FLV tags (or RTMP audio/video/data messages,
/// which carry the same bodies) into [`Event`]s.
///
/// Errors from the `handle_*` methods are never fatal: they say why one tag
/// was skipped (unsupported codec, frame before its sequence header, bad
/// framing), and the next tag can be handled as usual.
///
/// Timestamps are 32-bit milliseconds that wrap after about 49.7 days; the
/// demuxer unwraps them into a monotonic 64-bit clock (a step back by more
/// than 2^31 ms is taken as a wrap).
#[derive(Debug, Clone, Default)]
pub struct Demuxer {
    video: Option<VideoState>,
    audio: Option<Track>,
    /// Last unwrapped timestamp.
    last_ts: Option<i64>,
}

/// The video track and the NAL length size of its decoder configuration.
#[derive(Debug, Clone)]
struct VideoState {
    track: Track,
    length_size: usize,
}

// === impl Demuxer ===

impl Demuxer {
    /// A demuxer with no tracks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The video track, once its sequence header has arrived.
    pub fn video_track(&self) -> Option<&Track> {
        self.video.as_ref().map(|v| &v.track)
    }

    /// The audio track, once its sequence header has arrived.
    pub fn audio_track(&self) -> Option<&Track> {
        self.audio.as_ref()
    }

    /// Handles one tag read by [`super::TagReader`].
    pub fn handle_tag(&mut self, tag: &Tag) -> Result<Option<Event>> {
        if tag.encrypted {
            return Err(Error::Encrypted);
        }
        match tag.tag_type {
            TagType::Video => self.handle_video(tag.timestamp, &tag.body),
            TagType::Audio => self.handle_audio(tag.timestamp, &tag.body),
            TagType::Script => self.handle_script(&tag.body),
            TagType::Other(t) => Err(Error::UnknownTagType(t)),
        }
    }

    /// Handles a video tag body with its timestamp in milliseconds.
    pub fn handle_video(&mut self, ts_ms: u32, body: &Bytes) -> Result<Option<Event>> {
        let tag = parse_video_body(body)?;
        match tag.packet {
            VideoPacket::SequenceHeader(init) => {
                let length_size = match tag.codec {
                    Codec::H264 => {
                        crate::h264::AvcConfig::parse(&init)
                            .map_err(|e| Error::BadConfig(e.to_string()))?
                            .length_size
                    }
                    _ => {
                        crate::h265::HevcConfig::parse(&init)
                            .map_err(|e| Error::BadConfig(e.to_string()))?
                            .length_size
                    }
                };
                let length_size = usize::from(length_size);
                if self
                    .video
                    .as_ref()
                    .is_some_and(|v| v.track.codec == tag.codec && v.track.init == init)
                {
                    return Ok(None);
                }
                let mut track = Track::new(VIDEO_TRACK_ID, tag.codec, TIMESCALE);
                track.init = init;
                track.describe();
                self.video = Some(VideoState {
                    track: track.clone(),
                    length_size,
                });
                Ok(Some(Event::Track(track)))
            }
            VideoPacket::Frame { keyframe, cts, data } => {
                let v = self.video.as_ref().filter(|v| v.track.codec == tag.codec).ok_or(
                    Error::NoSequenceHeader {
                        track: VIDEO_TRACK_ID,
                    },
                )?;
                if data.is_empty() {
                    return Err(Error::EmptyFrame);
                }
                let payload = canonical(data, v.length_size)?;
                let dts = self.unwrap_ts(ts_ms);
                Ok(Some(Event::Frame(Frame::new(
                    VIDEO_TRACK_ID,
                    Timestamp::new(dts, TIMESCALE),
                    Timestamp::new(dts + i64::from(cts), TIMESCALE),
                    keyframe,
                    payload,
                ))))
            }
            VideoPacket::EndOfSequence => Ok(self.video.as_ref().map(|_| Event::EndOfSequence {
                track: VIDEO_TRACK_ID,
            })),
            VideoPacket::Ignored(_) => Ok(None),
        }
    }

    /// Handles an audio tag body with its timestamp in milliseconds.
    pub fn handle_audio(&mut self, ts_ms: u32, body: &Bytes) -> Result<Option<Event>> {
        match parse_audio_body(body)?.packet {
            AudioPacket::SequenceHeader(init) => {
                crate::aac::AudioSpecificConfig::parse(&init).map_err(|e| Error::BadConfig(e.to_string()))?;
                if self.audio.as_ref().is_some_and(|a| a.init == init) {
                    return Ok(None);
                }
                let mut track = Track::new(AUDIO_TRACK_ID, Codec::Aac, TIMESCALE);
                track.init = init;
                track.describe();
                self.audio = Some(track.clone());
                Ok(Some(Event::Track(track)))
            }
            AudioPacket::Frame(data) => {
                if self.audio.is_none() {
                    return Err(Error::NoSequenceHeader {
                        track: AUDIO_TRACK_ID,
                    });
                }
                let ts = Timestamp::new(self.unwrap_ts(ts_ms), TIMESCALE);
                Ok(Some(Event::Frame(Frame::new(AUDIO_TRACK_ID, ts, ts, true, data))))
            }
        }
    }

    /// Handles a script data body: `onMetaData` gives an event, other script data nothing.
    pub fn handle_script(&mut self, body: &[u8]) -> Result<Option<Event>> {
        Ok(Metadata::parse(body)?.map(Event::Metadata))
    }

    /// Maps a 32-bit millisecond timestamp onto the unwrapped clock.
    fn unwrap_ts(&mut self, ts_ms: u32) -> i64 {
        let ts = i64::from(ts_ms);
        let v = match self.last_ts {
            None => ts,
            Some(last) => {
                // last >= 0 always, so this is the start of its 2^32 period
                let base = last & !(WRAP - 1);
                let v = base + ts;
                if v < last - HALF_WRAP {
                    v + WRAP
                } else if v > last + HALF_WRAP && base >= WRAP {
                    v - WRAP
                } else {
                    v
                }
            }
        };
        self.last_ts = Some(v);
        v
    }
}

/// Re-frames NAL units to 4-byte lengths; 4-byte input is validated and shared, not copied.
fn canonical(data: Bytes, length_size: usize) -> Result<Bytes> {
    if length_size == nal::LENGTH_SIZE {
        for unit in nal::iter_length_prefixed(&data, length_size) {
            unit?;
        }
        Ok(data)
    } else {
        Ok(nal::to_canonical(&data, length_size)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_unwrap_across_2_pow_32() {
        let mut d = Demuxer::new();
        let seq: Vec<i64> = [u32::MAX - 40, u32::MAX, 39, 79, 60, u32::MAX - 10, 100]
            .into_iter()
            .map(|t| d.unwrap_ts(t))
            .collect();
        let w = 1i64 << 32;
        assert_eq!(seq, [w - 41, w - 1, w + 39, w + 79, w + 60, w - 11, w + 100]);
    }

    #[test]
    fn frames_before_sequence_header_are_skipped() {
        let mut d = Demuxer::new();
        let e = d
            .handle_audio(0, &Bytes::from_static(&[0xaf, 1, 1, 2]))
            .unwrap_err();
        assert_eq!(e, Error::NoSequenceHeader { track: 2 });
        let e = d
            .handle_video(0, &Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]))
            .unwrap_err();
        assert_eq!(e, Error::NoSequenceHeader { track: 1 });
        assert!(d.video_track().is_none());
    }
}
