//! HLS playlists (RFC 8216 and its LL-HLS revision): parsing media and multivariant playlists for HLS pull.
