//! The cluster on loopback: a real etcd, ingest and edge processes, ffmpeg
//! pushing over SRT and reading from the edges.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::cluster::{Killed, Node, TTL};
use support::{play, request, wait_for};
use testkit::have_ffmpeg;

/// ffmpeg pushing live H.264+AAC over SRT to `node` as stream `name` for `secs`.
fn push_srt(node: &Node, name: &str, secs: u32) -> Killed {
    let url = format!("srt://{}?streamid=publish:{name}&pkt_size=1316", node.srt);
    Killed(support::push(&url, "mpegts", secs))
}

fn define(node: &Node, name: &str) {
    let (status, body) = request(
        "PUT",
        &node.url(&format!("/api/v1/streams/{name}")),
        Some(r#"{"source": "push://"}"#),
    )
    .expect("node answers");
    assert_eq!(status, 200, "{body}");
}

fn wait_live_on(node: &Node, name: &str) {
    wait_for(20, &format!("{name} live on {}", node.id), || {
        node.stream(name)["status"]["state"] == "live"
    });
}

/// An ffmpeg reader: the URL it reads and its outcome (see [`play`]).
type Player = (String, std::thread::JoinHandle<(bool, String, f64)>);

/// Lets the processes under test run for `secs`.
#[expect(
    clippy::disallowed_methods,
    reason = "a synchronous test thread waiting for child processes"
)]
fn pause(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn assert_plays(players: Vec<Player>) {
    for (url, player) in players {
        let (ok, errors, decoded) = player.join().unwrap();
        println!("{url}: decoded {decoded:.2} s");
        assert!(ok, "ffmpeg failed on {url}: {errors}");
        assert!(
            errors.trim().is_empty(),
            "ffmpeg reported errors on {url}:\n{errors}"
        );
        assert!(decoded >= 9.5, "{url}: only {decoded} s decoded");
    }
}

/// The complete segments of a media playlist by MSN: each the tag lines
/// before its URI and the URI (what two edges must agree on).
fn segments(playlist: &str) -> std::collections::BTreeMap<u64, Vec<String>> {
    let mut msn: u64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a media sequence");
    let mut out = std::collections::BTreeMap::new();
    let mut group = Vec::new();
    let mut started = false;
    for line in playlist.lines() {
        started |= line.starts_with("#EXTINF")
            || line.starts_with("#EXT-X-PART:")
            || line.starts_with("#EXT-X-PROGRAM-DATE-TIME");
        if !started || line.starts_with("#EXT-X-PRELOAD-HINT") || line.starts_with("#EXT-X-RENDITION-REPORT")
        {
            continue;
        }
        group.push(line.to_owned());
        if !line.starts_with('#') {
            out.insert(msn, std::mem::take(&mut group));
            msn += 1;
        }
    }
    out
}

/// The value of `key` (under the default prefix) in etcd, through its JSON gateway.
fn etcd_get(etcd: &testkit::etcd::Etcd, key: &str) -> Option<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = serde_json::json!({ "key": b64.encode(format!("/tributary/{key}")) }).to_string();
    let mut r = ureq::post(&format!("{}/v3/kv/range", etcd.url()))
        .header("content-type", "application/json")
        .send(body.as_str())
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
    let value = v["kvs"][0]["value"].as_str()?;
    String::from_utf8(b64.decode(value).ok()?).ok()
}

