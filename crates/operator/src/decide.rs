//! The reconciler's decisions, as pure functions of what it observed: the
//! resource, the nodes and stream state in the store, and the clock.
//!
//! Nothing here does I/O; [`crate::reconcile`] gathers the inputs and applies
//! the results, and the tests drive every decision directly.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use spec::node::NodeInfo;
use spec::{
    Condition, ConditionStatus, PushSpec, PushState, PushStatus, StreamName, StreamSpec, StreamState,
    StreamStatus, Time, set_condition,
};

/// The finalizer the operator puts on every resource it manages, so that the
/// store is cleaned even when the resource is deleted while the operator is down.
pub const FINALIZER: &str = "tributary.dev/cleanup";

/// Largest spec (as JSON) the operator accepts.
pub const SPEC_MAX_BYTES: usize = 64 * 1024;

/// Condition types of the resources' status.
pub mod condition {
    /// The spec is valid, stored, and (pull sources) placed on a node.
    pub const READY: &str = "Ready";
    /// The stream is live on a node.
    pub const LIVE: &str = "Live";
    /// The stream has a node to run on (pull sources) or needs none (push sources).
    pub const ASSIGNED: &str = "Assigned";
}

/// What the finalizer asks for, from the resource's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalizerStep {
    /// Not being deleted and not marked yet: add the finalizer first.
    Add,
    /// Not being deleted, finalizer present: reconcile normally.
    Reconcile,
    /// Being deleted, finalizer present: clean the store, then remove the finalizer.
    Cleanup,
    /// Being deleted and no finalizer of ours: nothing to do.
    Ignore,
}

/// Decides the finalizer step.
pub fn finalizer_step(deleting: bool, finalizers: &[String]) -> FinalizerStep {
    let ours = finalizers.iter().any(|f| f == FINALIZER);
    match (deleting, ours) {
        (false, false) => FinalizerStep::Add,
        (false, true) => FinalizerStep::Reconcile,
        (true, true) => FinalizerStep::Cleanup,
        (true, false) => FinalizerStep::Ignore,
    }
}

/// The finalizer list with ours added or removed (other controllers' kept in order).
pub fn finalizers_with(finalizers: &[String], ours: bool) -> Vec<String> {
    let mut out: Vec<String> = finalizers.iter().filter(|f| *f != FINALIZER).cloned().collect();
    if ours {
        out.push(FINALIZER.to_owned());
    }
    out
}

/// Why a resource cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// CamelCase reason for the condition.
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl Invalid {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// Parses and validates a `Stream` resource's name and spec.
pub fn parse_stream(name: &str, spec: &serde_json::Value) -> Result<StreamSpec, Invalid> {
    check_name(name, "stream")?;
    let spec: StreamSpec = parse_json(spec)?;
    spec.validate()
        .map_err(|e| Invalid::new("InvalidSpec", e.to_string()))?;
    Ok(spec)
}

/// Parses and validates a `Push` resource's name and spec.
pub fn parse_push(name: &str, spec: &serde_json::Value) -> Result<PushSpec, Invalid> {
    check_name(name, "push")?;
    if name.contains('+') {
        return Err(Invalid::new("InvalidName", "a push name cannot contain '+'"));
    }
    let spec: PushSpec = parse_json(spec)?;
    spec.validate()
        .map_err(|e| Invalid::new("InvalidSpec", e.to_string()))?;
    Ok(spec)
}

fn check_name(name: &str, what: &str) -> Result<(), Invalid> {
    StreamName::parse(name)
        .map(drop)
        .map_err(|e| Invalid::new("InvalidName", format!("the {what} name {name:?}: {e}")))
}

fn parse_json<T: DeserializeOwned>(spec: &serde_json::Value) -> Result<T, Invalid> {
    let size = serde_json::to_vec(spec).map_or(usize::MAX, |v| v.len());
    if size > SPEC_MAX_BYTES {
        return Err(Invalid::new(
            "SpecTooLarge",
            format!("the spec is {size} bytes as JSON; at most {SPEC_MAX_BYTES}"),
        ));
    }
    serde_path_to_error::deserialize(spec).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        Invalid::new("InvalidSpec", message)
    })
}

/// Another resource of the same kind and name in another namespace that was
/// there first, if any: both would map to one stream name in the cluster.
/// `others` are `(namespace, creation time)` of the resources with this name.
pub fn name_conflict<'a>(
    namespace: &str,
    created: Option<Time>,
    others: impl IntoIterator<Item = (&'a str, Option<Time>)>,
) -> Option<String> {
    let key = |ns: &str, t: Option<Time>| (t.map_or(i64::MAX, Time::unix_millis), ns.to_owned());
    let mine = key(namespace, created);
    others
        .into_iter()
        .filter(|(ns, _)| *ns != namespace)
        .map(|(ns, t)| key(ns, t))
        .filter(|k| *k < mine)
        .min()
        .map(|(_, ns)| ns)
}

