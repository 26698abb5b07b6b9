//! `tributary analyse`: prints the tracks and frames of a media file.
//!
//! The JSON shape (`--json`) is documented in `docs/analyse.md`.

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use media::container::{Demuxed, Format};
use serde::Serialize;

/// Arguments of `tributary analyse`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// File or `http://` URL to read (TS, FLV, MP4, ADTS: the content decides, not the name).
    /// A URL is read until it ends, `--max-bytes`, or `--seconds`, whichever comes first.
    input: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Container format, when detection from the content is not wanted.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Print only the tracks, not the frames.
    #[arg(long)]
    no_frames: bool,
    /// For URLs: stop reading after this many bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_bytes: u64,
    /// For URLs: stop reading after this many seconds (live sources never end).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Ts,
    Flv,
    Mp4,
    Adts,
}

/// The `--json` output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    source: String,
    format: Format,
    tracks: Vec<TrackReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<Vec<FrameReport>>,
    frame_count: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TrackReport {
    id: u32,
    codec: String,
    timescale: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channels: Option<u8>,
    init_size: usize,
    frames: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FrameReport {
    track: u32,
    dts: i64,
    pts: i64,
    keyframe: bool,
    size: usize,
}

/// Runs the subcommand; errors go to stderr with a non-zero exit status.
pub(crate) fn run(args: &Args) -> ExitCode {
    match analyse(args) {
        Ok(report) => {
            let out = if args.json {
                // a Report holds only strings, numbers and bools: serialising it cannot fail
                serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
            } else {
                render_text(&report)
            };
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tributary analyse: {}: {e}", args.input);
            ExitCode::FAILURE
        }
    }
}

fn analyse(args: &Args) -> Result<Report, String> {
    let is_url = args.input.contains("://");
    let mut data = if is_url {
        fetch(&args.input, args.max_bytes, Duration::from_secs(args.seconds))?
    } else {
        std::fs::read(&args.input).map_err(|e| format!("cannot read: {e}"))?
    };
    let format = match args.format {
        Some(FormatArg::Ts) => Format::Ts,
        Some(FormatArg::Flv) => Format::Flv,
        Some(FormatArg::Mp4) => Format::Mp4,
        Some(FormatArg::Adts) => Format::Adts,
        None => Format::detect(&data).ok_or("unrecognised format (not TS, FLV, MP4 or ADTS)")?,
    };
    if is_url && format == Format::Ts {
        // a capture of a live stream ends wherever reading stopped: keep whole packets
        let sync = data.iter().position(|&b| b == 0x47).unwrap_or(0);
        data.truncate(data.len() - (data.len() - sync) % 188);
    }
    let demuxed = media::container::demux(format, &data).map_err(|e| e.to_string())?;
    Ok(report(args.input.clone(), format, &demuxed, !args.no_frames))
}

/// Reads an `http://` URL until it ends, `max_bytes`, or `budget` has passed.
fn fetch(url: &str, max_bytes: u64, budget: Duration) -> Result<Vec<u8>, String> {
    if !url.starts_with("http://") {
        return Err("only files and http:// URLs can be analysed".into());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(budget))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| format!("cannot fetch: {e}"))?;
    let mut body = response.into_body().into_reader().take(max_bytes);
    let deadline = Instant::now() + budget;
    let mut data = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        match body.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            // the global timeout ends an endless live body: keep what arrived
            Err(e) if data.is_empty() => return Err(format!("cannot read response: {e}")),
            Err(_) => break,
        }
    }
    Ok(data)
}

pub(crate) fn report(source: String, format: Format, d: &Demuxed, with_frames: bool) -> Report {
    let tracks = d
        .tracks
        .iter()
        .map(|t| TrackReport {
            id: t.id,
            codec: t.codec.to_string(),
            timescale: t.timescale,
            width: t.video.as_ref().map(|v| v.width),
            height: t.video.as_ref().map(|v| v.height),
            fps: t.video.as_ref().and_then(|v| v.fps),
            profile: t.video.as_ref().and_then(|v| v.profile.clone()),
            level: t.video.as_ref().and_then(|v| v.level),
            sample_rate: t.audio.as_ref().map(|a| a.sample_rate),
            channels: t.audio.as_ref().map(|a| a.channels),
            init_size: t.init.len(),
            frames: d.frames.iter().filter(|f| f.track == t.id).count(),
        })
        .collect();
    let frames = with_frames.then(|| {
        d.frames
            .iter()
            .map(|f| FrameReport {
                track: f.track,
                dts: f.dts.ticks(),
                pts: f.pts.ticks(),
                keyframe: f.keyframe,
                size: f.data.len(),
            })
            .collect()
    });
    Report {
        source,
        format,
        tracks,
        frames,
        frame_count: d.frames.len(),
    }
}

fn render_text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{} ({:?}, {} frames)", r.source, r.format, r.frame_count);
    for t in &r.tracks {
        let _ = write!(s, "track {}: {} timescale {}", t.id, t.codec, t.timescale);
        if let (Some(w), Some(h)) = (t.width, t.height) {
            let _ = write!(s, " {w}x{h}");
        }
        if let Some(fps) = t.fps {
            let _ = write!(s, " {fps:.3} fps");
        }
        if let Some(p) = &t.profile {
            let _ = write!(s, " profile {p}");
        }
        if let Some(l) = t.level {
            let _ = write!(s, " level {l}");
        }
        if let Some(sr) = t.sample_rate {
            let _ = write!(s, " {sr} Hz");
        }
        if let Some(c) = t.channels {
            let _ = write!(s, " {c} ch");
        }
        let _ = writeln!(s, ", {} frames", t.frames);
    }
    if let Some(frames) = &r.frames {
        let _ = writeln!(
            s,
            "{:>8} {:>14} {:>14} {:>3} {:>8}",
            "track", "dts", "pts", "key", "size"
        );
        for f in frames {
            let key = if f.keyframe { "K" } else { "-" };
            let _ = writeln!(
                s,
                "{:>8} {:>14} {:>14} {:>3} {:>8}",
                f.track, f.dts, f.pts, key, f.size
            );
        }
    }
    s
}
