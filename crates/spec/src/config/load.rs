//! Loading a (possibly split) configuration and rendering it back to TOML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, GrpcConfig, HttpConfig, RtmpConfig, Section, SrtConfig};
use crate::{PushSpec, StreamName, StreamSpec};

/// What the caller's loader returns for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    /// The file's contents.
    pub text: String,
    /// Whether the server may rewrite this file (the caller checks permissions,
    /// a read-only mount, or its own policy).
    pub writable: bool,
}

/// A configuration with the files it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedConfig {
    /// The merged configuration.
    pub config: Config,
    main: PathBuf,
    main_writable: bool,
    /// Included sections: resolved path and writability.
    included: BTreeMap<Section, (PathBuf, bool)>,
}

/// The main file as written: every section optional.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MainFile {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    include: BTreeMap<Section, PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<HttpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rtmp: Option<RtmpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    srt: Option<SrtConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grpc: Option<GrpcConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    streams: Option<BTreeMap<StreamName, StreamSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pushes: Option<BTreeMap<StreamName, PushSpec>>,
}

// === impl Config ===

impl Config {
    /// Parses a single-file configuration (an `include` is an error) and validates it.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let main = ConfigFile {
            text: text.to_owned(),
            writable: false,
        };
        let mut no_loader = |section, include: &Path, _: &Path| {
            Err(ConfigError::NoLoader {
                section,
                include: include.to_owned(),
            })
        };
        build(Path::new("<config>"), main, &mut no_loader).map(|l| l.config)
    }

    /// Loads the configuration at `main` and every file it includes through
    /// `read`, and validates every stream and push spec.
    pub fn load<F>(main: &Path, mut read: F) -> Result<LoadedConfig, ConfigError>
    where
        F: FnMut(&Path) -> std::io::Result<ConfigFile>,
    {
        let mut read_file = |path: &Path| {
            read(path).map_err(|e| ConfigError::Read {
                path: path.to_owned(),
                message: e.to_string(),
            })
        };
        let main_file = read_file(main)?;
        build(main, main_file, &mut |_, _, resolved| read_file(resolved))
    }

    /// The `include` table: section to path as written in the main file.
    pub fn includes(&self) -> &BTreeMap<Section, PathBuf> {
        &self.include
    }

    /// The TOML text of the file that holds `section`: the section alone if it is
    /// included from its own file, otherwise the main file (its inline sections
    /// and the `include` table). Defaults are written out explicitly.
    pub fn to_toml_for(&self, section: Section) -> Result<String, ConfigError> {
        let ser = |r: Result<String, toml::ser::Error>| {
            r.map_err(|e| ConfigError::Serialize {
                section,
                message: e.to_string(),
            })
        };
        if self.include.contains_key(&section) {
            return ser(match section {
                Section::Http => toml::to_string(&self.http),
                Section::Rtmp => toml::to_string(&self.rtmp),
                Section::Srt => toml::to_string(&self.srt),
                Section::Grpc => toml::to_string(&self.grpc),
                Section::Streams => toml::to_string(&self.streams),
                Section::Pushes => toml::to_string(&self.pushes),
            });
        }
        let inline = |s: Section| !self.include.contains_key(&s);
        let main = MainFile {
            include: self.include.clone(),
            http: inline(Section::Http).then(|| self.http.clone()),
            rtmp: inline(Section::Rtmp).then(|| self.rtmp.clone()),
            srt: inline(Section::Srt).then(|| self.srt.clone()),
            grpc: inline(Section::Grpc).then(|| self.grpc.clone()),
            streams: inline(Section::Streams).then(|| self.streams.clone()),
            pushes: inline(Section::Pushes).then(|| self.pushes.clone()),
        };
        ser(toml::to_string(&main))
    }
}

type Reader<'a> = dyn FnMut(Section, &Path, &Path) -> Result<ConfigFile, ConfigError> + 'a;

fn toml_error(path: &Path) -> impl Fn(toml::de::Error) -> ConfigError + '_ {
    move |e| ConfigError::Toml {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    }
}

fn parse_as<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(toml_error(path))
}

