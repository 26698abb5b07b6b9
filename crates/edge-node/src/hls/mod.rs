//! HLS and LL-HLS packaging: segments and parts cut once per stream and shared by every viewer.
