#![no_main]
//! Arbitrary bytes, cut into datagrams, through every RTP depacketizer
//! (directly and through a `Receiver` with reordering).
use libfuzzer_sys::fuzz_target;
use media::rtp::{AuHeaderConfig, Depacketizer, Event, Packet, PayloadFormat, Receiver, ReceiverOptions};
use media::sdp::{SessionDescription, Source};

const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
m=video 5002 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n\
m=audio 5004 RTP/AVP 96\r\na=rtpmap:96 mpeg4-generic/48000/2\r\n\
a=fmtp:96 mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1190\r\n\
m=audio 5006 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";

/// Splits `data` into chunks whose lengths come from the data itself.
fn datagrams(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        out.push(&tail[..n]);
        rest = &tail[n..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let chunks = datagrams(data);
    let sd = SessionDescription::parse(SDP).expect("the fixed SDP parses");
    let configs = Source::from_session(&sd).expect("the fixed SDP has tracks");
    let window = data.first().map_or(0, |b| usize::from(b % 32));
    for config in &configs {
        let mut receiver = Receiver::new(
            config,
            1,
            ReceiverOptions {
                reorder_window: window,
                reorder_depth: None,
            },
        );
        for c in &chunks {
            receiver.handle_datagram(c);
        }
        receiver.skip_gap();
        receiver.finish();
        while let Some(event) = receiver.poll_event() {
            if let Event::Frame(f) = event {
                assert!(!f.data.is_empty());
            }
        }
    }
    // the depacketizers on their own, with payloads that skip the RTP header checks
    let formats = [
        PayloadFormat::H264,
        PayloadFormat::H265,
        PayloadFormat::Aac(AuHeaderConfig::AAC_HBR),
        PayloadFormat::Aac(AuHeaderConfig {
            cts_delta_length: 2,
            dts_delta_length: 3,
            random_access_indication: true,
            stream_state_indication: 1,
            auxiliary_data_size_length: 5,
            ..AuHeaderConfig::AAC_LBR
        }),
        PayloadFormat::Opus,
    ];
    for format in &formats {
        let mut d = Depacketizer::new(format, &[], 90_000);
        for (i, c) in chunks.iter().enumerate() {
            let flags = c.first().copied().unwrap_or(0);
            let packet = Packet::new(
                96,
                i as u16 + u16::from(flags & 1),
                u32::from(flags >> 6),
                1,
                flags & 2 != 0,
                c.to_vec().into(),
            );
            let _ = d.push(&packet);
            while d.poll().is_some() {}
        }
        d.flush();
        while d.poll().is_some() {}
    }
});