fn build(main: &Path, main_file: ConfigFile, read: &mut Reader<'_>) -> Result<LoadedConfig, ConfigError> {
    let mut raw: MainFile = parse_as(main, &main_file.text)?;
    let base = main.parent().unwrap_or(Path::new(""));
    let includes = std::mem::take(&mut raw.include);
    // Check the whole include table before reading anything.
    let mut resolved: Vec<(Section, &Path, PathBuf)> = Vec::new();
    for (&section, include) in &includes {
        if raw.has(section) {
            let (path, include) = (main.to_owned(), include.clone());
            return Err(ConfigError::InlineAndIncluded {
                path,
                section,
                include,
            });
        }
        let full = base.join(include);
        let shared = resolved.iter().find(|(_, _, p)| *p == full).map(|(s, _, _)| *s);
        if let Some(first) = shared.or((full == main).then_some(section)) {
            let (path, include) = (main.to_owned(), full);
            return Err(ConfigError::SharedInclude {
                path,
                include,
                first,
                second: section,
            });
        }
        resolved.push((section, include, full));
    }
    let mut included = BTreeMap::new();
    for (section, include, full) in resolved {
        let file = read(section, include, &full)?;
        raw.fill(section, &full, &file.text)?;
        included.insert(section, (full, file.writable));
    }
    let config = Config {
        http: raw.http.unwrap_or_default(),
        rtmp: raw.rtmp.unwrap_or_default(),
        srt: raw.srt.unwrap_or_default(),
        grpc: raw.grpc.unwrap_or_default(),
        streams: raw.streams.unwrap_or_default(),
        pushes: raw.pushes.unwrap_or_default(),
        include: includes,
    };
    let loaded = LoadedConfig {
        config,
        main: main.to_owned(),
        main_writable: main_file.writable,
        included,
    };
    loaded.validate()?;
    Ok(loaded)
}

// === impl MainFile ===

impl MainFile {
    fn has(&self, section: Section) -> bool {
        match section {
            Section::Http => self.http.is_some(),
            Section::Rtmp => self.rtmp.is_some(),
            Section::Srt => self.srt.is_some(),
            Section::Grpc => self.grpc.is_some(),
            Section::Streams => self.streams.is_some(),
            Section::Pushes => self.pushes.is_some(),
        }
    }

    fn fill(&mut self, section: Section, path: &Path, text: &str) -> Result<(), ConfigError> {
        match section {
            Section::Http => self.http = Some(parse_as(path, text)?),
            Section::Rtmp => self.rtmp = Some(parse_as(path, text)?),
            Section::Srt => self.srt = Some(parse_as(path, text)?),
            Section::Grpc => self.grpc = Some(parse_as(path, text)?),
            Section::Streams => self.streams = Some(parse_as(path, text)?),
            Section::Pushes => self.pushes = Some(parse_as(path, text)?),
        }
        Ok(())
    }
}

// === impl LoadedConfig ===

impl LoadedConfig {
    /// The main configuration file.
    pub fn main_path(&self) -> &Path {
        &self.main
    }

    /// The file `section` was loaded from (the main file unless included).
    pub fn path_of(&self, section: Section) -> &Path {
        self.included.get(&section).map_or(&self.main, |(p, _)| p)
    }

    /// Whether the file holding `section` may be rewritten.
    pub fn is_writable(&self, section: Section) -> bool {
        self.included
            .get(&section)
            .map_or(self.main_writable, |(_, w)| *w)
    }

    /// The path and new contents of the file holding `section`, to write after
    /// changing it (e.g. a stream created through the API). Fails with
    /// [`ConfigError::ReadOnly`] when that file is read-only.
    pub fn write_back(&self, section: Section) -> Result<(PathBuf, String), ConfigError> {
        let path = self.path_of(section).to_owned();
        if !self.is_writable(section) {
            return Err(ConfigError::ReadOnly { path, section });
        }
        Ok((path, self.config.to_toml_for(section)?))
    }

    /// Validates every stream and push, naming the file that holds it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let wildcard = |section, name: &StreamName| ConfigError::WildcardName {
            path: self.path_of(section).to_owned(),
            section,
            name: name.to_string(),
        };
        for (name, spec) in &self.config.streams {
            if name.is_wildcard_child() {
                return Err(wildcard(Section::Streams, name));
            }
            spec.validate().map_err(|error| ConfigError::Stream {
                path: self.path_of(Section::Streams).to_owned(),
                name: name.to_string(),
                error,
            })?;
        }
        for (name, spec) in &self.config.pushes {
            if name.is_wildcard_child() {
                return Err(wildcard(Section::Pushes, name));
            }
            spec.validate().map_err(|error| ConfigError::Push {
                path: self.path_of(Section::Pushes).to_owned(),
                name: name.to_string(),
                error,
            })?;
        }
        Ok(())
    }
}