/// Where a stream runs, as decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A push-fed stream: it runs on whichever ingest receives the push; any
    /// assignment left over is removed.
    PushFed,
    /// Stays on the live node it is assigned to.
    Keep(String),
    /// Newly assigned to a node.
    Assign(String),
    /// Its node is gone; moved to another.
    Failover {
        /// The vanished node.
        from: String,
        /// The node now assigned.
        to: String,
    },
    /// No live ingest node to run it on (the assignment, if any, is kept
    /// for when a node returns).
    NoNode {
        /// The vanished node still named in the assignment, if any.
        previous: Option<String>,
    },
}

impl Placement {
    /// The node the stream is assigned to after this decision.
    pub fn node(&self) -> Option<&str> {
        match self {
            Self::Keep(n) | Self::Assign(n) | Self::Failover { to: n, .. } => Some(n),
            Self::PushFed | Self::NoNode { .. } => None,
        }
    }

    /// Whether the assignment in the store must be written (`Some(node)`)
    /// or removed (`Some(None)`), or left as it is (`None`).
    pub fn store_change(&self, current: Option<&str>) -> Option<Option<&str>> {
        match self {
            Self::PushFed => current.map(|_| None),
            Self::Keep(_) | Self::NoNode { .. } => None,
            Self::Assign(n) | Self::Failover { to: n, .. } => Some(Some(n)),
        }
    }
}

/// Places a stream. `ingests` are the live ingest nodes; `recent` counts the
/// assignments this operator made lately per node, which their load figures
/// may not show yet, so that streams created together spread out.
pub fn place(
    spec: &StreamSpec,
    current: Option<&str>,
    ingests: &[NodeInfo],
    recent: &BTreeMap<String, u32>,
) -> Placement {
    if spec.parsed_source().is_ok_and(|s| s.is_push()) {
        return Placement::PushFed;
    }
    if let Some(node) = current
        && ingests.iter().any(|n| n.id == node)
    {
        return Placement::Keep(node.to_owned());
    }
    match (least_loaded(ingests, recent), current) {
        (Some(to), None) => Placement::Assign(to),
        (Some(to), Some(from)) => Placement::Failover {
            from: from.to_owned(),
            to,
        },
        (None, previous) => Placement::NoNode {
            previous: previous.map(str::to_owned),
        },
    }
}

/// The ingest node with the lowest load score, counting recent assignments;
/// ties go to the smallest id, so the choice is deterministic.
pub fn least_loaded(ingests: &[NodeInfo], recent: &BTreeMap<String, u32>) -> Option<String> {
    ingests
        .iter()
        .map(|n| {
            let pending = f64::from(recent.get(&n.id).copied().unwrap_or(0));
            let cores = f64::from(n.load.cores.max(1));
            // A stream placed but not yet visible in the load counts like a
            // stream (0.01) plus a tenth of a core spread over the node's cores.
            (n.load.score() + pending * (0.01 + 0.1 / cores), &n.id)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, id)| id.clone())
}

/// Public addresses used to fill playback URLs in statuses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublicUrls {
    /// Base URL of the edges' HTTP service (no trailing slash needed).
    pub http: Option<String>,
    /// Host name of the ingest service (RTMP 1935, SRT 8889).
    pub ingest_host: Option<String>,
    /// Host name of the edges' SRT service.
    pub edge_host: Option<String>,
}

/// Playback (and for push-fed streams, publish) URLs of a stream.
pub fn playback_urls(name: &str, push_fed: bool, urls: &PublicUrls) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(base) = &urls.http {
        let base = base.trim_end_matches('/');
        out.insert("hls".into(), format!("{base}/hls/{name}/index.m3u8"));
        out.insert("cmaf".into(), format!("{base}/cmaf/{name}/index.m3u8"));
        out.insert("ts".into(), format!("{base}/{name}.ts"));
        out.insert("mp4".into(), format!("{base}/{name}.mp4"));
    }
    if let Some(host) = &urls.edge_host {
        out.insert("srt".into(), format!("srt://{host}:8889?streamid={name}"));
    }
    if push_fed && let Some(host) = &urls.ingest_host {
        out.insert("rtmpPublish".into(), format!("rtmp://{host}/live/{name}"));
        out.insert(
            "srtPublish".into(),
            format!("srt://{host}:8889?streamid=publish:{name}"),
        );
    }
    out
}

