//! Pushes in `tributary standalone`: a recording created through the REST
//! API follows an RTMP publisher, reports its progress, writes a file
//! ffprobe reads, and survives a restart; bad specs are refused.

use std::time::Duration;

use testkit::{TempDir, have_ffmpeg};

mod support;

use support::{Server, push, wait_for};

/// (status, body) of a request with any method, JSON body optional.
fn call(server: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = server.url(path);
    let response = match (method, body) {
        ("PUT", Some(b)) => agent.put(&url).header("content-type", "application/json").send(b),
        ("POST", _) => agent.post(&url).send_empty(),
        ("DELETE", _) => agent.delete(&url).call(),
        _ => agent.get(&url).call(),
    };
    let mut response = response.expect("server answers");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap_or_default())
}

fn push_view(server: &Server, name: &str) -> serde_json::Value {
    let (status, body) = call(server, "GET", &format!("/api/v1/pushes/{name}"), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn recording_push_created_through_the_api() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("pushes-rec");
    let config = dir.path("tributary.toml");
    std::fs::write(&config, "[streams.cam]\nsource = \"push://\"\n").unwrap();
    let recording = dir.path("rec/cam.ts");
    let target = dir.path("rec/$stream.ts");
    let server = Server::start(&config);

    for (body, reason) in [
        (r#"{"stream":"cam","target":"/tmp/x.mp4"}"#, ".ts"),
        (r#"{"stream":"cam","target":"relative.ts"}"#, "absolute"),
        (r#"{"stream":"cam","target":"ftp://h/x"}"#, "ftp"),
        (
            r#"{"stream":"cam","target":"/x.ts","autostart":true}"#,
            "autostart",
        ),
        (
            r#"{"stream":"cam","target":"/x.ts","retry":{"intervalSeconds":0}}"#,
            "intervalSeconds",
        ),
        (r#"{"stream":"","target":"/x.ts"}"#, "stream"),
    ] {
        let (status, answer) = call(&server, "PUT", "/api/v1/pushes/rec", Some(body));
        assert_eq!(status, 400, "{body}: {answer}");
        let error: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(
            error["error"].as_str().is_some_and(|e| e.contains(reason)),
            "{body}: {answer}"
        );
    }
    let (status, answer) = call(&server, "GET", "/api/v1/pushes/rec", None);
    assert_eq!(status, 404, "{answer}");

    let spec = serde_json::json!({
        "stream": "cam",
        "target": target.to_str().unwrap(),
        "autoStart": true,
        "retry": {"intervalSeconds": 1},
    });
    let (status, answer) = call(&server, "PUT", "/api/v1/pushes/rec", Some(&spec.to_string()));
    assert_eq!(status, 200, "{answer}");
    let view: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(view["status"]["state"], "waiting", "{view}");

    let mut ffmpeg = push(&format!("rtmp://{}/live/cam", server.rtmp), "flv", 30);
    wait_for(15, "the recording to be pushing with bytes", || {
        let v = push_view(&server, "rec");
        v["status"]["state"] == "pushing" && v["status"]["bytes"].as_u64().is_some_and(|b| b > 300_000)
    });
    let view = push_view(&server, "rec");
    assert_eq!(view["status"]["node"], "standalone", "{view}");
    assert_eq!(view["streams"]["cam"]["state"], "pushing", "{view}");
    let (status, list) = call(&server, "GET", "/api/v1/pushes", None);
    assert_eq!(status, 200);
    assert!(list.contains("\"rec\""), "{list}");

    // the publisher leaves: the recording ends and the push waits again
    ffmpeg.kill().unwrap();
    let _ = ffmpeg.wait();
    wait_for(10, "the push to wait again", || {
        push_view(&server, "rec")["status"]["state"] == "waiting"
    });
    let streams = testkit::ffprobe_streams(&recording);
    let video = streams
        .iter()
        .find(|s| s["codec_name"] == "h264")
        .expect("ffprobe sees h264 in the recording");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert!(
        streams.iter().any(|s| s["codec_name"] == "aac"),
        "ffprobe sees aac in the recording"
    );
    let packets = testkit::ffprobe_packets(&recording);
    assert!(packets.len() > 50, "{} packets recorded", packets.len());

    // a manual stop and start answer with the push
    let (status, answer) = call(&server, "POST", "/api/v1/pushes/rec/stop", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(push_view(&server, "rec")["status"]["state"], "stopped");
    let (status, answer) = call(&server, "POST", "/api/v1/pushes/rec/start", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(push_view(&server, "rec")["status"]["state"], "waiting");
    drop(server);

    // the push was saved to the configuration file
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("[pushes.rec]"), "{written}");
    let server = Server::start(&config);
    assert_eq!(
        push_view(&server, "rec")["spec"]["target"],
        target.to_str().unwrap()
    );
    let (status, _) = call(&server, "DELETE", "/api/v1/pushes/rec", None);
    assert_eq!(status, 204);
    let (status, _) = call(&server, "GET", "/api/v1/pushes/rec", None);
    assert_eq!(status, 404);
    assert!(!std::fs::read_to_string(&config).unwrap().contains("pushes.rec"));
}

/// An automatic SRT push created through the API follows an RTMP publisher
/// to `srt-live-transmit` listening, and a failing target reports its error
/// and retries per its policy.
#[test]
fn srt_push_created_through_the_api_reaches_srt_live_transmit() {
    if !have_ffmpeg() || !testkit::have("srt-live-transmit") {
        return;
    }
    let dir = TempDir::new("pushes-srt");
    let config = dir.path("tributary.toml");
    std::fs::write(&config, "[streams.cam]\nsource = \"push://\"\n").unwrap();
    let server = Server::start(&config);
    let port = testkit::free_udp_port();
    let received = dir.path("received.ts");
    let receiver = std::process::Command::new("srt-live-transmit")
        .args([
            "-q",
            &format!("srt://:{port}?mode=listener&latency=200"),
            "file://con",
        ])
        .stdout(std::fs::File::create(&received).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let receiver = KillOnDrop(receiver);
    let spec = serde_json::json!({
        "stream": "cam",
        "target": format!("srt://127.0.0.1:{port}?latency=200"),
        "autoStart": true,
        "retry": {"intervalSeconds": 1},
    });
    let (status, answer) = call(&server, "PUT", "/api/v1/pushes/out", Some(&spec.to_string()));
    assert_eq!(status, 200, "{answer}");
    // a second push to a port nobody listens on fails and retries
    let dead = serde_json::json!({
        "stream": "cam",
        "target": format!("srt://127.0.0.1:{}?latency=200", testkit::free_udp_port()),
        "autoStart": true,
        "retry": {"intervalSeconds": 1},
    });
    let (status, answer) = call(&server, "PUT", "/api/v1/pushes/dead", Some(&dead.to_string()));
    assert_eq!(status, 200, "{answer}");

    let mut ffmpeg = push(&format!("rtmp://{}/live/cam", server.rtmp), "flv", 30);
    wait_for(20, "the srt push to be pushing with bytes", || {
        let v = push_view(&server, "out");
        v["status"]["state"] == "pushing" && v["status"]["bytes"].as_u64().is_some_and(|b| b > 200_000)
    });
    wait_for(20, "the dead push to report an error and retry", || {
        let v = push_view(&server, "dead");
        v["status"]["state"] == "retrying" && v["status"]["lastError"].as_str().is_some_and(|e| !e.is_empty())
    });
    ffmpeg.kill().unwrap();
    let _ = ffmpeg.wait();
    wait_for(15, "the push to wait again", || {
        push_view(&server, "out")["status"]["state"] == "waiting"
    });
    drop(receiver);
    let streams = testkit::ffprobe_streams(&received);
    let codecs: Vec<&str> = streams.iter().filter_map(|s| s["codec_name"].as_str()).collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "ffprobe of what srt-live-transmit received: {codecs:?}"
    );
}

/// A child process killed on drop.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
