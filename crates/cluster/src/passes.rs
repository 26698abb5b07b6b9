//! The schedule of a node's periodic store passes (ownership, push status):
//! every `period` and whenever the node's lease changes; a failure is logged
//! once until a pass succeeds again.

use std::time::Duration;

use store::LeaseId;
use tokio::sync::watch;

/// When the next pass runs, and whether the last ones failed.
pub(crate) struct Passes {
    tick: tokio::time::Interval,
    lease: watch::Receiver<Option<LeaseId>>,
    failing: bool,
}

impl Passes {
    pub(crate) fn new(lease: watch::Receiver<Option<LeaseId>>, period: Duration) -> Self {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            tick,
            lease,
            failing: false,
        }
    }

    /// Waits for the next pass; the lease to run it with, or `None` when the
    /// session is gone.
    pub(crate) async fn next(&mut self) -> Option<Option<LeaseId>> {
        tokio::select! {
            _ = self.tick.tick() => {}
            r = self.lease.changed() => r.ok()?,
        }
        Some(*self.lease.borrow_and_update())
    }

    /// Notes a pass's result; logs `what` at the first of a run of failures.
    pub(crate) fn report<T>(&mut self, result: store::Result<T>, what: &str) {
        match result {
            Ok(_) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    tracing::warn!(error = %e, "{what}; retrying");
                }
                self.failing = true;
            }
        }
    }
}
