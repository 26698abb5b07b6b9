//! [`StreamSpec`] (what the user wants) and [`StreamStatus`] (what a node
//! reports), plus [`SpecError`], the error of spec validation.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Condition, Redacted, Source, SourceError, Time};

/// Smallest `dvrWindowSeconds`.
pub const DVR_WINDOW_MIN: u32 = 1;
/// Largest `dvrWindowSeconds`: the buffer lives in memory (an hour of 8 Mbit/s is 3.6 GB).
pub const DVR_WINDOW_MAX: u32 = 3600;
/// Default `dvrWindowSeconds`.
pub const DVR_WINDOW_DEFAULT: u32 = 30;
/// Longest `publishKey`.
pub const PUBLISH_KEY_MAX: usize = 256;
/// Most processes per stream.
pub const PROCESSES_MAX: usize = 16;
/// Most `args`/`command` entries per process.
pub const PROCESS_ARGS_MAX: usize = 256;

/// A stream: where its media comes from and how it is kept and processed.
/// The one type behind the `Stream` CRD's spec, the REST body, the etcd value
/// and the `[streams.NAME]` config tables. Check it with [`StreamSpec::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamSpec {
    /// Where the media comes from, as a source URL after MistServer's conventions:
    /// `push://` (accept pushes; `push://CIDR,...` only from those networks),
    /// `srt://:PORT` (listen), `srt://HOST:PORT` (call), `tsudp://[GROUP]:PORT`,
    /// `tsrtp://[GROUP]:PORT`, `sdp:/path/file.sdp`, `rtmp://HOST/app/stream`,
    /// `http(s)://HOST/path.m3u8` (HLS pull), `rist://HOST:PORT`, or a file path ending
    /// `.ts`, `.flv`, `.mp4`, `.aac` (add `?loop` to loop it).
    pub source: String,
    /// Keep the input running (and retrying, with backoff) even with no viewers.
    /// When false, a pull input tries for about 20 s and starts again when a viewer asks.
    #[serde(default)]
    pub always_on: bool,
    /// The key publishers must present: RTMP `?key=`, the SRT streamid key, or WHIP's
    /// `Authorization: Bearer`. 1 to 256 of `A-Z a-z 0-9 - _ . ~ + / =` (URL-safe and base64).
    /// Used as an SRT passphrase it must also be 10 to 79 characters long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), pattern(r"^[A-Za-z0-9._~+/=-]+$"))]
    pub publish_key: Option<Redacted<String>>,
    /// How many seconds of the live stream are kept for rewinding and slow readers (1 to 3600).
    #[serde(default = "default_dvr_window")]
    #[schemars(range(min = 1, max = 3600))]
    pub dvr_window_seconds: u32,
    /// Live processes run on the stream (transcodes, external programs), at most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub processes: Vec<ProcessSpec>,
}

/// A live process on a stream: reads some of its tracks and adds new ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessSpec {
    /// `ffmpeg` (a transcode: `args` are the encoding options) or `mkv-exec` (any
    /// program: `command` is run with the tracks as Matroska on stdin and its
    /// Matroska stdout read back as new tracks).
    #[serde(rename = "type")]
    pub kind: ProcessKind,
    /// ffmpeg only: options between input and output, e.g. `["-c:v", "libx264", "-b:v", "1M"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// mkv-exec only: the program and its arguments (argv; no shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Which of the stream's tracks the process reads: `all` (default), `video` or `audio`.
    #[serde(default)]
    pub tracks: TrackSelect,
}

/// What runs a [`ProcessSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(transform = crate::schema::string_enum)]
pub enum ProcessKind {
    /// ffmpeg, with `args` as its encoding options.
    Ffmpeg,
    /// Any program speaking Matroska on stdin/stdout, run as `command`.
    MkvExec,
}

/// A choice of input tracks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::schema::string_enum)]
pub enum TrackSelect {
    /// Every track.
    #[default]
    All,
    /// Video tracks only.
    Video,
    /// Audio tracks only.
    Audio,
}

