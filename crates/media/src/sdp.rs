//! SDP (RFC 8866) session descriptions for RTP sources, as `ffmpeg -sdp_file` writes them.
