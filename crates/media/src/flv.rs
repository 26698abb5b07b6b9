//! FLV tag reading and writing (Adobe FLV 10.1, Enhanced RTMP v1 for HEVC).