/// What the reconciler observed about a stream.
#[derive(Clone, Debug)]
pub struct StreamObservation<'a> {
    /// The stream's (resource's) name.
    pub name: &'a str,
    /// `metadata.generation` of the resource.
    pub generation: Option<i64>,
    /// The spec, or why it cannot be applied (invalid, or a name conflict).
    pub spec: Result<&'a StreamSpec, &'a Invalid>,
    /// The placement decided, when the spec is valid.
    pub placement: Option<&'a Placement>,
    /// Whether the store could be read and written; the error if not.
    pub store: Result<(), &'a str>,
    /// The status the owning node writes, if the stream is owned.
    pub node_status: Option<&'a StreamStatus>,
    /// The node owning the stream, if any.
    pub owner: Option<&'a str>,
    /// Viewers of the stream, summed over the nodes.
    pub viewers: u64,
    /// The status currently on the resource.
    pub previous: Option<&'a StreamStatus>,
    /// Whether the store holds an earlier valid spec of this stream (it stays
    /// applied while the resource's spec is invalid).
    pub earlier_spec: bool,
    /// Public addresses for playback URLs.
    pub urls: &'a PublicUrls,
    /// Now.
    pub now: Time,
}

/// The status to write on a `Stream` resource.
pub fn stream_status(o: &StreamObservation<'_>) -> StreamStatus {
    if let (Ok(_), Err(e)) = (o.spec, o.store) {
        // Nothing new is known: keep what the resource said (node, tracks,
        // placement, generation) and report the store.
        let mut status = o.previous.cloned().unwrap_or_default();
        status.updated_at = Some(o.now);
        let mut c = Condition::new(
            condition::READY,
            ConditionStatus::False,
            "StoreUnavailable",
            &format!("the cluster store cannot be reached: {e}"),
            o.now,
        );
        c.observed_generation = o.generation;
        set_condition(&mut status.conditions, c);
        return status;
    }
    let mut status = match o.node_status {
        Some(s) if o.owner.is_some() => s.clone(),
        _ => StreamStatus::default(),
    };
    // The node's conditions describe its own view; the resource's are the
    // operator's, carried over so that transition times persist.
    status.conditions = o.previous.map(|p| p.conditions.clone()).unwrap_or_default();
    status.node = o
        .owner
        .map(str::to_owned)
        .or_else(|| o.placement.and_then(|p| p.node().map(str::to_owned)));
    status.viewers = o.viewers.max(status.viewers_by_protocol.values().sum());
    status.observed_generation = o.generation;
    status.updated_at = Some(o.now);
    status.playback = BTreeMap::new();

    let cond = |kind: &str, ok: bool, reason: &str, message: String| {
        let mut c = Condition::new(
            kind,
            if ok {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason,
            &message,
            o.now,
        );
        c.observed_generation = o.generation;
        c
    };

    let spec = match o.spec {
        Err(invalid) if o.earlier_spec => {
            // The last valid spec keeps running: report it as it is, with the
            // generation it came from, and the refusal in `Ready`.
            let mut status = o.previous.cloned().unwrap_or(status);
            status.updated_at = Some(o.now);
            status.last_error = Some(invalid.message.clone());
            let mut c = cond(
                condition::READY,
                false,
                invalid.reason,
                format!("{}; the last valid spec stays applied", invalid.message),
            );
            c.observed_generation = status.observed_generation;
            set_condition(&mut status.conditions, c);
            return status;
        }
        Err(invalid) => {
            status.state = StreamState::Error;
            status.last_error = Some(invalid.message.clone());
            status.node = None;
            for kind in [condition::READY, condition::ASSIGNED, condition::LIVE] {
                set_condition(
                    &mut status.conditions,
                    cond(kind, false, invalid.reason, invalid.message.clone()),
                );
            }
            return status;
        }
        Ok(spec) => spec,
    };
    let push_fed = spec.parsed_source().is_ok_and(|s| s.is_push());
    status.playback = playback_urls(o.name, push_fed, o.urls);

    let assigned = match o.placement {
        Some(Placement::PushFed) | None => cond(
            condition::ASSIGNED,
            true,
            "PushFed",
            "a push-fed stream runs on the ingest node that receives the push".into(),
        ),
        Some(Placement::Keep(n) | Placement::Assign(n)) => cond(
            condition::ASSIGNED,
            true,
            "Assigned",
            format!("assigned to ingest node {n}"),
        ),
        Some(Placement::Failover { from, to }) => cond(
            condition::ASSIGNED,
            true,
            "Failover",
            format!("ingest node {from} is gone; assigned to {to}"),
        ),
        Some(Placement::NoNode { previous }) => cond(
            condition::ASSIGNED,
            false,
            "NoIngestNode",
            match previous {
                Some(p) => format!("ingest node {p} is gone and no other ingest node is live"),
                None => "no ingest node is live".into(),
            },
        ),
    };
    let placed = assigned.status == ConditionStatus::True;
    set_condition(&mut status.conditions, assigned);

    let ready = match o.store {
        Err(e) => cond(
            condition::READY,
            false,
            "StoreUnavailable",
            format!("the cluster store cannot be reached: {e}"),
        ),
        Ok(()) if !placed => cond(
            condition::READY,
            false,
            "NoIngestNode",
            "waiting for a live ingest node".into(),
        ),
        Ok(()) => cond(
            condition::READY,
            true,
            "Accepted",
            "the spec is applied to the cluster".into(),
        ),
    };
    set_condition(&mut status.conditions, ready);

    if o.owner.is_none() || o.node_status.is_none() {
        status.state = if o.store.is_err() {
            o.previous.map_or(StreamState::Offline, |p| p.state)
        } else if push_fed {
            StreamState::Waiting
        } else if placed {
            StreamState::Booting
        } else {
            StreamState::Offline
        };
    }
    let live = status.state == StreamState::Live;
    let (reason, message) = match status.state {
        StreamState::Live => (
            "Live",
            format!("live on {}", status.node.as_deref().unwrap_or("a node")),
        ),
        StreamState::Waiting => ("WaitingForPublisher", "waiting for a publisher".into()),
        StreamState::Booting => ("Booting", "the input is starting".into()),
        StreamState::Offline => ("Offline", "not live".into()),
        StreamState::Error => (
            "InputError",
            status
                .last_error
                .clone()
                .unwrap_or_else(|| "the input failed".into()),
        ),
    };
    set_condition(
        &mut status.conditions,
        cond(condition::LIVE, live, reason, message),
    );
    status
}

/// What the reconciler observed about a push.
#[derive(Clone, Debug)]
pub struct PushObservation<'a> {
    /// `metadata.generation` of the resource.
    pub generation: Option<i64>,
    /// The spec, or why it cannot be applied.
    pub spec: Result<&'a PushSpec, &'a Invalid>,
    /// Whether the store could be read and written; the error if not.
    pub store: Result<(), &'a str>,
    /// The status a node wrote for the push, if any.
    pub node_status: Option<&'a PushStatus>,
    /// The status currently on the resource.
    pub previous: Option<&'a PushStatus>,
    /// Now.
    pub now: Time,
}

