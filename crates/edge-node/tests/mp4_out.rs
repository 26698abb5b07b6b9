//! `/NAME.mp4` and WS/MP4 against real peers: a stream is fed in real time
//! from an ffmpeg-encoded file, ffmpeg and ffprobe read the HTTP output
//! live, and a WebSocket client reads fragments that our MP4 reader parses.

use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use edge_node::mp4_out;
use futures_util::StreamExt;
use hub::{Hub, LiveStream};
use media::container::{Demuxed, Format};
use media::{Frame, Track};
use testkit::TempDir;
use tokio_tungstenite::tungstenite::Message;

/// Seconds of media in a generated sample: enough for ffmpeg's `-t` plus
/// its probing, read live.
const SAMPLE_SECS: &str = "14";

/// Seconds of output ffmpeg decodes.
const DECODE_SECS: &str = "8";

async fn media_file(
    State(hub): State<Arc<Hub>>,
    Path(file): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match file.strip_suffix(".mp4").and_then(|name| hub.get(name)) {
        Some(stream) => mp4_out::handle(stream, ws.ok()).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `GET /NAME.mp4` (HTTP or WebSocket) for the streams of `hub`.
async fn serve(hub: Arc<Hub>) -> SocketAddr {
    let app = Router::new().route("/{file}", get(media_file)).with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A live H.264 or H.265 + AAC sample of [`SAMPLE_SECS`], as MPEG-TS, demuxed.
fn sample(dir: &TempDir, video: testkit::Video) -> Demuxed {
    let path = dir.path("sample.ts");
    let mut args = testkit::lavfi(&[testkit::TESTSRC, testkit::SINE], SAMPLE_SECS);
    match video {
        testkit::Video::H265 => args.extend(["-c:v", "libx265", "-x265-params", "log-level=error:keyint=25"]),
        _ => args.extend(["-c:v", "libx264", "-g", "25", "-bf", "2"]),
    }
    args.extend(["-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2"]);
    testkit::ffmpeg(&args, &path);
    let data = std::fs::read(&path).unwrap();
    let demuxed = media::container::demux(Format::Ts, &data).unwrap();
    assert_eq!(demuxed.tracks.len(), 2, "{:?}", demuxed.tracks);
    demuxed
}

/// Publishes `demuxed` on `stream`, each frame at its decode time (real
/// time from the first frame); returns once the stream is live.
async fn feed(stream: &Arc<LiveStream>, demuxed: Demuxed) -> tokio::task::JoinHandle<()> {
    let publisher = stream.publish().unwrap();
    publisher.set_tracks(demuxed.tracks);
    let task = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let first = demuxed.frames.first().map_or(0.0, |f| f.dts.as_secs_f64());
        for frame in demuxed.frames {
            let at = Duration::from_secs_f64((frame.dts.as_secs_f64() - first).max(0.0));
            tokio::time::sleep_until(start + at).await;
            publisher.push(frame);
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stream.state() != hub::State::Live {
        assert!(tokio::time::Instant::now() < deadline, "stream never went live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task
}

fn skip_without(encoder: &str) -> bool {
    !(testkit::have_ffmpeg() && testkit::have_encoder(encoder))
}

/// Serves a live sample over HTTP; ffprobe must see `codec` + AAC, and ffmpeg
/// must decode [`DECODE_SECS`] without a single error line.
async fn ffmpeg_reads_http(video: testkit::Video, encoder: &str, codec: &str) {
    if skip_without(encoder) {
        return;
    }
    let dir = TempDir::new(&format!("mp4-http-{codec}"));
    let demuxed = sample(&dir, video);
    let hub = Arc::new(Hub::default());
    let stream = hub.stream("cam");
    let feeder = feed(&stream, demuxed).await;
    let addr = serve(hub).await;

    // the response itself
    let r = mp4_out::handle(stream.clone(), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "video/mp4");
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache, no-store");
    assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let mut body = r.into_body().into_data_stream();
    let init = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("init segment within 5 s")
        .expect("body continues")
        .expect("no body error");
    assert_eq!(&init[4..8], b"ftyp");
    drop(body);

    let url = format!("http://{addr}/cam.mp4");
    let probe = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || testkit::ffprobe_streams(FsPath::new(&url)))
    };
    let decode = tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-nostats"])
            .args(["-i", &url, "-t", DECODE_SECS])
            .args(["-f", "null", "-progress", "pipe:1", "-"])
            .output()
            .unwrap()
    });
    let streams = probe.await.unwrap();
    let mut codecs: Vec<&str> = streams
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or_default())
        .collect();
    codecs.sort_unstable();
    assert_eq!(codecs, ["aac", codec]);
    let out = decode.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg reported errors:\n{stderr}");
    // it decoded the whole span: 25 fps video for DECODE_SECS
    let progress = String::from_utf8_lossy(&out.stdout);
    let last = |key: &str| -> f64 {
        progress
            .lines()
            .filter_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .next_back()
            .unwrap_or_else(|| panic!("no {key} in ffmpeg progress:\n{progress}"))
    };
    let secs: f64 = DECODE_SECS.parse().unwrap();
    assert!(last("frame=") >= secs * 25.0 * 0.9, "{progress}");
    assert!(last("out_time_us=") >= (secs - 0.2) * 1e6, "{progress}");
    feeder.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn ffmpeg_decodes_live_h264_aac_over_http() {
    ffmpeg_reads_http(testkit::Video::H264, "libx264", "h264").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ffmpeg_decodes_live_h265_aac_over_http() {
    ffmpeg_reads_http(testkit::Video::H265, "libx265", "hevc").await;
}

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next binary message (pings and pongs skipped).
async fn next_binary(ws: &mut Client) -> bytes::Bytes {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("socket open")
            .expect("no socket error");
        match msg {
            Message::Binary(b) => return b,
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// The frames of `track` among `frames`.
fn of_track(frames: &[Frame], track: u32) -> Vec<&Frame> {
    frames.iter().filter(|f| f.track == track).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_sends_init_then_fragments_of_the_fed_frames() {
    if skip_without("libx264") {
        return;
    }
    let dir = TempDir::new("mp4-ws");
    let demuxed = sample(&dir, testkit::Video::H264);
    let fed = demuxed.frames.clone();
    let tracks: Vec<Track> = demuxed.tracks.clone();
    let hub = Arc::new(Hub::default());
    let stream = hub.stream("cam");
    let feeder = feed(&stream, demuxed).await;
    let addr = serve(hub).await;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/cam.mp4"))
        .await
        .unwrap();
    let init = next_binary(&mut ws).await;
    assert_eq!(&init[4..8], b"ftyp");
    assert!(init.windows(4).any(|w| w == b"moov"), "init segment has a moov");
    let mut file = init.to_vec();
    for _ in 0..40 {
        let fragment = next_binary(&mut ws).await;
        assert_eq!(&fragment[4..8], b"moof");
        assert!(fragment.windows(4).any(|w| w == b"mdat"));
        file.extend_from_slice(&fragment);
    }

    let got = media::mp4::read_all(&file).unwrap();
    assert_eq!(got.tracks.len(), 2);
    for track in &tracks {
        let out = of_track(&got.frames, track.id);
        let sent = of_track(&fed, track.id);
        assert!(out.len() >= 10, "track {}: {} frames", track.id, out.len());
        // the output is a contiguous run of what was fed, payloads untouched
        let start = sent
            .iter()
            .position(|f| f.data == out[0].data)
            .expect("first output frame was fed");
        for (i, (o, s)) in out.iter().zip(&sent[start..]).enumerate() {
            assert_eq!(o.data.len(), s.data.len(), "track {} frame {i} size", track.id);
            assert_eq!(o.data, s.data, "track {} frame {i} payload", track.id);
            // time runs as fed, from the common origin
            let shift = |f: &Frame, base: &Frame| f.dts.ticks() - base.dts.ticks();
            let (d_out, d_fed) = (shift(o, out[0]), shift(s, sent[start]));
            assert!(
                (d_out - d_fed).abs() <= 1,
                "track {} frame {i}: {d_out} vs {d_fed}",
                track.id
            );
        }
        assert!(out.windows(2).all(|w| w[0].dts.ticks() < w[1].dts.ticks()));
        assert!(out[0].dts.as_secs_f64() < 0.5, "output time starts near 0");
    }
    let video = tracks.iter().find(|t| t.codec.is_video()).unwrap();
    assert!(
        of_track(&got.frames, video.id)[0].keyframe,
        "starts at a keyframe"
    );

    // closing the socket ends the session and frees the viewer
    ws.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stream.viewers() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "viewer still counted after close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    feeder.abort();
}
