//! The live frame buffer: a bounded window of frames indexed by GOP, read by many cursors.