/// The status to write on a `Push` resource.
pub fn push_status(o: &PushObservation<'_>) -> PushStatus {
    let mut status = match (o.spec, o.store) {
        // Nothing new is known: keep what the resource said.
        (Ok(_), Err(_)) => o.previous.cloned().unwrap_or_default(),
        _ => o.node_status.cloned().unwrap_or_default(),
    };
    status.conditions = o.previous.map(|p| p.conditions.clone()).unwrap_or_default();
    if o.store.is_ok() {
        status.observed_generation = o.generation;
    }
    status.updated_at = Some(o.now);
    let cond = |ok: bool, reason: &str, message: String| {
        let mut c = Condition::new(
            condition::READY,
            if ok {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason,
            &message,
            o.now,
        );
        c.observed_generation = o.generation;
        c
    };
    let ready = match (o.spec, o.store) {
        (Err(invalid), _) => {
            status.state = PushState::Error;
            status.last_error = Some(invalid.message.clone());
            cond(false, invalid.reason, invalid.message.clone())
        }
        (Ok(_), Err(e)) => cond(
            false,
            "StoreUnavailable",
            format!("the cluster store cannot be reached: {e}"),
        ),
        (Ok(spec), Ok(())) => {
            if o.node_status.is_none() {
                status.state = if spec.auto_start {
                    PushState::Waiting
                } else {
                    PushState::Stopped
                };
            }
            cond(true, "Accepted", "the push is applied to the cluster".into())
        }
    };
    set_condition(&mut status.conditions, ready);
    status
}

/// A Kubernetes Event to emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// `Normal` or `Warning`.
    pub warning: bool,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable note.
    pub note: String,
}

/// The events a reconcile produces: assignment and failover decisions, and
/// conditions turning bad or good (only on transitions, so a resource that
/// stays invalid is not reported again on every resync).
pub fn events(placement: Option<&Placement>, previous: &[Condition], next: &[Condition]) -> Vec<Note> {
    let mut out = Vec::new();
    match placement {
        Some(Placement::Assign(n)) => out.push(Note {
            warning: false,
            reason: "Assigned".into(),
            note: format!("assigned to ingest node {n}"),
        }),
        Some(Placement::Failover { from, to }) => out.push(Note {
            warning: true,
            reason: "Failover".into(),
            note: format!("ingest node {from} is gone; reassigned to {to}"),
        }),
        _ => {}
    }
    for c in next {
        let before = previous.iter().find(|p| p.kind == c.kind);
        let changed = before.is_none_or(|p| p.status != c.status || p.reason != c.reason);
        if !changed {
            continue;
        }
        let bad = c.status == ConditionStatus::False;
        let report = match c.kind.as_str() {
            condition::READY => bad || before.is_some(),
            condition::LIVE => {
                c.status == ConditionStatus::True || before.is_some_and(|p| p.status == ConditionStatus::True)
            }
            _ => false,
        };
        if report
            && !(c.kind == condition::READY && c.reason == "NoIngestNode" && placement_reported(placement))
        {
            out.push(Note {
                warning: bad && c.kind == condition::READY,
                reason: c.reason.clone(),
                note: c.message.clone(),
            });
        }
    }
    out
}

