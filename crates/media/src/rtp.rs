//! RTP (RFC 3550) packets and depacketizers: H.264 (RFC 6184), H.265 (RFC 7798), AAC (RFC 3640), Opus (RFC 7587).
