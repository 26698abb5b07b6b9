//! RTMP: handshake, chunk stream codec, AMF0 commands and a sans-IO server session (Adobe RTMP 1.0, Enhanced RTMP v1).
