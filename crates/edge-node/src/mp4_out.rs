//! Endless fragmented MP4 over HTTP (`/NAME.mp4`) and over WebSocket (WS/MP4).
