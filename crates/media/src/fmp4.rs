//! Fragmented MP4 / CMAF writing: init segments and `moof`/`mdat` fragments (ISO/IEC 23000-19).
