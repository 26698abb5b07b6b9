//! Kubernetes-style status [`Condition`]s shared by stream and push statuses.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Time;

/// One aspect of an object's state, as Kubernetes' `metav1.Condition` has it.
/// The operator writes `Ready`, `Live` and `Assigned` on streams and `Ready` on pushes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type, in CamelCase (e.g. `Ready`). Unique within a status.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the condition holds: `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// A CamelCase reason for the last transition, for machines (e.g. `PublisherConnected`).
    pub reason: String,
    /// A human-readable message about the last transition; may be empty.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339). Not touched when only the reason or message change.
    pub last_transition_time: Time,
    /// The `metadata.generation` of the spec this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The status of a [`Condition`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::schema::string_enum)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known (yet).
    #[default]
    Unknown,
}

// === impl Condition ===

impl Condition {
    /// A condition that transitioned at `now`.
    pub fn new(kind: &str, status: ConditionStatus, reason: &str, message: &str, now: Time) -> Self {
        Self {
            kind: kind.to_owned(),
            status,
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition_time: now,
            observed_generation: None,
        }
    }
}

/// Sets `new` in `conditions`, replacing the condition of the same type.
/// `lastTransitionTime` is kept from the old condition when its status did not
/// change (Kubernetes API conventions). Returns whether the status changed (a
/// transition worth an event).
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.kind == new.kind) {
        Some(old) if old.status == new.status => {
            let since = old.last_transition_time;
            *old = Condition {
                last_transition_time: since,
                ..new
            };
            false
        }
        Some(old) => {
            *old = new;
            true
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_transition_time_when_status_unchanged() {
        let t = Time::from_unix_millis;
        let mut cs = Vec::new();
        assert!(set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::False, "Waiting", "", t(1))
        ));
        assert!(!set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::False, "Booting", "x", t(2))
        ));
        assert_eq!(cs[0].last_transition_time, t(1));
        assert_eq!(cs[0].reason, "Booting");
        assert!(set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::True, "Live", "", t(3))
        ));
        assert_eq!(cs[0].last_transition_time, t(3));
        assert!(set_condition(
            &mut cs,
            Condition::new("Degraded", ConditionStatus::False, "Ok", "", t(4))
        ));
        assert_eq!(cs.len(), 2);
    }

    #[test]
    fn json_shape() {
        let c = Condition::new(
            "Ready",
            ConditionStatus::True,
            "Live",
            "",
            Time::from_unix_millis(0),
        );
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"Ready","status":"True","reason":"Live","message":"","lastTransitionTime":"1970-01-01T00:00:00Z"}"#
        );
    }
}
