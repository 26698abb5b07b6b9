//! The control service: the desired streams (their [`spec::StreamSpec`]s) and
//! their live status, behind one [`Service`] that the REST API ([`rest`])
//! and, later, the gRPC API call.
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
//! **Invariant:** no media parsing and no sockets here.

mod pushes;
pub mod rest;
mod service;

pub use pushes::{PersistPushes, PushRunner, PushSpecs, PushView};
pub use service::{ApiError, Persist, Service, Specs, StreamView};
