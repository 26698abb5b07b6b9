//! MPEG transport stream demuxer and muxer (ISO/IEC 13818-1).
