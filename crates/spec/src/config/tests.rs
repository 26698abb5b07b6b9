use std::io;
use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::StreamPattern;

/// A loader over an in-memory set of files: (path, text, writable).
fn files(list: &[(&str, &str, bool)]) -> impl FnMut(&Path) -> io::Result<ConfigFile> + use<> {
    let list: Vec<(PathBuf, String, bool)> = list
        .iter()
        .map(|(p, t, w)| (PathBuf::from(p), t.to_string(), *w))
        .collect();
    move |path| {
        list.iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, text, writable)| ConfigFile {
                text: text.clone(),
                writable: *writable,
            })
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
}

const FULL: &str = r#"
[http]
listen = "127.0.0.1:18080"
[srt]
listen = "[::]:9999"

[streams.cam1]
source = "push://10.0.0.0/8"
publishKey = "k3y"

[streams.vod]
source = "/media/a.mp4?loop"
alwaysOn = true
dvrWindowSeconds = 120

[[streams.vod.processes]]
type = "ffmpeg"
args = ["-c:v", "libx264"]

[pushes.out]
stream = "cam1"
target = "rtmp://live.example/app/key"
autoStart = true
retry = { intervalSeconds = 10 }
"#;

#[test]
fn defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.http.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.rtmp.listen.to_string(), "0.0.0.0:1935");
    assert_eq!(c.srt.listen.to_string(), "0.0.0.0:8889");
    assert_eq!(c.grpc.listen.to_string(), "0.0.0.0:4242");
    assert_eq!(Config::parse("[http]\n").unwrap().http, HttpConfig::default());
}

#[test]
fn single_file() {
    let c = Config::parse(FULL).unwrap();
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:18080");
    assert_eq!(c.srt.listen.to_string(), "[::]:9999");
    assert_eq!(c.rtmp, RtmpConfig::default());
    let vod = &c.streams["vod"];
    assert!(vod.always_on);
    assert_eq!((vod.dvr_window_seconds, vod.processes.len()), (120, 1));
    assert_eq!(c.streams["cam1"].publish_key.as_ref().unwrap().expose(), "k3y");
    assert_eq!(c.pushes["out"].stream, StreamPattern::parse("cam1").unwrap());
    assert_eq!(c.pushes["out"].retry.unwrap().interval_seconds, 10);
    // What is written back reads back the same.
    let text = c.to_toml_for(Section::Streams).unwrap();
    assert_eq!(Config::parse(&text).unwrap(), c);
}

#[test]
fn errors_name_file_and_place() {
    let e = Config::parse("[http]\nlisten = \"0.0.0.0:8080\"\nport = 1\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("<config>: ") && e.contains("unknown field `port`") && e.contains("line 3"),
        "{e}"
    );
    let e = Config::parse("[htp]\n").unwrap_err().to_string();
    assert!(e.contains("unknown field `htp`"), "{e}");
    let e = Config::parse("[http]\nlisten = \"nowhere\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2"), "{e}");
    let e = Config::parse("[streams.cam]\nsource = \"srt://:1?latency=x\"\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "<config>: [streams.cam]: source: srt: parameter latency: \"x\" is not milliseconds"
    );
    let e = Config::parse("[streams.cam]\nsource = \"push://\"\nalwayson = true\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `alwayson`"), "{e}");
    let e = Config::parse("[streams.\"a/b\"]\nsource = \"push://\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid character '/' at position 1"), "{e}");
    let e = Config::parse("[streams.\"a+b\"]\nsource = \"push://\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("[streams.a+b]: a name with '+' is a wildcard child"),
        "{e}"
    );
    let e = Config::parse("[pushes.p]\nstream = \"a\"\ntarget = \"ftp://x\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("<config>: [pushes.p]: target: unsupported scheme"),
        "{e}"
    );
    let e = Config::parse("include = { streams = \"s.toml\" }\n").unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::NoLoader {
                section: Section::Streams,
                ..
            }
        ),
        "{e}"
    );
    let e = Config::parse("include = { music = \"m.toml\" }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `music`"), "{e}");
}

