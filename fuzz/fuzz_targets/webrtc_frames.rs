#![no_main]
//! What WebRTC peers send and what goes out to them, from arbitrary bytes:
//! depacketized access units, VP8 frames and Opus packets of a WHIP
//! publisher (any RTP times), and length-prefixed frames converted to Annex B for viewers
//! and cut into RTP payloads. Never a panic; an accepted conversion keeps every NAL unit;
//! payloads stay under the MTU.
use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use std::sync::Arc;
use webrtc::convert::{Ingress, Kind, Outgoing, Packetizer, RTP_PAYLOAD_MTU, Received, annexb};

fuzz_target!(|data: &[u8]| {
    let (head, body) = data.split_at(data.len().min(8));
    let mut rtp = [0u8; 8];
    rtp[..head.len()].copy_from_slice(head);
    let rtp = u64::from_le_bytes(rtp);
    let mut ingress = Ingress::new(true, Some(2));
    for chunk in body.chunks(97) {
        match ingress.video(chunk, rtp, Duration::from_millis(3)) {
            Received::Tracks(tracks, frame) => {
                assert!(!tracks.is_empty());
                assert_eq!(frame.track, tracks[0].id);
            }
            Received::Frame(_) | Received::Nothing => {}
        }
        let _ = ingress.audio(chunk, rtp.wrapping_add(960), Duration::from_millis(3));
        if let Received::Tracks(tracks, frame) = ingress.vp8(chunk, rtp, Duration::from_millis(3)) {
            assert_eq!(tracks[0].codec, media::Codec::Vp8);
            assert!(frame.keyframe && media::vp8::is_keyframe(&frame.data));
        }
    }
    if let Some(out) = annexb(body, Some(&[0, 0, 0, 1, 0x67, 1])) {
        assert!(out.len() >= body.len());
    }
    let mut cut = Packetizer::default();
    for codec in [media::Codec::H264, media::Codec::Vp8] {
        let out = Outgoing {
            kind: Kind::Video,
            codec,
            keyframe: false,
            rtp_time: rtp,
            data: Arc::from(body),
        };
        assert!(cut.packetize(&out).iter().all(|p| p.len() <= RTP_PAYLOAD_MTU));
    }
});
