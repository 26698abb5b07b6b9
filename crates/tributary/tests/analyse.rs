//! `tributary analyse` against ffprobe: for a sample of each container, the
//! JSON report agrees with `ffprobe -show_packets` on frame count,
//! timestamps and keyframes; bad files give a clear error and exit status 1.

use std::path::Path;
use std::process::{Command, Output};

use testkit::{TempDir, Video, ffprobe_packets, generate, have_ffmpeg, stream_packets};

fn analyse(file: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("analyse")
        .arg(file)
        .args(extra)
        .output()
        .unwrap()
}

fn analyse_json(file: &Path) -> serde_json::Value {
    let out = analyse(file, &["--json"]);
    assert!(
        out.status.success(),
        "analyse {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check_against_ffprobe(file: &Path, format: &str) {
    let report = analyse_json(file);
    assert_eq!(report["format"], format);
    let packets = ffprobe_packets(file);
    let tracks = report["tracks"].as_array().unwrap();
    let frames = report["frames"].as_array().unwrap();
    assert_eq!(
        report["frameCount"].as_u64().unwrap() as usize,
        packets.len(),
        "{format}: frame count"
    );
    assert_eq!(frames.len(), packets.len());
    for (index, track) in tracks.iter().enumerate() {
        let id = track["id"].as_u64().unwrap();
        let timescale = track["timescale"].as_f64().unwrap();
        let ours: Vec<_> = frames
            .iter()
            .filter(|f| f["track"].as_u64() == Some(id))
            .collect();
        let theirs = stream_packets(&packets, index);
        assert_eq!(ours.len(), theirs.len(), "{format}: frames of track {id}");
        assert_eq!(track["frames"].as_u64().unwrap() as usize, ours.len());
        for (i, (f, p)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(
                f["keyframe"].as_bool(),
                Some(p.keyframe),
                "{format} track {id} frame {i}: keyframe"
            );
            let (pts, dts) = (f["pts"].as_i64().unwrap(), f["dts"].as_i64().unwrap());
            if format == "adts" {
                let t = pts as f64 / timescale;
                assert!(
                    (t - p.pts_time.unwrap()).abs() < 1e-4,
                    "{format} frame {i}: {t} vs {:?}",
                    p.pts_time
                );
            } else {
                assert_eq!(Some(pts), p.pts, "{format} track {id} frame {i}: pts");
                assert_eq!(Some(dts), p.dts, "{format} track {id} frame {i}: dts");
            }
        }
    }
}

#[test]
fn json_agrees_with_ffprobe_for_each_container() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("analyse");
    for (file, format, video) in [
        ("a.ts", "ts", Video::H264),
        ("a.flv", "flv", Video::H264),
        ("a.mp4", "mp4", Video::H264),
        ("b.ts", "ts", Video::H265),
        ("b.mp4", "mp4", Video::H265),
        ("a.aac", "adts", Video::None),
    ] {
        let path = dir.path(file);
        generate(&path, video);
        check_against_ffprobe(&path, format);
    }
}

#[test]
fn text_output_lists_tracks() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("analyse-text");
    let path = dir.path("t.ts");
    generate(&path, Video::H264);
    let out = analyse(&path, &["--no-frames"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("h264 timescale 90000 320x240 25.000 fps"), "{text}");
    assert!(text.contains("aac timescale 90000 48000 Hz 2 ch"), "{text}");
}

#[test]
fn bad_files_fail_with_a_reason() {
    let dir = TempDir::new("analyse-bad");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("empty.ts", vec![], "unrecognised format"),
        (
            "garbage.bin",
            b"this is not a media file at all".to_vec(),
            "unrecognised format",
        ),
        (
            "bad.flv",
            b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\x00\x01\x00".to_vec(),
            "byte",
        ),
        (
            "bad.mp4",
            b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00\xff\xff\xff\xffmoov".to_vec(),
            "byte",
        ),
    ];
    for (name, data, expect) in cases {
        let path = dir.path(name);
        std::fs::write(&path, data).unwrap();
        let out = analyse(&path, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}: exit status");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(expect),
            "{name}: error {err:?} should mention {expect:?}"
        );
    }
    let missing = analyse(&dir.path("missing.ts"), &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn truncated_ts_fails_with_offset() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("analyse-trunc");
    let path = dir.path("t.ts");
    generate(&path, Video::H264);
    let mut data = std::fs::read(&path).unwrap();
    data.truncate(188 * 10 + 100);
    std::fs::write(&path, &data).unwrap();
    let out = analyse(&path, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("byte"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Serves `data` once over HTTP without a length and keeps the connection
/// open afterwards, like an endless live stream.
fn serve_live(data: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut req = [0u8; 1024];
        let _ = conn.read(&mut req);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n");
        let _ = conn.write_all(&data);
        // hold the connection open until the client gives up
        let _ = conn.read(&mut req);
    });
    format!("http://{addr}/live.ts")
}

#[test]
fn live_url_is_read_until_the_time_budget() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("analyse-url");
    let path = dir.path("u.ts");
    generate(&path, Video::H264);
    let from_file = analyse_json(&path);
    let url = serve_live(std::fs::read(&path).unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["analyse", &url, "--json", "--seconds", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let from_url: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_url["format"], "ts");
    assert_eq!(from_url["tracks"], from_file["tracks"]);
    assert_eq!(from_url["frames"], from_file["frames"]);
}

#[test]
fn unreachable_url_fails() {
    // bind and drop a listener: nothing listens on that port any more
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["analyse", &format!("http://127.0.0.1:{port}/x.ts")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot fetch"));
}
