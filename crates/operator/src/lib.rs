//! The operator: reconciles `Stream` and `Push` custom resources into the
//! state store, assigns pull-source streams to ingest nodes, and writes status
//! back to the resources.
//!
//! **Invariant:** the operator never touches media bytes and talks to nodes
//! only through the state store.

pub mod controller;
pub mod crd;
pub mod decide;
pub mod leader;
pub mod reconcile;
pub mod runtime;

/// API group of the custom resources.
pub const GROUP: &str = "tributary.dev";
/// API version of the custom resources.
pub const VERSION: &str = "v1alpha1";
