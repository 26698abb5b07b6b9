//! The control service: the desired streams (their [`spec::StreamSpec`]s) and
//! their live status, behind one [`Service`] that the REST API ([`rest`])
//! and the gRPC API ([`grpc`]) call.
//!
//! Specs are kept in memory and handed to a [`Persist`] callback on every
//! change (the standalone server writes them back to its configuration file).
//! Inputs follow the specs through [`Service::watch`].
//!
//! Pushes work alike: their [`spec::PushSpec`]s are followed through
//! [`Service::watch_pushes`] by whatever runs them (the ingest node's push
//! engine), which reports their status back through [`PushRunner`]; a
//! [`PersistPushes`] callback saves them.
//!
//! The gRPC API ([`grpc`]) serves the same service; one bearer token
//! ([`auth::ApiToken`]) guards both. Nodes come from a pluggable
//! [`NodeSource`] (this process alone by default), viewer sessions from the
//! hub. [`metrics`] holds the process's Prometheus registry and `/metrics`.
//!
//! **Invariant:** no media parsing here; the only sockets are the gRPC
//! server's ([`grpc::serve`]).

pub mod auth;
pub mod grpc;
pub mod load;
pub mod metrics;
mod nodes;
mod pushes;
pub mod rest;
mod service;

pub use auth::ApiToken;
pub use nodes::{LocalNode, NodeEntry, NodeSource, SessionView};
pub use pushes::{PersistPushes, PushRunner, PushSpecs, PushView};
pub use service::{ApiError, Persist, Service, Specs, StreamView};