/// What the node holding a stream reports about it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamStatus {
    /// Lifecycle state: `offline`, `waiting`, `booting`, `live` or `error`.
    pub state: StreamState,
    /// Id of the node that holds the stream's live buffer, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The stream's tracks while it is live.
    #[serde(default)]
    pub tracks: Vec<TrackStatus>,
    /// Current viewers over all protocols.
    #[serde(default)]
    pub viewers: u64,
    /// Current viewers per output protocol (e.g. `hls`, `webrtc`, `srt`, `ts`).
    #[serde(default)]
    pub viewers_by_protocol: BTreeMap<String, u64>,
    /// The last error of the input or the stream (kept after recovery until the next error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Where to watch the stream, by output (`hls`, `cmaf`, `ts`, `mp4`, `srt`),
    /// and for push-fed streams where to publish (`rtmpPublish`, `srtPublish`).
    /// Filled by the operator from its configured public addresses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub playback: BTreeMap<String, String>,
    /// When the stream entered `state` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// When this status was last written (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// The `metadata.generation` of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Kubernetes-style conditions, one per type: `Ready` (valid, applied, placed), `Live`, `Assigned`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Lifecycle state of a stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::schema::string_enum)]
pub enum StreamState {
    /// No input and none starting.
    #[default]
    Offline,
    /// Ready for a publisher or a pull to connect.
    Waiting,
    /// Input connected, tracks not all known yet.
    Booting,
    /// Media flowing; viewers can play.
    Live,
    /// The input failed; see `lastError`.
    Error,
}

/// One track of a live stream. Absent fields are unknown or do not apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackStatus {
    /// Track id within the stream.
    pub id: u32,
    /// Codec name, as the media core names it: `h264`, `h265`, `aac`, `opus`, ...
    pub codec: String,
    /// Video width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Video height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Video frames per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Audio sample rate in Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Audio channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    /// Measured bitrate in bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u64>,
}

