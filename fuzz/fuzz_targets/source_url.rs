#![no_main]
//! Source URLs, stream names and patterns, SRT streamids, RTMP publish paths,
//! CIDRs, RFC 3339 times and config files from arbitrary text: never a panic,
//! and whatever parses prints back to a string that parses to the same value.
use libfuzzer_sys::fuzz_target;
use spec::config::{Config, Section};
use spec::source::SOURCE_MAX;
use spec::streamid::{StreamIdRequest, parse_rtmp_publish};
use spec::{Cidr, Source, StreamName, StreamPattern, Time};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s = text.as_ref();

    if let Ok(src) = Source::parse(s) {
        let shown = src.to_string();
        if shown.len() <= SOURCE_MAX {
            assert_eq!(Source::parse(&shown).as_ref(), Ok(&src), "{shown}");
        }
        let _ = src.redacted().to_string();
    }
    if let Ok(name) = StreamName::parse(s) {
        assert_eq!(StreamName::parse(name.as_str()), Ok(name.clone()));
        assert!(StreamName::parse(name.base()).is_ok());
    }
    if let Ok(p) = StreamPattern::parse(s) {
        assert_eq!(StreamPattern::parse(&p.to_string()), Ok(p));
    }
    if let Ok(req) = StreamIdRequest::parse(s) {
        // The key never leaks into Debug output.
        if req.key.is_some() {
            assert_eq!(format!("{:?}", req.key), "Some(<redacted>)");
        }
    }
    let _ = parse_rtmp_publish(s);
    if let Ok(c) = Cidr::parse(s) {
        assert_eq!(Cidr::parse(&c.to_string()), Ok(c));
    }
    if let Ok(t) = Time::parse(s) {
        assert_eq!(Time::parse(&t.to_string()), Ok(t));
    }
    if let Ok(config) = Config::parse(s) {
        let written = config
            .to_toml_for(Section::Streams)
            .expect("a parsed config renders");
        assert_eq!(Config::parse(&written).as_ref(), Ok(&config), "{written}");
    }
});
