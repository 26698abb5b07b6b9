//! The keys of the cluster keyspace, relative to the store prefix.
//!
//! | key | value |
//! |---|---|
//! | `nodes/{role}/{id}` | node info, bound to the node's lease |
//! | `streams/{name}/spec` | `StreamSpec` |
//! | `streams/{name}/assignment` | ingest node id chosen by the operator |
//! | `streams/{name}/owner` | ingest node id holding the live buffer, claimed, owner's lease |
//! | `streams/{name}/status` | `StreamStatus`, owner's lease |
//! | `pushes/{name}/spec`, `pushes/{name}/status` | `PushSpec`, `PushStatus` |

/// Prefix of every node key.
pub const NODES: &str = "nodes/";
/// Prefix of every stream key.
pub const STREAMS: &str = "streams/";
/// Prefix of every push key.
pub const PUSHES: &str = "pushes/";

/// `nodes/{role}/`: every node of a role.
pub fn nodes_prefix(role: &str) -> String {
    format!("{NODES}{role}/")
}

/// `nodes/{role}/{id}`.
pub fn node_key(role: &str, id: &str) -> String {
    format!("{NODES}{role}/{id}")
}

/// `streams/{name}/spec`.
pub fn stream_spec_key(name: &str) -> String {
    format!("{STREAMS}{name}/spec")
}

/// `streams/{name}/assignment`.
pub fn assignment_key(name: &str) -> String {
    format!("{STREAMS}{name}/assignment")
}

/// `streams/{name}/owner`.
pub fn owner_key(name: &str) -> String {
    format!("{STREAMS}{name}/owner")
}

/// `streams/{name}/status`.
pub fn stream_status_key(name: &str) -> String {
    format!("{STREAMS}{name}/status")
}

/// `pushes/{name}/spec`.
pub fn push_spec_key(name: &str) -> String {
    format!("{PUSHES}{name}/spec")
}

/// `pushes/{name}/status`.
pub fn push_status_key(name: &str) -> String {
    format!("{PUSHES}{name}/status")
}

/// What a key under `streams/` or `pushes/` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `.../spec`
    Spec,
    /// `.../status`
    Status,
    /// `streams/.../owner`
    Owner,
    /// `streams/.../assignment`
    Assignment,
}

/// Splits `streams/{name}/{field}` into the stream name and field.
pub fn parse_stream_key(key: &str) -> Option<(&str, Field)> {
    parse(key.strip_prefix(STREAMS)?)
}

/// Splits `pushes/{name}/{field}` into the push name and field (spec or status only).
pub fn parse_push_key(key: &str) -> Option<(&str, Field)> {
    parse(key.strip_prefix(PUSHES)?).filter(|(_, f)| matches!(f, Field::Spec | Field::Status))
}

fn parse(rest: &str) -> Option<(&str, Field)> {
    let (name, field) = rest.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    let field = match field {
        "spec" => Field::Spec,
        "status" => Field::Status,
        "owner" => Field::Owner,
        "assignment" => Field::Assignment,
        _ => return None,
    };
    Some((name, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert_eq!(node_key("ingest", "n1"), "nodes/ingest/n1");
        assert!(node_key("edge", "e1").starts_with(&nodes_prefix("edge")));
        assert_eq!(
            parse_stream_key(&stream_spec_key("cam1")),
            Some(("cam1", Field::Spec))
        );
        assert_eq!(
            parse_stream_key(&owner_key("live+a")),
            Some(("live+a", Field::Owner))
        );
        assert_eq!(
            parse_stream_key(&assignment_key("x")),
            Some(("x", Field::Assignment))
        );
        assert_eq!(
            parse_stream_key(&stream_status_key("x")),
            Some(("x", Field::Status))
        );
        assert_eq!(parse_push_key(&push_status_key("p")), Some(("p", Field::Status)));
        assert_eq!(parse_push_key(&push_spec_key("p")), Some(("p", Field::Spec)));
        assert_eq!(parse_push_key("pushes/p/owner"), None);
        assert_eq!(parse_stream_key("streams//spec"), None);
        assert_eq!(parse_stream_key("streams/x/other"), None);
        assert_eq!(parse_stream_key("nodes/ingest/n1"), None);
    }
}
