//! The one definition of Tributary's user-facing types: `StreamSpec`,
//! `StreamStatus`, `PushSpec`, `PushStatus` (the CRD spec/status, the REST
//! body, the etcd value), stream names, source URLs and publish access rules.
//!
//! **Invariant:** pure types and parsers: no IO, no async runtime.