#[test]
fn one_ingest_two_edges_serve_the_same_stream_alike() {
    if !have_ffmpeg() {
        return;
    }
    let Some(etcd) = testkit::etcd::Etcd::start("two-edges") else {
        return;
    };
    let ingest = Node::ingest("ingest-a", &etcd.url());
    let edges = [
        Node::edge("edge-1", &etcd.url()),
        Node::edge("edge-2", &etcd.url()),
    ];
    define(&edges[0], "cam");
    wait_for(10, "the spec to reach the ingest", || {
        ingest.get("/api/v1/streams/cam").is_some_and(|(s, _)| s == 200)
    });
    let pusher = push_srt(&ingest, "cam", 60);
    wait_live_on(&ingest, "cam");

    // every edge: HLS and TS, two viewers each, all at once
    let mut players = Vec::new();
    for edge in &edges {
        for path in [
            "/hls/cam/index.m3u8",
            "/cam.ts",
            "/cam.ts",
            "/cmaf/cam/index.m3u8",
        ] {
            let url = edge.url(path);
            players.push((url.clone(), play(url, 10)));
        }
    }
    pause(5);
    for edge in &edges {
        let subs = edge
            .metric("tributary_relay_upstream_subscriptions")
            .unwrap_or(-1.0);
        assert_eq!(
            subs, 1.0,
            "{} holds one upstream subscription for four viewers",
            edge.id
        );
    }
    assert_plays(players);

    // the playlists agree: same numbers, names, durations and dates
    for format in ["cmaf", "hls"] {
        let path = format!("/{format}/cam/index.m3u8");
        let (_, first) = edges[0].get(&path).unwrap();
        let next = segments(&first).keys().last().copied().expect("segments") + 2;
        let reload = format!("{path}?_HLS_msn={next}");
        let a = edges[0].get(&reload).unwrap();
        let b = edges[1].get(&reload).unwrap();
        assert_eq!((a.0, b.0), (200, 200), "{format}: {a:?} {b:?}");
        let (sa, sb) = (segments(&a.1), segments(&b.1));
        let shared: Vec<u64> = sa.keys().filter(|m| sb.contains_key(m)).copied().collect();
        assert!(
            shared.len() >= 4,
            "{format}: the edges share few segments:\n{}\n{}",
            a.1,
            b.1
        );
        assert_eq!(
            sa.keys().last(),
            sb.keys().last(),
            "{format}: same newest segment"
        );
        for msn in shared {
            assert_eq!(
                sa[&msn], sb[&msn],
                "{format}: segment {msn} differs:\n{}\n{}",
                a.1, b.1
            );
        }
    }
    // the same part is byte-identical on both edges
    let (_, playlist) = edges[0].get("/cmaf/cam/index.m3u8").unwrap();
    let part = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .filter_map(|l| l.split("URI=\"").nth(1))
        .filter_map(|u| u.split('"').next())
        .next_back()
        .expect("a part")
        .to_owned();
    let bytes = |edge: &Node| {
        let mut r = ureq::get(&edge.url(&format!("/cmaf/cam/{part}"))).call().unwrap();
        r.body_mut().read_to_vec().unwrap()
    };
    assert_eq!(bytes(&edges[0]), bytes(&edges[1]), "part {part}");

    // the control API of any node lists every node with its load
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args([
            "ctl",
            "--server",
            &format!("http://{}", edges[1].grpc),
            "nodes",
            "list",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = nodes.as_array().expect("a list of nodes");
    let ids: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    assert_eq!(ids.len(), 3, "{nodes:?}");
    for id in ["ingest-a", "edge-1", "edge-2"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let ingest_entry = nodes.iter().find(|n| n["id"] == "ingest-a").unwrap();
    assert_eq!(ingest_entry["info"]["load"]["streams"], 1, "{ingest_entry}");
    assert!(ingest_entry["info"]["relay"].is_string(), "{ingest_entry}");
    drop(pusher);
}

#[test]
fn failover_to_a_second_ingest_and_an_etcd_restart_keep_the_edges_serving() {
    if !have_ffmpeg() {
        return;
    }
    let Some(mut etcd) = testkit::etcd::Etcd::start("failover") else {
        return;
    };
    let mut first = Node::ingest("ingest-a", &etcd.url());
    let second = Node::ingest("ingest-b", &etcd.url());
    let edge = Node::edge("edge-1", &etcd.url());
    define(&edge, "cam");
    wait_for(10, "the spec to reach both ingests", || {
        [&first, &second]
            .iter()
            .all(|n| n.get("/api/v1/streams/cam").is_some_and(|(s, _)| s == 200))
    });

    // etcd restarts while a viewer plays: playback goes on, nodes re-register
    let pusher = push_srt(&first, "cam", 120);
    wait_live_on(&first, "cam");
    let viewer = play(edge.url("/cam.ts"), 12);
    pause(3);
    etcd.restart();
    assert_plays(vec![(edge.url("/cam.ts"), viewer)]);
    for node in [&first, &second, &edge] {
        wait_for(15, &format!("{} ready after the etcd restart", node.id), || {
            node.get("/readyz").is_some_and(|(s, _)| s == 200)
        });
    }

    // the owning ingest dies: its ownership goes with its lease, and the
    // publisher's new push makes the second ingest the owner
    let hls = edge.url("/hls/cam/index.m3u8");
    assert_eq!(request("GET", &hls, None).map(|r| r.0), Some(200));
    assert_eq!(etcd_get(&etcd, "streams/cam/owner").as_deref(), Some("ingest-a"));
    first.kill();
    let killed = Instant::now();
    drop(pusher);
    let pusher = push_srt(&second, "cam", 60);
    wait_for(TTL + 10, "ingest-b to own the stream", || {
        etcd_get(&etcd, "streams/cam/owner").as_deref() == Some("ingest-b")
    });
    println!(
        "owner moved {:?} after the kill (lease TTL {TTL} s)",
        killed.elapsed()
    );
    assert!(killed.elapsed() < Duration::from_secs(TTL + 5));
    // the TS viewer goes on from the new ingest; the HLS playlist marks the
    // change with a discontinuity and carries on numbering
    let ts_viewer = play(edge.url("/cam.ts"), 10);
    wait_for(30, "three segments after the discontinuity", || {
        let Some((200, playlist)) = request("GET", &hls, None) else {
            return false;
        };
        playlist
            .split("#EXT-X-DISCONTINUITY\n")
            .nth(1)
            .is_some_and(|after| after.matches("#EXTINF").count() >= 3)
    });
    let viewers = vec![
        (edge.url("/cam.ts"), ts_viewer),
        (hls.clone(), play(hls.clone(), 10)),
    ];
    assert_plays(viewers);
    drop(pusher);
}

#[test]
fn an_edge_without_a_reachable_ingest_answers_503() {
    let Some(etcd) = testkit::etcd::Etcd::start("no-ingest") else {
        return;
    };
    let edge = Node::edge("edge-1", &etcd.url());
    define(&edge, "cam");
    for path in ["/cam.ts", "/hls/cam/index.m3u8", "/cmaf/cam/index.m3u8"] {
        let started = Instant::now();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .into();
        let answer = agent
            .get(&edge.url(path))
            .call()
            .map(|r| (r.status().as_u16(), ()))
            .expect("an answer, not a hang");
        assert_eq!(answer.0, 503, "{path}: {answer:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{path} answered in {:?}",
            started.elapsed()
        );
    }
    assert_eq!(edge.get("/nope.ts").map(|r| r.0), Some(404));
}
