//! SRT push targets: `srt://HOST:PORT` (caller), `srt://:PORT` (a listener
//! every caller of which gets the stream), `?mode=` to override
//! (`caller`, `listener`, `rendezvous`); options as for SRT sources
//! (`streamid`, `latency`, `passphrase`, `pbkeylen`, ...). The stream goes
//! out as MPEG-TS in 1316-byte payloads.

/// Pushes `job`'s stream to its `srt://` target until the stream ends
/// (`Ok`: removed, or offline for 10 s) or the target fails (`Err`: the
/// connection cannot be made, or the peer closes it; for a listener, the
/// port cannot be bound).
pub async fn run(job: &super::Job) -> Result<(), super::PushError> {
    crate::srt::push::run(job).await
}