/// Why a stream or push spec is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// `source` does not parse.
    #[error("source: {0}")]
    Source(#[from] SourceError),
    /// `dvrWindowSeconds` out of bounds.
    #[error("dvrWindowSeconds is {0}; it must be {DVR_WINDOW_MIN} to {DVR_WINDOW_MAX}")]
    DvrWindow(u32),
    /// `publishKey` has a bad length or character (the key itself is never printed).
    #[error("publishKey must be 1 to {PUBLISH_KEY_MAX} of A-Z a-z 0-9 - _ . ~ + / = ({0})")]
    PublishKey(&'static str),
    /// More than [`PROCESSES_MAX`] processes.
    #[error("{0} processes; at most {PROCESSES_MAX}")]
    TooManyProcesses(usize),
    /// A process is inconsistent.
    #[error("processes[{index}]: {reason}")]
    Process {
        /// Index in `processes`.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A push spec field is invalid.
    #[error("{field}: {reason}")]
    Push {
        /// The field (`target`, `audioOverride`, `retry.intervalSeconds`).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn default_dvr_window() -> u32 {
    DVR_WINDOW_DEFAULT
}

// === impl StreamSpec ===

impl StreamSpec {
    /// A spec with this source and every other field at its default.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            always_on: false,
            publish_key: None,
            dvr_window_seconds: DVR_WINDOW_DEFAULT,
            processes: Vec::new(),
        }
    }

    /// Parses `source`.
    pub fn parsed_source(&self) -> Result<Source, SourceError> {
        Source::parse(&self.source)
    }

    /// Checks every field and returns the parsed source. Call this on every
    /// spec that enters the system (API body, CR, config file).
    pub fn validate(&self) -> Result<Source, SpecError> {
        let source = self.parsed_source()?;
        if !(DVR_WINDOW_MIN..=DVR_WINDOW_MAX).contains(&self.dvr_window_seconds) {
            return Err(SpecError::DvrWindow(self.dvr_window_seconds));
        }
        if let Some(key) = &self.publish_key {
            check_key(key.expose())?;
        }
        if self.processes.len() > PROCESSES_MAX {
            return Err(SpecError::TooManyProcesses(self.processes.len()));
        }
        for (index, p) in self.processes.iter().enumerate() {
            p.validate()
                .map_err(|reason| SpecError::Process { index, reason })?;
        }
        Ok(source)
    }
}

fn check_key(key: &str) -> Result<(), SpecError> {
    if key.is_empty() {
        return Err(SpecError::PublishKey("it is empty"));
    }
    if key.len() > PUBLISH_KEY_MAX {
        return Err(SpecError::PublishKey("it is too long"));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.~+/=".contains(c);
    if !key.chars().all(ok) {
        return Err(SpecError::PublishKey("it has another character"));
    }
    Ok(())
}

// === impl ProcessSpec ===

impl ProcessSpec {
    fn validate(&self) -> Result<(), &'static str> {
        match self.kind {
            ProcessKind::Ffmpeg if !self.command.is_empty() => {
                Err("an ffmpeg process takes args, not command")
            }
            ProcessKind::MkvExec if self.command.is_empty() => Err("an mkv-exec process needs a command"),
            ProcessKind::MkvExec if !self.args.is_empty() => {
                Err("an mkv-exec process takes command, not args")
            }
            _ if self.args.len() + self.command.len() > PROCESS_ARGS_MAX => Err("more than 256 arguments"),
            _ if self.args.iter().chain(&self.command).any(|a| a.contains('\0')) => {
                Err("an argument contains a NUL character")
            }
            _ if self.command.first().is_some_and(String::is_empty) => Err("the program name is empty"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_from_minimal_json() {
        let s: StreamSpec = serde_json::from_str(r#"{"source":"push://"}"#).unwrap();
        assert_eq!(s, StreamSpec::new("push://"));
        assert_eq!(s.dvr_window_seconds, 30);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"source":"push://","alwaysOn":false,"dvrWindowSeconds":30}"#
        );
        s.validate().unwrap();
    }

    #[test]
    fn full_json_round_trip() {
        let json = r#"{"source":"srt://:9000?latency=200","alwaysOn":true,"publishKey":"k3y",
            "dvrWindowSeconds":60,"processes":[{"type":"ffmpeg","args":["-c:v","libx264"],"tracks":"video"},
            {"type":"mkv-exec","command":["/bin/cat"]}]}"#;
        let s: StreamSpec = serde_json::from_str(json).unwrap();
        assert_eq!(s.processes[1].kind, ProcessKind::MkvExec);
        assert_eq!(s.processes[0].tracks, TrackSelect::Video);
        assert_eq!(s.publish_key.as_ref().unwrap().expose(), "k3y");
        assert!(!format!("{s:?}").contains("k3y"));
        let back: StreamSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        s.validate().unwrap();
    }

    #[test]
    fn unknown_fields_rejected() {
        let e = serde_json::from_str::<StreamSpec>(r#"{"source":"push://","alwayson":true}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `alwayson`"), "{e}");
        let e = serde_json::from_str::<StreamSpec>(
            r#"{"source":"push://","processes":[{"type":"ffmpeg","x":1}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `x`"), "{e}");
        assert!(
            serde_json::from_str::<StreamSpec>(r#"{"source":"push://","processes":[{"type":"gst"}]}"#)
                .is_err()
        );
    }

    #[test]
    fn validation() {
        let mut s = StreamSpec::new("push://");
        s.dvr_window_seconds = 0;
        assert_eq!(s.validate().unwrap_err(), SpecError::DvrWindow(0));
        s.dvr_window_seconds = 3601;
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "dvrWindowSeconds is 3601; it must be 1 to 3600"
        );
        s.dvr_window_seconds = 3600;
        s.publish_key = Some("bad key".into());
        let e = s.validate().unwrap_err().to_string();
        assert!(e.starts_with("publishKey") && !e.contains("bad key"), "{e}");
        s.publish_key = Some("".into());
        assert!(s.validate().is_err());
        s.publish_key = Some("aGVsbG8+/w==".into());
        s.validate().unwrap();
        s.source = "nope://x".into();
        assert!(matches!(s.validate(), Err(SpecError::Source(_))));
    }

    #[test]
    fn process_validation() {
        let p = |kind, args: &[&str], command: &[&str]| ProcessSpec {
            kind,
            args: args.iter().map(|s| s.to_string()).collect(),
            command: command.iter().map(|s| s.to_string()).collect(),
            tracks: TrackSelect::All,
        };
        let mut s = StreamSpec::new("push://");
        s.processes = vec![p(ProcessKind::Ffmpeg, &["-c:v", "libx264"], &[])];
        s.validate().unwrap();
        for (bad, msg) in [
            (p(ProcessKind::Ffmpeg, &[], &["x"]), "takes args"),
            (p(ProcessKind::MkvExec, &[], &[]), "needs a command"),
            (p(ProcessKind::MkvExec, &["a"], &["x"]), "takes command"),
            (p(ProcessKind::MkvExec, &[], &[""]), "program name"),
            (p(ProcessKind::Ffmpeg, &["a\0"], &[]), "NUL"),
        ] {
            s.processes = vec![p(ProcessKind::Ffmpeg, &[], &[]), bad];
            let e = s.validate().unwrap_err().to_string();
            assert!(e.starts_with("processes[1]: ") && e.contains(msg), "{e}");
        }
        s.processes = vec![p(ProcessKind::Ffmpeg, &[], &[]); 17];
        assert_eq!(s.validate().unwrap_err(), SpecError::TooManyProcesses(17));
    }

    #[test]
    fn status_json() {
        let mut st = StreamStatus {
            state: StreamState::Live,
            viewers: 3,
            ..Default::default()
        };
        st.viewers_by_protocol.insert("hls".into(), 3);
        st.tracks.push(TrackStatus {
            id: 1,
            codec: "h264".into(),
            width: Some(1280),
            height: Some(720),
            fps: Some(25.0),
            bitrate: Some(2_000_000),
            ..Default::default()
        });
        st.since = Some(Time::from_unix_millis(0));
        let json = serde_json::to_string(&st).unwrap();
        assert_eq!(
            json,
            r#"{"state":"live","tracks":[{"id":1,"codec":"h264","width":1280,"height":720,"fps":25.0,"bitrate":2000000}],"viewers":3,"viewersByProtocol":{"hls":3},"since":"1970-01-01T00:00:00Z","conditions":[]}"#
        );
        assert_eq!(serde_json::from_str::<StreamStatus>(&json).unwrap(), st);
        let s: StreamStatus = serde_json::from_str(r#"{"state":"offline"}"#).unwrap();
        assert_eq!(s, StreamStatus::default());
    }

    #[test]
    fn schema_has_docs_and_bounds() {
        let schema = serde_json::to_value(schemars::schema_for!(StreamSpec)).unwrap();
        let props = &schema["properties"];
        assert_eq!(props["dvrWindowSeconds"]["maximum"], 3600);
        assert_eq!(props["dvrWindowSeconds"]["default"], 30);
        assert!(
            props["alwaysOn"]["description"]
                .as_str()
                .unwrap()
                .contains("retrying")
        );
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], serde_json::json!(["source"]));
        let status = serde_json::to_value(schemars::schema_for!(StreamStatus)).unwrap();
        let state = &status["$defs"]["StreamState"];
        assert_eq!(
            state["enum"],
            serde_json::json!(["offline", "waiting", "booting", "live", "error"])
        );
        assert_eq!(state["type"], "string");
        assert!(
            state["description"]
                .as_str()
                .unwrap()
                .contains("`live`: Media flowing")
        );
        assert!(state.get("oneOf").is_none());
        assert_eq!(
            status["properties"]["conditions"]["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"])
        );
    }
}
