//! RTMP client session slot.