#[test]
fn split_config() {
    let main = "include = { streams = \"streams.toml\", srt = \"/etc/ro/srt.toml\" }\n[http]\nlisten = \"0.0.0.0:80\"\n";
    let mut read = files(&[
        ("/etc/trib/main.toml", main, false),
        ("/etc/trib/streams.toml", "[cam1]\nsource = \"push://\"\n", true),
        ("/etc/ro/srt.toml", "listen = \"0.0.0.0:7000\"\n", false),
    ]);
    let mut loaded = Config::load(Path::new("/etc/trib/main.toml"), &mut read).unwrap();
    assert_eq!(loaded.config.srt.listen.to_string(), "0.0.0.0:7000");
    assert_eq!(loaded.config.http.listen.to_string(), "0.0.0.0:80");
    assert!(loaded.config.streams.contains_key("cam1"));
    assert_eq!(
        loaded.path_of(Section::Streams),
        Path::new("/etc/trib/streams.toml")
    );
    assert_eq!(loaded.path_of(Section::Http), Path::new("/etc/trib/main.toml"));
    assert_eq!(loaded.main_path(), Path::new("/etc/trib/main.toml"));
    assert!(loaded.is_writable(Section::Streams));
    assert!(!loaded.is_writable(Section::Srt) && !loaded.is_writable(Section::Http));

    // A stream created through the API is written to streams.toml only.
    loaded
        .config
        .streams
        .insert(StreamName::parse("cam2").unwrap(), StreamSpec::new("srt://:9000"));
    let (path, text) = loaded.write_back(Section::Streams).unwrap();
    assert_eq!(path, Path::new("/etc/trib/streams.toml"));
    assert!(text.contains("[cam2]") && !text.contains("listen"), "{text}");
    // The read-only files are never rendered for writing.
    assert_eq!(
        loaded.write_back(Section::Srt).unwrap_err().to_string(),
        "/etc/ro/srt.toml is read-only; [srt] cannot be written back"
    );
    assert!(matches!(
        loaded.write_back(Section::Http),
        Err(ConfigError::ReadOnly { .. })
    ));

    // The main file's rendering keeps the include table and leaves included sections out.
    let main_text = loaded.config.to_toml_for(Section::Http).unwrap();
    assert!(
        main_text.contains("streams.toml") && !main_text.contains("cam1"),
        "{main_text}"
    );
    // Reloading with the new streams file gives the same configuration.
    let mut read2 = files(&[
        ("/etc/trib/main.toml", &main_text, true),
        ("/etc/trib/streams.toml", &text, true),
        ("/etc/ro/srt.toml", "listen = \"0.0.0.0:7000\"\n", false),
    ]);
    let again = Config::load(Path::new("/etc/trib/main.toml"), &mut read2).unwrap();
    assert_eq!(again.config, loaded.config);
}

#[test]
fn split_errors() {
    let load = |list: &[(&str, &str, bool)]| {
        Config::load(Path::new("/c/main.toml"), files(list))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(load(&[]), "/c/main.toml: cannot read: no such file");
    let e = load(&[("/c/main.toml", "include = { streams = \"s.toml\" }", true)]);
    assert_eq!(e, "/c/s.toml: cannot read: no such file");
    let e = load(&[
        ("/c/main.toml", "include = { streams = \"s.toml\" }", true),
        ("/c/s.toml", "[cam]\nsource = \"bad\"\n", true),
    ]);
    assert!(e.starts_with("/c/s.toml: [streams.cam]: source:"), "{e}");
    let e = load(&[
        ("/c/main.toml", "include = { http = \"h.toml\" }", true),
        ("/c/h.toml", "[http]\nlisten = \"0.0.0.0:1\"\n", true),
    ]);
    assert!(
        e.starts_with("/c/h.toml: ") && e.contains("unknown field `http`"),
        "{e}"
    );
    let e = load(&[("/c/main.toml", "include = { http = \"h.toml\" }\n[http]\n", true)]);
    assert_eq!(
        e,
        "/c/main.toml: [http] is both written here and included from h.toml"
    );
    let e = load(&[(
        "/c/main.toml",
        "include = { http = \"x.toml\", grpc = \"x.toml\" }",
        true,
    )]);
    assert!(e.contains("would hold both [http] and [grpc]"), "{e}");
    let e = load(&[("/c/main.toml", "include = { http = \"main.toml\" }", true)]);
    assert!(e.contains("would hold both [http] and [http]"), "{e}");
}

proptest! {
    #[test]
    fn parse_never_panics(s in any::<String>(), t in "(\\[(http|streams\\.a|pushes\\.p)\\]\n)?[a-zA-Z]{1,8} = \"[a-z:/.0-9]{0,12}\"\n") {
        let _ = Config::parse(&s);
        let _ = Config::parse(&t);
    }

    #[test]
    fn streams_round_trip(
        names in prop::collection::btree_set("[a-z][a-z0-9_.-]{0,10}", 0..5),
        always_on in any::<bool>(),
        dvr in 1u32..=3600,
        key in proptest::option::of("[A-Za-z0-9+/=]{1,20}"),
    ) {
        let mut c = Config::default();
        for n in &names {
            let mut s = StreamSpec::new("push://");
            s.always_on = always_on;
            s.dvr_window_seconds = dvr;
            s.publish_key = key.clone().map(Into::into);
            c.streams.insert(StreamName::parse(n).unwrap(), s);
        }
        let text = c.to_toml_for(Section::Streams).unwrap();
        prop_assert_eq!(Config::parse(&text).unwrap(), c);
    }
}
