//! What a cluster node does in the shared state store (etcd, or the
//! embedded store), kept apart from sockets and media:
//!
//! | module | what |
//! |---|---|
//! | [`session`] | the node's lease and its `nodes/{role}/{id}` entry, renewed; re-registered when the lease is lost |
//! | [`ownership`] | ingest: claims `streams/{name}/owner` for each live stream (a transaction bound to the node's lease) and writes `streams/{name}/status`; releases both when the stream ends |
//! | [`specs`] | stream and push specs: the store is the source; API writes go to the store, store changes reach the node's control service |
//! | [`placement`] | ingest: which specs this node runs (push sources everywhere, pull sources only where assigned) |
//! | [`resolve`] | edge: the owner of a stream and its relay address |
//! | [`nodes`] | the control API's node list: every `nodes/` entry |
//! | [`load`] | the CPU and stream figures a node publishes for placement |
//!
//! A node that dies loses its lease, so its entry, ownerships and statuses
//! vanish without anyone cleaning up, and another node can claim the stream.

pub mod load;
pub mod nodes;
pub mod ownership;
mod passes;
pub mod placement;
pub mod push_status;
pub mod resolve;
pub mod session;
pub mod specs;