fn placement_reported(p: Option<&Placement>) -> bool {
    matches!(p, Some(Placement::Assign(_) | Placement::Failover { .. }))
}

/// Fields of a status that change all the time (rates, counters, stamps):
/// a change of only these is written at most once per `refresh`.
const VOLATILE: &[&str] = &[
    "updatedAt",
    "bytes",
    "uptimeSeconds",
    "bitrate",
    "viewersByProtocol",
    "viewers",
];

/// Whether `new` must be written over `old`: when anything but the volatile
/// fields changed, or when only they changed and the last write is at least
/// `refresh` old. So a live stream's status is not rewritten on every
/// reconcile while its bitrate moves.
pub fn status_needs_write<T: serde::Serialize>(old: Option<&T>, new: &T, refresh_ms: i64) -> bool {
    let Some(old) = old.and_then(|o| serde_json::to_value(o).ok()) else {
        return true;
    };
    let Ok(new) = serde_json::to_value(new) else {
        return false;
    };
    if old == new {
        return false;
    }
    if strip_volatile(&old) != strip_volatile(&new) {
        return true;
    }
    let stamp = |v: &serde_json::Value| {
        v.get("updatedAt")
            .and_then(|t| t.as_str())
            .and_then(|t| Time::parse(t).ok())
    };
    match (stamp(&old), stamp(&new)) {
        (Some(then), Some(now)) => now.unix_millis() - then.unix_millis() >= refresh_ms,
        _ => true,
    }
}

fn strip_volatile(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), strip_volatile(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_volatile).collect()),
        other => other.clone(),
    }
}

