//! Helpers shared by the real-peer tests of every crate: scratch directories,
//! ffmpeg sample generation, and ffprobe's view of a file. A dev-dependency only.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tributary-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True when ffmpeg and ffprobe run; otherwise prints why the test skips.
pub fn have_ffmpeg() -> bool {
    let ok = |bin: &str| {
        Command::new(bin)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let have = ok("ffmpeg") && ok("ffprobe");
    if !have {
        eprintln!("skipping: ffmpeg/ffprobe not installed (make test installs them)");
    }
    have
}

/// Runs a command and returns its output; panics with stderr when it fails.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Video codec of a generated sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Video {
    H264,
    H265,
    None,
}

/// Generates a 2 s sample with ffmpeg's `testsrc2` and `sine` sources into
/// `path`; the muxer follows from the extension (`.ts`, `.flv`, `.mp4`, `.aac`).
pub fn generate(path: &Path, video: Video) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    if video != Video::None {
        cmd.args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]);
    }
    cmd.args([
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:sample_rate=48000",
        "-t",
        "2",
    ]);
    match video {
        Video::H264 => {
            cmd.args(["-c:v", "libx264", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p"]);
        }
        Video::H265 => {
            cmd.args([
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error:keyint=25",
                "-pix_fmt",
                "yuv420p",
            ]);
            if path.extension().is_some_and(|e| e == "mp4") {
                cmd.args(["-tag:v", "hvc1"]);
            }
        }
        Video::None => {}
    }
    cmd.args(["-c:a", "aac", "-ac", "2"]);
    if path.extension().is_some_and(|e| e == "aac") {
        cmd.args(["-f", "adts"]);
    }
    run(cmd.arg(path));
}

/// One packet as ffprobe lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub stream: usize,
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub pts_time: Option<f64>,
    pub keyframe: bool,
    pub size: usize,
}

/// `ffprobe -show_packets` of a file, in file order.
pub fn ffprobe_packets(file: &Path) -> Vec<Packet> {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error", "-show_packets", "-of", "json"])
        .arg(file));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["packets"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| Packet {
            stream: p["stream_index"].as_u64().unwrap() as usize,
            pts: p["pts"].as_i64(),
            dts: p["dts"].as_i64(),
            pts_time: p["pts_time"].as_str().and_then(|s| s.parse().ok()),
            keyframe: p["flags"].as_str().unwrap_or_default().contains('K'),
            size: p["size"].as_str().unwrap().parse().unwrap(),
        })
        .collect()
}

/// Packets of one ffprobe stream.
pub fn stream_packets(packets: &[Packet], stream: usize) -> Vec<&Packet> {
    packets.iter().filter(|p| p.stream == stream).collect()
}
