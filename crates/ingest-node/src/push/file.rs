//! Recording: a stream written to an MPEG-TS file.
//!
//! The target is an absolute path ending in `.ts`; `$stream` in it becomes
//! the stream's name and `$datetime` the UTC time the recording started
//! (`YYYY.MM.DD.HH.MM.SS`). Missing parent directories are created. The file
//! is written from the newest keyframe on until the publisher goes away or
//! the stream is removed; a new run replaces a file of the same name.

use std::path::{Component, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use hub::Event;
use media::ts::Muxer;
use tokio::io::AsyncWriteExt;

use super::{Job, PushError};

/// Buffered bytes are written once they reach this size...
const WRITE_SIZE: usize = 64 * 1024;
/// ...or once they are this old, so the file follows the stream closely.
const WRITE_DELAY: Duration = Duration::from_millis(500);

/// Records the job's stream to the file its target names until the stream ends.
pub async fn run(job: &Job) -> Result<(), PushError> {
    let path = expand(&job.target, job.stream.name(), std::time::SystemTime::now())?;
    let failed = |what: &str, e: std::io::Error| PushError::Failed(format!("{what} {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| failed("cannot create the directory of", e))?;
    }
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| failed("cannot create", e))?;
    if job.audio_override.is_some() {
        tracing::warn!(
            push = job.name,
            "recordings keep the stream's own audio: audioOverride ignored"
        );
    }
    tracing::info!(push = job.name, stream = job.stream.name(), path = %path.display(), "recording");

    let mut sub = job.stream.subscribe();
    let mut muxer: Option<Muxer> = None;
    let mut out = BytesMut::with_capacity(WRITE_SIZE * 2);
    let mut oldest = tokio::time::Instant::now();
    loop {
        let event = if out.is_empty() {
            sub.next().await
        } else {
            let due = oldest + WRITE_DELAY;
            match tokio::time::timeout_at(due, sub.next()).await {
                Ok(event) => event,
                Err(_) => {
                    write(&mut file, &mut out, job)
                        .await
                        .map_err(|e| failed("cannot write", e))?;
                    continue;
                }
            }
        };
        match event {
            Event::Tracks(tracks) => {
                let tracks = media::ts::muxable(tracks);
                muxer = if tracks.is_empty() {
                    None
                } else {
                    match Muxer::new(&tracks) {
                        Ok(m) => Some(m),
                        Err(e) => {
                            return Err(PushError::Failed(format!(
                                "cannot record {} as mpeg-ts: {e}",
                                job.stream.name()
                            )));
                        }
                    }
                };
            }
            Event::Frame(frame) => {
                let Some(m) = muxer.as_mut() else { continue };
                if out.is_empty() {
                    oldest = tokio::time::Instant::now();
                }
                if let Err(e) = m.mux_frame(&frame, &mut out) {
                    tracing::debug!(push = job.name, %e, "frame skipped");
                }
                if out.len() >= WRITE_SIZE {
                    write(&mut file, &mut out, job)
                        .await
                        .map_err(|e| failed("cannot write", e))?;
                }
            }
            Event::Skipped { lost } => {
                tracing::debug!(push = job.name, lost, "recording fell behind and skipped ahead");
            }
            Event::Offline | Event::Closed => break,
        }
    }
    write(&mut file, &mut out, job)
        .await
        .map_err(|e| failed("cannot write", e))?;
    file.sync_all().await.map_err(|e| failed("cannot sync", e))?;
    tracing::info!(push = job.name, path = %path.display(), bytes = job.bytes.load(Ordering::Relaxed), "recording ended");
    Ok(())
}

/// Writes and empties `out`, counting its bytes.
async fn write(file: &mut tokio::fs::File, out: &mut BytesMut, job: &Job) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    file.write_all(out).await?;
    file.flush().await?;
    job.bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
    out.clear();
    Ok(())
}

/// The file a recording of `stream` started at `now` goes to: `target` with
/// its placeholders replaced. Refuses anything but an absolute `.ts` path
/// without `..` components.
pub fn expand(target: &str, stream: &str, now: std::time::SystemTime) -> Result<PathBuf, PushError> {
    let millis = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    // RFC 3339 `YYYY-MM-DDTHH:MM:SS...` becomes `YYYY.MM.DD.HH.MM.SS`
    let rfc3339 = spec::Time::from_unix_millis(millis).to_string();
    let datetime: String = rfc3339
        .chars()
        .take(19)
        .map(|c| if c.is_ascii_digit() { c } else { '.' })
        .collect();
    let path = PathBuf::from(target.replace("$stream", stream).replace("$datetime", &datetime));
    let is_ts = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ts"));
    if !path.is_absolute() || !is_ts || path.file_stem().is_none() {
        return Err(PushError::BadTarget(format!(
            "{}: a recording must be an absolute path ending in .ts",
            path.display()
        )));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(PushError::BadTarget(format!(
            "{}: a recording path cannot contain ..",
            path.display()
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn placeholders_and_refusals() {
        let t = UNIX_EPOCH + Duration::from_millis(1_714_564_800_123);
        assert_eq!(
            expand("/rec/$stream/$datetime.ts", "live+a", t).unwrap(),
            PathBuf::from("/rec/live+a/2024.05.01.12.00.00.ts")
        );
        assert_eq!(expand("/rec/x.TS", "cam", t).unwrap(), PathBuf::from("/rec/x.TS"));
        for bad in ["rec/x.ts", "/rec/x.mp4", "/rec/../x.ts", "/rec/x"] {
            assert!(
                matches!(expand(bad, "cam", t), Err(PushError::BadTarget(_))),
                "{bad}"
            );
        }
    }
}
