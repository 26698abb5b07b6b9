//! The operator: reconciles `Stream` and `Push` custom resources into the
//! state store, assigns pull-source streams to ingest nodes, and writes status
//! back to the resources.
//!
//! **Invariant:** the operator never touches media bytes and talks to nodes
//! only through the state store or the gRPC control API.
//!
//! Status: the reconcilers arrive with the operator work; this crate holds
//! only the role's description so far.

/// API group of the custom resources.
pub const GROUP: &str = "tributary.dev";
/// API version of the custom resources.
pub const VERSION: &str = "v1alpha1";
