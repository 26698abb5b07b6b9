//! Helpers shared by the real-peer tests of every crate: scratch directories,
//! tool checks, ffmpeg runs and sample generation, and ffprobe's view of a
//! file. A dev-dependency only, and a leaf: it knows nothing of `media`.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A scratch directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory; `name` tells apart the tests of one process.
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tributary-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    /// The path of `file` inside the directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True when `bin -version` runs; otherwise prints why the test skips.
pub fn have(bin: &str) -> bool {
    let ok = Command::new(bin)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: {bin} is not installed (make test installs it)");
    }
    ok
}

/// True when ffmpeg and ffprobe run; otherwise prints why the test skips.
pub fn have_ffmpeg() -> bool {
    have("ffmpeg") && have("ffprobe")
}

/// True when ffmpeg lists the encoder `name`; otherwise prints why the test skips.
pub fn have_encoder(name: &str) -> bool {
    let list = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let ok = list.split_whitespace().any(|w| w == name);
    if !ok {
        eprintln!("skipping: ffmpeg has no {name} encoder");
    }
    ok
}

/// Runs a command and returns its output; panics with stderr when it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `ffmpeg -v error -y <args> <out>`; panics with stderr when it fails.
pub fn ffmpeg(args: &[&str], out: &Path) -> Output {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out))
}

/// Decodes `file` with ffmpeg into the null muxer (`-v error`), which must
/// succeed; its stderr holds the decode errors.
pub fn decode(file: &Path) -> Output {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"]))
}

/// ffmpeg's `testsrc2` test pattern: 320x240 at 25 fps.
pub const TESTSRC: &str = "testsrc2=size=320x240:rate=25";
/// A 1 kHz sine at 48 kHz.
pub const SINE: &str = "sine=frequency=1000:sample_rate=48000";

/// ffmpeg arguments reading each of `sources` from the lavfi device, then
/// `-t secs`.
pub fn lavfi<'a>(sources: &[&'a str], secs: &'a str) -> Vec<&'a str> {
    let mut args = Vec::new();
    for source in sources {
        args.extend(["-f", "lavfi", "-i", source]);
    }
    args.extend(["-t", secs]);
    args
}

/// ffmpeg encoding [`TESTSRC`] and [`SINE`] live (`-re`, H.264 with a
/// keyframe every 25 frames, AAC) for `secs` seconds to `out` as `format`
/// (`-v error -nostdin`); set stdio and spawn it.
pub fn ffmpeg_push(out: &str, format: &str, secs: &str) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin", "-re"])
        .args(lavfi(&[TESTSRC, SINE], secs))
        .args(["-c:v", "libx264", "-g", "25", "-c:a", "aac", "-f", format])
        .arg(out);
    cmd
}

/// A TCP port free right now on loopback (bound and released).
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port free right now on loopback (bound and released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Video codec of a generated sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Video {
    H264,
    H265,
    None,
}

/// Generates a 2 s sample of [`TESTSRC`] and [`SINE`] into `path`; the muxer
/// follows from the extension (`.ts`, `.flv`, `.mp4`, `.aac`).
pub fn generate(path: &Path, video: Video) {
    let mp4 = path.extension().is_some_and(|e| e == "mp4");
    let mut args = match video {
        Video::None => lavfi(&[SINE], "2"),
        _ => lavfi(&[TESTSRC, SINE], "2"),
    };
    match video {
        Video::H264 => args.extend(["-c:v", "libx264", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p"]),
        Video::H265 => {
            args.extend([
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error:keyint=25",
                "-pix_fmt",
                "yuv420p",
            ]);
            if mp4 {
                args.extend(["-tag:v", "hvc1"]);
            }
        }
        Video::None => {}
    }
    args.extend(["-c:a", "aac", "-ac", "2"]);
    if path.extension().is_some_and(|e| e == "aac") {
        args.extend(["-f", "adts"]);
    }
    ffmpeg(&args, path);
}

/// One packet as ffprobe lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// `codec_type`: "video", "audio", ...
    pub codec_type: String,
    /// `stream_index`.
    pub stream: usize,
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    /// `pts_time` in seconds.
    pub pts_time: Option<f64>,
    pub duration: Option<i64>,
    /// The `K` flag.
    pub keyframe: bool,
    pub size: usize,
}

/// `ffprobe -v error <args> -of json <file>`, parsed.
pub fn ffprobe_json(args: &[&str], file: &Path) -> Value {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "json"])
        .arg(file));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `ffprobe -show_packets` of a file, in file order.
pub fn ffprobe_packets(file: &Path) -> Vec<Packet> {
    packets_of(&ffprobe_json(&["-show_packets"], file))
}

/// Packets of one ffprobe stream.
pub fn stream_packets(packets: &[Packet], stream: usize) -> Vec<&Packet> {
    packets.iter().filter(|p| p.stream == stream).collect()
}

/// `ffprobe -show_streams` of a file: one JSON object per stream, in order.
pub fn ffprobe_streams(file: &Path) -> Vec<Value> {
    streams_of(ffprobe_json(&["-show_streams"], file))
}

/// [`ffprobe_streams`] and [`ffprobe_packets`] of a file from one ffprobe run.
pub fn ffprobe_streams_and_packets(file: &Path) -> (Vec<Value>, Vec<Packet>) {
    let json = ffprobe_json(&["-show_streams", "-show_packets"], file);
    let packets = packets_of(&json);
    (streams_of(json), packets)
}

/// The container's id of an ffprobe stream (`"id": "0x100"`): the PID in
/// TS, the track ID in MP4.
pub fn stream_id(stream: &Value) -> u32 {
    let id = stream["id"].as_str().expect("stream id");
    u32::from_str_radix(id.trim_start_matches("0x"), 16).expect("hex stream id")
}

fn packets_of(json: &Value) -> Vec<Packet> {
    json["packets"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| Packet {
            codec_type: p["codec_type"].as_str().unwrap_or_default().to_owned(),
            stream: p["stream_index"].as_u64().unwrap() as usize,
            pts: p["pts"].as_i64(),
            dts: p["dts"].as_i64(),
            pts_time: p["pts_time"].as_str().and_then(|s| s.parse().ok()),
            duration: p["duration"].as_i64(),
            keyframe: p["flags"].as_str().unwrap_or_default().contains('K'),
            size: p["size"].as_str().unwrap().parse().unwrap(),
        })
        .collect()
}

fn streams_of(mut json: Value) -> Vec<Value> {
    match json["streams"].take() {
        Value::Array(streams) => streams,
        other => panic!("ffprobe printed no streams: {other}"),
    }
}
pub mod etcd;
pub mod hls;
