//! The control service: the desired streams (their [`spec::StreamSpec`]s) and
//! their live status, behind one [`Service`] that the REST API ([`rest`])
//! and, later, the gRPC API call.
//!
//! Specs are kept in memory and handed to a [`Persist`] callback on every
//! change (the standalone server writes them back to its configuration file).
//! Inputs follow the specs through [`Service::watch`].
//!
//! **Invariant:** no media parsing and no sockets here.

pub mod rest;
mod service;

pub use service::{ApiError, Persist, Service, Specs, StreamView};
