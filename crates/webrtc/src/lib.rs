//! WebRTC: playback (WHEP) and publishing (WHIP) over one UDP port.
//!
//! Built on `str0m`, a sans-IO WebRTC stack: every session is an `Rtc`
//! state machine owned by one run loop ([`server`]) that reads and writes
//! the one UDP socket, so any number of sessions share a port and no
//! session owns a task that holds sockets. The HTTP face ([`http`]) takes
//! SDP offers and answers; [`convert`] turns hub frames into WebRTC
//! payloads and back.
//!
//! **Invariant:** payloads are not copied per viewer: each frame is
//! converted once per stream and the same `Arc<[u8]>` goes to every session.

pub mod convert;
pub mod http;
pub mod server;
