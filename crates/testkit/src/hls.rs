//! A checker of HLS and LL-HLS playlists against RFC 8216bis rules.