/// A JSON merge patch (RFC 7386) that turns `old` into `new`: members of
/// `old` missing from `new` are set to `null`; arrays and scalars replace.
pub fn merge_patch(old: &serde_json::Value, new: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = serde_json::Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) if ov == nv => {}
                    Some(ov) => {
                        out.insert(k.clone(), merge_patch(ov, nv));
                    }
                    None => {
                        out.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        (_, n) => n.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use spec::node::NodeLoad;

    fn node(id: &str, cpu: f64, cores: u32, streams: u32) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            role: "ingest".into(),
            load: NodeLoad {
                cpu,
                cores,
                streams,
                ..NodeLoad::default()
            },
            ..NodeInfo::default()
        }
    }

    fn pull() -> StreamSpec {
        StreamSpec::new("srt://:9000")
    }

    fn t(ms: i64) -> Time {
        Time::from_unix_millis(ms)
    }

    #[test]
    fn finalizer_steps() {
        let ours = vec!["other/x".to_owned(), FINALIZER.to_owned()];
        assert_eq!(finalizer_step(false, &[]), FinalizerStep::Add);
        assert_eq!(finalizer_step(false, &ours), FinalizerStep::Reconcile);
        assert_eq!(finalizer_step(true, &ours), FinalizerStep::Cleanup);
        assert_eq!(
            finalizer_step(true, &["other/x".to_owned()]),
            FinalizerStep::Ignore
        );
        assert_eq!(finalizers_with(&ours, false), vec!["other/x".to_owned()]);
        assert_eq!(finalizers_with(&["other/x".to_owned()], true), ours);
        assert_eq!(finalizers_with(&ours, true), ours, "added once");
    }

    #[test]
    fn invalid_specs_are_named() {
        let cases = [
            ("cam", json!({"source": "gopher://x"}), "InvalidSpec", "source"),
            (
                "cam",
                json!({"source": "push://", "dvrWindowSeconds": -1}),
                "InvalidSpec",
                "dvrWindowSeconds",
            ),
            (
                "cam",
                json!({"source": "push://", "dvrWindowSeconds": 0}),
                "InvalidSpec",
                "dvrWindowSeconds",
            ),
            (
                "cam",
                json!({"source": "push://", "colour": "red"}),
                "InvalidSpec",
                "colour",
            ),
            (
                "cam",
                json!({"source": "push://", "processes": [{"type": "gstreamer"}]}),
                "InvalidSpec",
                "gstreamer",
            ),
            ("cam", json!({"alwaysOn": true}), "InvalidSpec", "source"),
            ("cam", json!("push://"), "InvalidSpec", "expected struct"),
            (
                &"x".repeat(65),
                json!({"source": "push://"}),
                "InvalidName",
                "name",
            ),
            ("a/b", json!({"source": "push://"}), "InvalidName", "name"),
        ];
        for (name, spec, reason, mentions) in cases {
            let e = parse_stream(name, &spec).expect_err(&spec.to_string());
            assert_eq!(e.reason, reason, "{spec}: {}", e.message);
            assert!(e.message.contains(mentions), "{spec}: {}", e.message);
        }
        let huge = json!({"source": "push://", "processes": [{"type": "ffmpeg", "args": vec!["x".repeat(1000); 80]}]});
        assert_eq!(parse_stream("cam", &huge).unwrap_err().reason, "SpecTooLarge");
        assert_eq!(
            parse_stream("cam", &json!({"source": "push://"})).unwrap(),
            StreamSpec::new("push://")
        );

        assert_eq!(
            parse_push("rec+1", &json!({"stream": "cam", "target": "/r.ts"}))
                .unwrap_err()
                .reason,
            "InvalidName"
        );
        let e = parse_push("rec", &json!({"stream": "cam", "target": "ftp://x"})).unwrap_err();
        assert!(e.message.contains("ftp"), "{}", e.message);
        assert!(parse_push("rec", &json!({"stream": "cam", "target": "/r.ts"})).is_ok());
    }

    #[test]
    fn first_created_namespace_keeps_a_name() {
        let others = [("a", Some(t(10))), ("b", Some(t(5))), ("c", None)];
        assert_eq!(name_conflict("a", Some(t(10)), others), Some("b".into()));
        assert_eq!(name_conflict("b", Some(t(5)), others), None);
        assert_eq!(name_conflict("c", None, others), Some("b".into()));
        // Same creation time: the namespace name decides, the same way on both sides.
        let tie = [("x", Some(t(1))), ("y", Some(t(1)))];
        assert_eq!(name_conflict("x", Some(t(1)), tie), None);
        assert_eq!(name_conflict("y", Some(t(1)), tie), Some("x".into()));
    }

    #[test]
    fn placement_decisions() {
        let none = BTreeMap::new();
        let nodes = [
            node("i-1", 1.5, 2, 3),
            node("i-2", 0.2, 2, 1),
            node("i-3", 0.2, 4, 1),
        ];
        assert_eq!(
            place(&StreamSpec::new("push://"), Some("i-1"), &nodes, &none),
            Placement::PushFed
        );
        assert_eq!(Placement::PushFed.store_change(Some("i-1")), Some(None));
        assert_eq!(Placement::PushFed.store_change(None), None);
        assert_eq!(
            place(&pull(), None, &nodes, &none),
            Placement::Assign("i-3".into())
        );
        assert_eq!(
            place(&pull(), Some("i-1"), &nodes, &none),
            Placement::Keep("i-1".into())
        );
        assert_eq!(
            place(&pull(), Some("gone"), &nodes, &none),
            Placement::Failover {
                from: "gone".into(),
                to: "i-3".into()
            }
        );
        assert_eq!(
            place(&pull(), Some("gone"), &[], &none),
            Placement::NoNode {
                previous: Some("gone".into())
            }
        );
        assert_eq!(
            place(&pull(), None, &[], &none),
            Placement::NoNode { previous: None }
        );
        // Recent assignments spread new streams before the load shows them.
        let recent = BTreeMap::from([("i-3".to_owned(), 3)]);
        assert_eq!(least_loaded(&nodes, &recent), Some("i-2".into()));
        // Ties go to the smallest id.
        assert_eq!(
            least_loaded(&[node("b", 0.0, 1, 0), node("a", 0.0, 1, 0)], &none),
            Some("a".into())
        );
    }

    proptest! {
        #[test]
        fn placement_only_names_live_nodes(
            loads in proptest::collection::vec((0.0f64..8.0, 1u32..16, 0u32..50), 0..6),
            current in proptest::option::of(0usize..8),
        ) {
            let nodes: Vec<_> = loads.iter().enumerate().map(|(i, &(c, k, s))| node(&format!("n{i}"), c, k, s)).collect();
            let current = current.map(|i| format!("n{i}"));
            let p = place(&pull(), current.as_deref(), &nodes, &BTreeMap::new());
            match p.node() {
                Some(n) => prop_assert!(nodes.iter().any(|x| x.id == n)),
                None => prop_assert!(nodes.is_empty()),
            }
            if let Some(c) = &current && nodes.iter().any(|x| &x.id == c) {
                prop_assert_eq!(p, Placement::Keep(c.clone()));
            }
        }

        #[test]
        fn merge_patch_turns_old_into_new(old in json_value(), new in json_value()) {
            let patch = merge_patch(&old, &new);
            prop_assert_eq!(apply_merge_patch(old, &patch), new);
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Bool(true)),
            (0i64..5).prop_map(serde_json::Value::from),
            "[a-c]{0,2}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-c]", inner, 0..3)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// RFC 7386's apply algorithm, to check the patches.
    fn apply_merge_patch(target: serde_json::Value, patch: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        let Value::Object(p) = patch else {
            return patch.clone();
        };
        let mut t = match target {
            Value::Object(t) => t,
            _ => serde_json::Map::new(),
        };
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                let cur = t.remove(k).unwrap_or(Value::Null);
                t.insert(k.clone(), apply_merge_patch(cur, v));
            }
        }
        Value::Object(t)
    }

    fn observe<'a>(
        spec: Result<&'a StreamSpec, &'a Invalid>,
        placement: Option<&'a Placement>,
        urls: &'a PublicUrls,
    ) -> StreamObservation<'a> {
        StreamObservation {
            name: "cam",
            generation: Some(2),
            spec,
            placement,
            store: Ok(()),
            node_status: None,
            owner: None,
            viewers: 0,
            previous: None,
            earlier_spec: false,
            urls,
            now: t(1_000),
        }
    }

    fn cond<'a>(s: &'a StreamStatus, kind: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.kind == kind).unwrap()
    }

    #[test]
    fn status_of_a_live_assigned_stream() {
        let spec = pull();
        let placement = Placement::Keep("i-1".into());
        let urls = PublicUrls {
            http: Some("https://live.example/".into()),
            ingest_host: Some("in.example".into()),
            edge_host: Some("edge.example".into()),
        };
        let node = StreamStatus {
            state: StreamState::Live,
            node: Some("i-1".into()),
            viewers: 1,
            ..StreamStatus::default()
        };
        let mut o = observe(Ok(&spec), Some(&placement), &urls);
        o.node_status = Some(&node);
        o.owner = Some("i-1");
        o.viewers = 7;
        let s = stream_status(&o);
        assert_eq!(s.state, StreamState::Live);
        assert_eq!(s.node.as_deref(), Some("i-1"));
        assert_eq!(s.viewers, 7);
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.playback["hls"], "https://live.example/hls/cam/index.m3u8");
        assert_eq!(s.playback["ts"], "https://live.example/cam.ts");
        assert_eq!(s.playback["srt"], "srt://edge.example:8889?streamid=cam");
        assert!(
            !s.playback.contains_key("rtmpPublish"),
            "a pull stream takes no pushes"
        );
        for kind in [condition::READY, condition::LIVE, condition::ASSIGNED] {
            let c = cond(&s, kind);
            assert_eq!(c.status, ConditionStatus::True, "{c:?}");
            assert_eq!(c.observed_generation, Some(2));
        }
        assert_eq!(cond(&s, condition::LIVE).message, "live on i-1");

        // The same observation later keeps transition times and reports no change.
        let mut later = o.clone();
        later.previous = Some(&s);
        later.now = t(9_000);
        let again = stream_status(&later);
        assert_eq!(cond(&again, condition::LIVE).last_transition_time, t(1_000));
        assert!(!status_needs_write(Some(&s), &again, 10_000));
        assert!(events(Some(&placement), &s.conditions, &again.conditions).is_empty());
    }

    #[test]
    fn status_of_invalid_unplaced_and_unreachable_streams() {
        let urls = PublicUrls::default();
        let invalid = Invalid::new("InvalidSpec", "source: bad");
        let s = stream_status(&observe(Err(&invalid), None, &urls));
        assert_eq!(s.state, StreamState::Error);
        assert_eq!(s.last_error.as_deref(), Some("source: bad"));
        assert!(
            s.conditions
                .iter()
                .all(|c| c.status == ConditionStatus::False && c.reason == "InvalidSpec")
        );
        let notes = events(None, &[], &s.conditions);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].warning && notes[0].reason == "InvalidSpec");
        assert!(
            events(None, &s.conditions, &s.conditions).is_empty(),
            "not repeated"
        );

        let spec = pull();
        let nowhere = Placement::NoNode {
            previous: Some("i-9".into()),
        };
        let s = stream_status(&observe(Ok(&spec), Some(&nowhere), &urls));
        assert_eq!(s.state, StreamState::Offline);
        assert_eq!(cond(&s, condition::ASSIGNED).reason, "NoIngestNode");
        assert!(cond(&s, condition::ASSIGNED).message.contains("i-9"));
        assert_eq!(cond(&s, condition::READY).status, ConditionStatus::False);

        // The store fails: what the resource said stays (node, placement,
        // state, generation) and only Ready reports the store.
        let placed = Placement::Keep("i-1".into());
        let mut live_obs = observe(Ok(&spec), Some(&placed), &urls);
        let node = StreamStatus {
            state: StreamState::Live,
            node: Some("i-1".into()),
            ..StreamStatus::default()
        };
        live_obs.node_status = Some(&node);
        live_obs.owner = Some("i-1");
        let live = stream_status(&live_obs);
        let mut o = observe(Ok(&spec), None, &urls);
        o.store = Err("connection refused");
        o.previous = Some(&live);
        o.generation = Some(3);
        let s = stream_status(&o);
        assert_eq!(cond(&s, condition::READY).reason, "StoreUnavailable");
        assert!(cond(&s, condition::READY).message.contains("connection refused"));
        assert_eq!(
            cond(&s, condition::ASSIGNED).reason,
            "Assigned",
            "placement not forgotten"
        );
        assert_eq!((s.state, s.node.as_deref()), (StreamState::Live, Some("i-1")));
        assert_eq!(s.observed_generation, Some(2), "generation 3 is not applied yet");

        // An invalid spec while an earlier one runs: reported, the running
        // stream still described, the generation left at the applied one.
        let bad = Invalid::new("InvalidSpec", "source: bad");
        let mut o = observe(Err(&bad), None, &urls);
        o.previous = Some(&live);
        o.earlier_spec = true;
        o.generation = Some(4);
        let s = stream_status(&o);
        assert_eq!((s.state, s.node.as_deref()), (StreamState::Live, Some("i-1")));
        assert_eq!(s.observed_generation, Some(2));
        assert!(cond(&s, condition::READY).message.contains("stays applied"));
        assert_eq!(cond(&s, condition::LIVE).status, ConditionStatus::True);

        let push = StreamSpec::new("push://");
        let urls = PublicUrls {
            ingest_host: Some("in.example".into()),
            ..PublicUrls::default()
        };
        let s = stream_status(&observe(Ok(&push), Some(&Placement::PushFed), &urls));
        assert_eq!(s.state, StreamState::Waiting);
        assert_eq!(cond(&s, condition::READY).status, ConditionStatus::True);
        assert_eq!(cond(&s, condition::LIVE).reason, "WaitingForPublisher");
        assert_eq!(s.playback["rtmpPublish"], "rtmp://in.example/live/cam");
    }

    #[test]
    fn failover_is_an_event_and_a_condition() {
        let spec = pull();
        let urls = PublicUrls::default();
        let first = Placement::Assign("i-1".into());
        let s1 = stream_status(&observe(Ok(&spec), Some(&first), &urls));
        let notes = events(Some(&first), &[], &s1.conditions);
        assert_eq!(notes[0].reason, "Assigned");
        assert!(!notes[0].warning);

        let moved = Placement::Failover {
            from: "i-1".into(),
            to: "i-2".into(),
        };
        let mut o = observe(Ok(&spec), Some(&moved), &urls);
        o.previous = Some(&s1);
        let s2 = stream_status(&o);
        assert_eq!(cond(&s2, condition::ASSIGNED).reason, "Failover");
        assert_eq!(s2.node.as_deref(), Some("i-2"));
        let notes = events(Some(&moved), &s1.conditions, &s2.conditions);
        assert!(
            notes
                .iter()
                .any(|n| n.reason == "Failover" && n.warning && n.note.contains("i-1")),
            "{notes:?}"
        );
    }

    #[test]
    fn volatile_changes_are_written_once_per_refresh() {
        let at = |ms: i64, bitrate: u64, state: StreamState| StreamStatus {
            state,
            tracks: vec![spec::TrackStatus {
                id: 1,
                codec: "h264".into(),
                bitrate: Some(bitrate),
                ..spec::TrackStatus::default()
            }],
            updated_at: Some(t(ms)),
            ..StreamStatus::default()
        };
        let old = at(0, 1_000, StreamState::Live);
        assert!(status_needs_write(None, &old, 10_000));
        assert!(!status_needs_write(
            Some(&old),
            &at(500, 1_000, StreamState::Live),
            10_000
        ));
        assert!(
            !status_needs_write(Some(&old), &at(9_000, 1_200, StreamState::Live), 10_000),
            "only a rate moved"
        );
        assert!(
            status_needs_write(Some(&old), &at(10_000, 1_200, StreamState::Live), 10_000),
            "refreshed"
        );
        assert!(
            status_needs_write(Some(&old), &at(1, 1_000, StreamState::Offline), 10_000),
            "a real change at once"
        );
    }

    #[test]
    fn push_status_conditions() {
        let spec: PushSpec =
            serde_json::from_value(json!({"stream": "cam", "target": "/r.ts", "autoStart": true})).unwrap();
        let o = PushObservation {
            generation: Some(1),
            spec: Ok(&spec),
            store: Ok(()),
            node_status: None,
            previous: None,
            now: t(5),
        };
        let s = push_status(&o);
        assert_eq!(s.state, PushState::Waiting);
        assert_eq!(s.conditions[0].status, ConditionStatus::True);
        let pushing = PushStatus {
            state: PushState::Pushing,
            node: Some("i-1".into()),
            ..s.clone()
        };
        let down = push_status(&PushObservation {
            store: Err("timed out"),
            previous: Some(&pushing),
            generation: Some(2),
            ..o.clone()
        });
        assert_eq!(
            (down.state, down.node.as_deref()),
            (PushState::Pushing, Some("i-1"))
        );
        assert_eq!(down.conditions[0].reason, "StoreUnavailable");
        assert_eq!(down.observed_generation, Some(1));
        let bad = Invalid::new("InvalidSpec", "target: is empty");
        let s = push_status(&PushObservation { spec: Err(&bad), ..o });
        assert_eq!(s.state, PushState::Error);
        assert_eq!(s.conditions[0].reason, "InvalidSpec");
        assert_eq!(s.observed_generation, Some(1));
    }
}
