//! `tributary ctl` against a standalone server, the API token on both APIs,
//! and `/metrics` as Prometheus reads it.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use testkit::{TempDir, free_tcp_port, have_ffmpeg};

mod support;

use support::{Server, push, request, wait_for};

/// `tributary ctl --server URL [--token T] ARGS...`
fn ctl(server: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tributary"));
    cmd.args(["ctl", "--server", server])
        .env_remove("TRIBUTARY_API_TOKEN")
        .env_remove("TRIBUTARY_SERVER")
        .stdin(Stdio::null());
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    cmd.args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "ctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "ctl should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn ctl_lists_puts_gets_and_deletes_with_the_token() {
    let dir = TempDir::new("ctl");
    let config = dir.path("tributary.toml");
    let server = Server::start_with(&config, &["--api-token", "s3cret"]);
    let url = format!("http://{}", server.grpc);
    let t = Some("s3cret");

    let out = ok(&ctl(
        &url,
        t,
        &["streams", "put", "cam", "--spec", r#"{"source":"push://"}"#],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "cam");
    assert_eq!(v["spec"]["source"], "push://");
    assert_eq!(v["status"]["state"], "waiting");

    let file = dir.path("spec.json");
    std::fs::write(&file, r#"{"source":"srt://:9999","alwaysOn":false}"#).unwrap();
    ok(&ctl(
        &url,
        t,
        &["streams", "put", "cam2", "-f", file.to_str().unwrap()],
    ));

    let out = ok(&ctl(&url, t, &["streams", "list"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<_> = v.as_array().unwrap().iter().map(|s| s["name"].clone()).collect();
    assert_eq!(names, ["cam", "cam2"]);
    let out = ok(&ctl(&url, t, &["-o", "table", "streams", "list"]));
    let lines: Vec<_> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATE"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("cam ") && lines[1].contains("waiting") && lines[1].contains("push://"),
        "{out}"
    );

    let out = ok(&ctl(&url, t, &["streams", "get", "cam2"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spec"]["source"], "srt://:9999");

    let out = ok(&ctl(
        &url,
        t,
        &[
            "pushes",
            "put",
            "rec",
            "--spec",
            r#"{"stream":"cam","target":"/tmp/x.ts"}"#,
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spec"]["target"], "/tmp/x.ts");
    let out = ok(&ctl(&url, t, &["pushes", "list"]));
    assert!(out.contains("\"rec\""), "{out}");
    ok(&ctl(&url, t, &["pushes", "delete", "rec"]));

    let out = ok(&ctl(&url, t, &["nodes", "list"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["role"], "standalone");
    assert!(v[0]["info"]["cpuSeconds"].is_number(), "{v}");
    let out = ok(&ctl(&url, t, &["-o", "table", "sessions", "list"]));
    assert!(out.starts_with("STREAM"), "{out}");

    ok(&ctl(&url, t, &["streams", "delete", "cam2"]));
    let err = failed(&ctl(&url, t, &["streams", "get", "cam2"]));
    assert!(err.contains("no stream named \"cam2\""), "{err}");
    let err = failed(&ctl(
        &url,
        t,
        &["streams", "put", "x", "--spec", r#"{"source":"gopher://x"}"#],
    ));
    assert!(err.contains("invalid") && err.contains("gopher"), "{err}");
    let err = failed(&ctl(&url, t, &["streams", "put", "x", "--spec", "{not json"]));
    assert!(err.contains("not JSON"), "{err}");

    // the token: missing, wrong
    let err = failed(&ctl(&url, None, &["streams", "list"]));
    assert!(
        err.contains("needs an API token") && err.contains("--token"),
        "{err}"
    );
    let err = failed(&ctl(&url, Some("guess"), &["streams", "list"]));
    assert!(err.contains("token") && err.contains("wrong"), "{err}");

    // REST: 401 without the token, media and health open
    let (status, body) = request("GET", &server.url("/api/v1/streams"), None).unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(server.get("/healthz").unwrap().0, 200);
    assert_eq!(server.get("/metrics").unwrap().0, 200);
    assert_eq!(
        server.get("/nope.ts").unwrap().0,
        404,
        "media outputs need no token"
    );
    assert_eq!(server.get("/cmaf/nope/index.m3u8").unwrap().0, 404);
}

#[test]
fn ctl_says_where_it_could_not_connect() {
    let url = format!("http://127.0.0.1:{}", free_tcp_port());
    let err = failed(&ctl(&url, None, &["streams", "list"]));
    assert!(err.contains("cannot reach") && err.contains(&url), "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

/// One sample: family name, labels, value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// Parses the Prometheus / OpenMetrics text format strictly enough to catch
/// a broken exposition: every sample belongs to a declared family (counters
/// as `NAME_total`), labels are `key="value"` pairs, values are numbers, the
/// text ends with `# EOF`.
fn parse_exposition(text: &str) -> Samples {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Samples::new();
    let mut eof = false;
    for line in text.lines() {
        assert!(!eof, "text after # EOF: {line}");
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, value) = (parts.next().unwrap(), parts.next().unwrap(), parts.next());
            match kind {
                "TYPE" => {
                    let t = value.unwrap();
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "summary",
                            "info",
                            "unknown",
                            "stateset",
                            "gaugehistogram"
                        ]
                        .contains(&t),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.to_owned(), t.to_owned()).is_none(),
                        "family twice: {name}"
                    );
                }
                "HELP" | "UNIT" => {}
                _ => panic!("bad comment line: {line}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels: {line}"));
                let mut labels = BTreeMap::new();
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
                    labels.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
                }
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        let counter = name
            .strip_suffix("_total")
            .filter(|f| types.get(*f).is_some_and(|t| t == "counter"));
        let histogram = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"));
        let family = counter.or(histogram).unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample of an undeclared family: {line}"
        );
        assert!(
            samples.insert((name.to_owned(), labels), value).is_none(),
            "sample twice: {line}"
        );
    }
    assert!(eof, "no # EOF");
    samples
}

fn sample(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples.get(&(name.to_owned(), labels)).copied()
}

#[test]
fn metrics_show_a_live_stream_and_its_viewers_by_protocol() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("ctl-metrics");
    let config = dir.path("tributary.toml");
    std::fs::write(&config, "[streams.cam]\nsource = \"push://\"\n").unwrap();
    let server = Server::start(&config);
    let mut ffmpeg = push(&format!("rtmp://{}/live/cam", server.rtmp), "flv", 30);
    wait_for(15, "the stream to be live", || {
        server.stream("cam")["status"]["state"] == "live"
    });

    // a TS viewer, held open while scraping
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent.get(&server.url("/cam.ts")).call().unwrap();
    let mut reader = response.body_mut().as_reader();
    let mut first = [0u8; 188];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(first[0], 0x47, "TS sync byte");

    let cam = [("stream", "cam")];
    // the bitrate needs more than one buffered frame: scrape until it is measured
    let mut text = String::new();
    wait_for(10, "an ingest bitrate in /metrics", || {
        let (status, body) = server.get("/metrics").unwrap();
        assert_eq!(status, 200);
        text = body;
        sample(
            &parse_exposition(&text),
            "tributary_stream_ingest_bits_per_second",
            &cam,
        )
        .is_some_and(|v| v > 1000.0)
    });
    let samples = parse_exposition(&text);
    assert_eq!(
        sample(&samples, "tributary_stream_live", &cam),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&samples, "tributary_streams_live", &[]), Some(1.0));
    assert_eq!(
        sample(
            &samples,
            "tributary_stream_viewers",
            &[("stream", "cam"), ("protocol", "ts")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(sample(&samples, "tributary_stream_frames_total", &cam).is_some_and(|v| v > 0.0));
    assert!(sample(&samples, "tributary_stream_bytes_in_total", &cam).is_some_and(|v| v > 1000.0));
    assert!(
        sample(&samples, "tributary_stream_ingest_bits_per_second", &cam).is_some_and(|v| v > 1000.0),
        "{text}"
    );
    assert!(
        sample(&samples, "process_cpu_seconds_total", &[]).is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert!(sample(&samples, "tributary_node_load", &[]).is_some());

    // the same count through the gRPC API
    let out = ok(&ctl(
        &format!("http://{}", server.grpc),
        None,
        &["sessions", "list"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["stream"], "cam");
    assert_eq!(v[0]["byProtocol"]["ts"], 1, "{v}");

    drop(reader);
    drop(response);
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
}
