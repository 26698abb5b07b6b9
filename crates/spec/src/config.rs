//! The standalone server's TOML configuration ([`Config`]), which may be
//! split into several files by section.
//!
//! ```toml
//! # tributary.toml
//! include = { streams = "streams.toml" }   # optional: sections kept in their own files
//!
//! [http]
//! listen = "0.0.0.0:8080"
//! [rtmp]
//! listen = "0.0.0.0:1935"
//! [srt]
//! listen = "0.0.0.0:8889"
//! [grpc]
//! listen = "0.0.0.0:4242"
//!
//! [pushes.to-platform]
//! stream = "cam1"
//! target = "rtmp://live.example/app/KEY"
//! autoStart = true
//! ```
//!
//! ```toml
//! # streams.toml: the section's content at top level
//! [cam1]
//! source = "push://"
//! publishKey = "k3y"
//! ```
//!
//! **Split config.** The top-level `include` table maps a section name
//! (`http`, `rtmp`, `srt`, `grpc`, `streams`, `pushes`) to a file whose top
//! level *is* that section; relative paths are relative to the main file's
//! directory. A section is either inline or included, not both; one file holds
//! one section; included files cannot include further. Every section is
//! optional and defaults as documented on its fields.
//!
//! **Writing back.** Loading records, for every file, whether the caller found
//! it writable ([`ConfigFile::writable`]). [`LoadedConfig::write_back`] renders
//! the file that holds a section (e.g. after a stream was created through the
//! API) and refuses when that file is read-only. TOML comments are not kept in
//! a rewritten file, so keep hand-written comments out of sections the server
//! writes: put `streams` in its own file.
//!
//! This module does no IO: [`Config::load`] takes a closure that reads files.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{PushSpec, SpecError, StreamName, StreamSpec};

mod load;

pub use load::{ConfigFile, LoadedConfig};

/// The standalone server's configuration, all files merged.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Config {
    /// `[http]`: media outputs, WHIP/WHEP, REST API, web UI, metrics, health.
    pub http: HttpConfig,
    /// `[rtmp]`: RTMP publishing.
    pub rtmp: RtmpConfig,
    /// `[srt]`: the shared SRT port.
    pub srt: SrtConfig,
    /// `[grpc]`: the gRPC control API.
    pub grpc: GrpcConfig,
    /// `[streams.NAME]`: the streams. Names are stream names without `+`
    /// (wildcard children take their base stream's spec).
    pub streams: BTreeMap<StreamName, StreamSpec>,
    /// `[pushes.NAME]`: the pushes. Names follow the stream-name rules, without `+`.
    pub pushes: BTreeMap<StreamName, PushSpec>,
    /// `include`: sections loaded from their own files, paths as written.
    /// Fixed at load time: see [`Config::includes`].
    include: BTreeMap<Section, PathBuf>,
}

/// `[http]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the HTTP server listens on. Default `0.0.0.0:8080`.
    #[serde(default = "HttpConfig::default_listen")]
    pub listen: SocketAddr,
}

/// `[rtmp]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtmpConfig {
    /// Address the RTMP server listens on (TCP). Default `0.0.0.0:1935`.
    #[serde(default = "RtmpConfig::default_listen")]
    pub listen: SocketAddr,
}

/// `[srt]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrtConfig {
    /// Address of the shared SRT port (UDP), where `streamid` selects stream
    /// and direction. Default `0.0.0.0:8889`.
    #[serde(default = "SrtConfig::default_listen")]
    pub listen: SocketAddr,
}

/// `[grpc]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// Address the gRPC control API listens on. Default `0.0.0.0:4242`.
    #[serde(default = "GrpcConfig::default_listen")]
    pub listen: SocketAddr,
}

/// A top-level section of the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// `[http]`
    Http,
    /// `[rtmp]`
    Rtmp,
    /// `[srt]`
    Srt,
    /// `[grpc]`
    Grpc,
    /// `[streams]`
    Streams,
    /// `[pushes]`
    Pushes,
}

/// Why a configuration cannot be loaded or written. Every variant names the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The loader failed.
    #[error("{}: cannot read: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The loader's error.
        message: String,
    },
    /// Not TOML, or not the expected fields (the message has line and column).
    #[error("{}: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The TOML error.
        message: String,
    },
    /// A section is both inline and in `include`.
    #[error("{}: [{section}] is both written here and included from {}", path.display(), include.display())]
    InlineAndIncluded {
        /// The main file.
        path: PathBuf,
        /// The section.
        section: Section,
        /// The include path.
        include: PathBuf,
    },
    /// Two sections include the same file, or a section includes the main file.
    #[error("{}: {} would hold both [{first}] and [{second}]; use one file per section", path.display(), include.display())]
    SharedInclude {
        /// The main file.
        path: PathBuf,
        /// The included file.
        include: PathBuf,
        /// One section.
        first: Section,
        /// The other section (`first` again for the main file itself).
        second: Section,
    },
    /// `include` used where there is no loader ([`Config::parse`]).
    #[error("[{section}] is included from {}, but this configuration was parsed without a file loader", include.display())]
    NoLoader {
        /// The section.
        section: Section,
        /// The include path.
        include: PathBuf,
    },
    /// A stream spec is invalid.
    #[error("{}: [streams.{name}]: {error}", path.display())]
    Stream {
        /// The file holding it.
        path: PathBuf,
        /// The stream.
        name: String,
        /// What is wrong.
        error: SpecError,
    },
    /// A push spec is invalid.
    #[error("{}: [pushes.{name}]: {error}", path.display())]
    Push {
        /// The file holding it.
        path: PathBuf,
        /// The push.
        name: String,
        /// What is wrong.
        error: SpecError,
    },
    /// `[streams."BASE+X"]`: wildcard children have no spec of their own.
    #[error("{}: [{section}.{name}]: a name with '+' is a wildcard child and cannot be configured", path.display())]
    WildcardName {
        /// The file holding it.
        path: PathBuf,
        /// `streams` or `pushes`.
        section: Section,
        /// The name.
        name: String,
    },
    /// The file holding the section is read-only.
    #[error("{} is read-only; [{section}] cannot be written back", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
        /// The section.
        section: Section,
    },
    /// The section cannot be rendered as TOML (e.g. a non-UTF-8 include path).
    #[error("cannot write [{section}] as TOML: {message}")]
    Serialize {
        /// The section.
        section: Section,
        /// The serializer's error.
        message: String,
    },
}

// === impl HttpConfig, RtmpConfig, SrtConfig, GrpcConfig ===

macro_rules! listen_default {
    ($ty:ident, $port:expr) => {
        impl $ty {
            fn default_listen() -> SocketAddr {
                SocketAddr::from(([0, 0, 0, 0], $port))
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self {
                    listen: Self::default_listen(),
                }
            }
        }
    };
}

listen_default!(HttpConfig, 8080);
listen_default!(RtmpConfig, 1935);
listen_default!(SrtConfig, 8889);
listen_default!(GrpcConfig, 4242);

// === impl Section ===

impl Section {
    /// Every section, in file order.
    pub const ALL: [Self; 6] = [
        Self::Http,
        Self::Rtmp,
        Self::Srt,
        Self::Grpc,
        Self::Streams,
        Self::Pushes,
    ];

    /// The section's name in TOML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Rtmp => "rtmp",
            Self::Srt => "srt",
            Self::Grpc => "grpc",
            Self::Streams => "streams",
            Self::Pushes => "pushes",
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
