//! RIST pushes: the stream as MPEG-TS over RIST (main profile, librist via
//! the `rist` crate, behind this crate's `rist` feature), 7 TS packets
//! (1316 bytes) per RIST data block.
//!
//! `rist://HOST:PORT` calls a RIST receiver; `rist://@HOST:PORT` or
//! `rist://:PORT` listens until receivers call (librist gives the stream to
//! each). Query options (`cname`, `buffer`, `secret`, `aes-type`, ...) go to
//! librist unchanged.
//!
//! A caller that no receiver answers within [`CONNECT_TIMEOUT`] fails (the
//! engine retries per the push's policy); a listener waits for receivers as
//! long as the stream lives. The push ends when the stream is removed or
//! stays offline for [`super::tsudp::OFFLINE_GRACE`].

use std::time::Duration;

use super::{Job, PushError};

/// How long a caller waits for the receiver's answer before failing.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The RIST target: its librist URL, whether it listens, and how it is shown in logs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    url: String,
    listener: bool,
    shown: String,
}

fn parse(target: &str) -> Result<Target, PushError> {
    match spec::Source::parse(target) {
        Ok(spec::Source::Rist(r)) => Ok(Target {
            url: crate::rist::librist_url(&r),
            listener: r.mode == spec::source::RistMode::Listener,
            shown: spec::Source::Rist(r.clone()).redacted().to_string(),
        }),
        Ok(_) => Err(PushError::BadTarget(format!("{target}: not a rist:// url"))),
        Err(e) => Err(PushError::BadTarget(format!("{target}: {e}"))),
    }
}

/// Runs a `rist://` push (see the module docs).
pub async fn run(job: &Job) -> Result<(), PushError> {
    let target = parse(&job.target)?;
    imp::run(job, target).await
}

#[cfg(not(feature = "rist"))]
mod imp {
    use super::{Job, PushError, Target};

    pub(super) async fn run(_job: &Job, _target: Target) -> Result<(), PushError> {
        Err(PushError::BadTarget(crate::rist::NO_RIST.into()))
    }
}

#[cfg(feature = "rist")]
mod imp {
    use std::sync::atomic::Ordering;

    use tokio::time::Instant;

    use super::super::tsudp::{DATAGRAM_TS_LEN, TsChunks, next_event};
    use super::{CONNECT_TIMEOUT, Job, PushError, Target};

    /// The librist sender of a push, counting bytes.
    struct Out<'a> {
        job: &'a Job,
        sender: rist::Sender,
        target: &'a Target,
        started: Instant,
        connected: bool,
    }

    impl Out<'_> {
        fn send(&mut self, ts: &[u8]) -> Result<(), PushError> {
            if !self.connected {
                if self.sender.peers() > 0 {
                    self.connected = true;
                    tracing::info!(push = self.job.name, target = %self.target.shown, "rist receiver connected");
                } else if !self.target.listener && self.started.elapsed() > CONNECT_TIMEOUT {
                    return Err(PushError::Failed(format!(
                        "{}: no RIST receiver answered within {} s",
                        self.target.shown,
                        CONNECT_TIMEOUT.as_secs()
                    )));
                }
            }
            let n = self
                .sender
                .send(ts)
                .map_err(|e| PushError::Failed(format!("{}: {e}", self.target.shown)))?;
            self.job.bytes.fetch_add(n as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    pub(super) async fn run(job: &Job, target: Target) -> Result<(), PushError> {
        let url = target.url.clone();
        // librist resolves a caller's host name, blocking
        let sender = tokio::task::spawn_blocking(move || rist::Sender::new(&url))
            .await
            .map_err(|e| PushError::Failed(e.to_string()))?
            .map_err(|e| PushError::Failed(format!("{}: {e}", target.shown)))?;
        tracing::info!(push = job.name, stream = job.stream.name(), target = %target.shown, "rist push started");
        let mut out = Out {
            job,
            sender,
            target: &target,
            started: Instant::now(),
            connected: false,
        };
        let mut sub = job.stream.subscribe();
        let mut ts = TsChunks::new(&job.name);
        while let Some(event) = next_event(&mut sub).await {
            let ready = ts.event(event)?;
            for chunk in ready.chunks(DATAGRAM_TS_LEN) {
                out.send(chunk)?;
            }
        }
        let rest = ts.rest();
        if !rest.is_empty() {
            out.send(&rest)?;
        }
        tracing::info!(
            push = job.name,
            stream = job.stream.name(),
            "rist push: the stream ended"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse("rist://10.0.0.1:8193?cname=x&secret=s3cr3t").unwrap();
        assert_eq!(t.url, "rist://10.0.0.1:8193?cname=x&secret=s3cr3t");
        assert!(!t.listener);
        assert!(!t.shown.contains("s3cr3t"), "{}", t.shown);
        let t = parse("rist://:9000").unwrap();
        assert_eq!((t.url.as_str(), t.listener), ("rist://@0.0.0.0:9000", true));
        #[cfg(not(feature = "rist"))]
        {
            let hub = hub::Hub::default();
            let job = Job {
                name: "p".into(),
                stream: hub.stream("s"),
                target: "rist://h:1".into(),
                audio_override: None,
                bytes: Default::default(),
            };
            let e = futures_util::FutureExt::now_or_never(run(&job))
                .unwrap()
                .unwrap_err();
            assert!(e.to_string().contains("built without RIST support"), "{e}");
        }
        for bad in [
            "rist://h",
            "srt://h:1",
            "rist://h:1/path",
            "rist://h:1?cname=a&cname=b",
        ] {
            assert!(matches!(parse(bad), Err(PushError::BadTarget(_))), "{bad}");
        }
    }
}
