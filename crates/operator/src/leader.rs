//! Leader election over a `coordination.k8s.io/v1` Lease, so that of several
//! operator replicas exactly one reconciles at a time.
//!
//! The scheme is the one of client-go's `leaderelection` package:
//!
//! - Every `retry_period` each replica reads the Lease and decides: create
//!   it when it does not exist, renew it when this replica holds it, take it
//!   over when it is free or expired, or wait while another replica holds a
//!   valid lease.
//! - Every write is a `PUT` carrying the `resourceVersion` that was read (or a
//!   `POST` for a new Lease), so when two replicas race only one write lands;
//!   the other gets `409 Conflict` and stays a candidate.
//! - A lease held by another replica counts as expired only when this replica
//!   has seen the very same record unchanged for `leaseDurationSeconds` on its
//!   own monotonic clock (client-go's rule). The holder's `renewTime` is
//!   written for people, not trusted: it comes from another machine's clock.
//!   A holder's renewal is observed only after it was sent, so nobody can
//!   take over before the holder's own deadline, whatever the clock skew.
//! - The holder gives up leadership (`leader` goes `false`) when
//!   `lease_duration - retry_period` has passed since it *sent* its last
//!   successful write without a newer one succeeding. That is at least one
//!   `retry_period` before any other replica may consider the lease expired,
//!   which leaves room for the reconciler to stop and for clock-rate
//!   differences. `lease_duration` must therefore exceed `retry_period`.
//! - On shutdown a holder first drops `leader`, then releases the Lease
//!   (holder cleared, `leaseDurationSeconds: 1`), so another replica takes
//!   over at its next retry instead of waiting for expiry.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};

/// Settings of the election.
#[derive(Clone, Debug)]
pub struct Config {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (`holderIdentity`).
    pub identity: String,
    /// How long a held lease is valid without renewal (`leaseDurationSeconds`,
    /// rounded up to whole seconds). Must be longer than `retry_period`.
    pub lease_duration: Duration,
    /// How often the holder renews and a candidate retries. Each API call is
    /// given half of it before it counts as failed.
    pub retry_period: Duration,
}

/// Runs the election until `shutdown` completes; `leader` is `true` while
/// this replica holds the Lease. On shutdown a held Lease is released.
///
/// API errors and timeouts never end the election: they are logged and the
/// next round retries after `retry_period`. A holder that cannot renew sets
/// `leader` to `false` once `lease_duration - retry_period` has passed since
/// its last successful renewal, before any other replica may take over.
pub async fn run(
    client: kube::Client,
    config: Config,
    leader: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send,
) {
    if config.lease_duration <= config.retry_period {
        tracing::error!(
            lease_duration = ?config.lease_duration,
            retry_period = ?config.retry_period,
            "leader election: the lease duration must exceed the retry period; leadership will not last"
        );
    }
    let mut elector = Elector::new(client, config, leader);
    let mut shutdown = pin!(shutdown);
    loop {
        let retry_period = elector.config.retry_period;
        let hold_until = elector.hold_until;
        let stop = tokio::select! {
            biased;
            () = &mut shutdown => true,
            () = until(hold_until) => false,
            () = elector.round() => false,
        };
        if stop {
            break;
        }
        elector.expire_if_due();

        let hold_until = elector.hold_until;
        let stop = tokio::select! {
            biased;
            () = &mut shutdown => true,
            () = until(hold_until) => false,
            () = sleep(retry_period) => false,
        };
        if stop {
            break;
        }
        elector.expire_if_due();
    }
    elector.release().await;
}

/// Sleeps until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What a replica does with the Lease it has read.
#[derive(Clone, Debug, PartialEq)]
enum Action {
    /// There is no Lease: create this one, held by us.
    Create(LeaseSpec),
    /// We hold the Lease: write this renewed record.
    Renew(LeaseSpec),
    /// The Lease is free or expired: write this record naming us.
    TakeOver(LeaseSpec),
    /// Another replica holds a valid lease, for at least `remaining` more.
    Wait {
        /// The holder's identity.
        holder: String,
        /// Time left before the lease may be taken over, if not renewed.
        remaining: Duration,
    },
}

/// Decides what to do with the Lease record `current` (`None`: there is no
/// Lease), pure of any IO.
///
/// `unchanged_for` is how long this replica has seen `current` unchanged on
/// its own monotonic clock, `now` is the wall-clock time written into
/// `renewTime` and `acquireTime`.
/// Another holder's lease lasts for its recorded `leaseDurationSeconds`, or
/// for `lease_duration` when that is missing or not positive.
fn decide(
    current: Option<&LeaseSpec>,
    unchanged_for: Duration,
    identity: &str,
    now: Timestamp,
    lease_duration: Duration,
) -> Action {
    let seconds = lease_seconds(lease_duration);
    let Some(current) = current else {
        return Action::Create(LeaseSpec {
            holder_identity: Some(identity.to_owned()),
            lease_duration_seconds: Some(seconds),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        });
    };
    let holder = current.holder_identity.as_deref().unwrap_or_default();
    if holder == identity {
        return Action::Renew(LeaseSpec {
            lease_duration_seconds: Some(seconds),
            renew_time: Some(MicroTime(now)),
            ..current.clone()
        });
    }
    if !holder.is_empty() {
        let duration = current
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .filter(|&s| s > 0)
            .map_or(lease_duration, Duration::from_secs);
        // Only this replica's own observation counts: the record unchanged
        // for a whole duration on our clock. The holder's `renewTime` is
        // another machine's clock; trusting it could let a skewed clock
        // shorten or (running ahead) stretch a lease indefinitely.
        let remaining = duration.saturating_sub(unchanged_for);
        if !remaining.is_zero() {
            return Action::Wait {
                holder: holder.to_owned(),
                remaining,
            };
        }
    }
    Action::TakeOver(LeaseSpec {
        holder_identity: Some(identity.to_owned()),
        lease_duration_seconds: Some(seconds),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(current.lease_transitions.unwrap_or(0).saturating_add(1)),
        ..current.clone()
    })
}

/// `leaseDurationSeconds` for `duration`: rounded up, so that others never
/// wait less than this replica's own deadline assumes, and at least 1.
fn lease_seconds(duration: Duration) -> i32 {
    let seconds = duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0));
    i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
}

/// Why an API call failed.
#[derive(Debug)]
enum CallError {
    /// The API server answered with an error, or the answer was malformed.
    Kube(kube::Error),
    /// No answer within the call timeout.
    Timeout(Duration),
    /// The Lease read has no `resourceVersion`, so it cannot be updated safely.
    NoResourceVersion,
}

impl CallError {
    /// Whether the API server refused the write because another one came first.
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(kube::Error::Api(status)) if status.is_conflict())
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kube(e) => write!(f, "{e}"),
            Self::Timeout(after) => write!(f, "no answer within {after:?}"),
            Self::NoResourceVersion => f.write_str("the Lease has no resourceVersion"),
        }
    }
}

/// The election's state between rounds.
struct Elector {
    api: Api<Lease>,
    config: Config,
    leader: watch::Sender<bool>,
    /// Timeout of each API call.
    call_timeout: Duration,
    /// The last record read or written, and when it was first seen so.
    observed: Option<(LeaseSpec, Instant)>,
    /// While leader: when leadership is given up unless renewed before.
    hold_until: Option<Instant>,
}

impl Elector {
    fn new(client: kube::Client, config: Config, leader: watch::Sender<bool>) -> Self {
        leader.send_if_modified(|leader| std::mem::replace(leader, false));
        Self {
            api: Api::namespaced(client, &config.namespace),
            call_timeout: config.retry_period / 2,
            config,
            leader,
            observed: None,
            hold_until: None,
        }
    }

    /// Runs `call` with the call timeout.
    async fn call<T>(&self, call: impl Future<Output = kube::Result<T>>) -> Result<T, CallError> {
        match timeout(self.call_timeout, call).await {
            Ok(result) => result.map_err(CallError::Kube),
            Err(_) => Err(CallError::Timeout(self.call_timeout)),
        }
    }

    /// How long `spec` has been seen unchanged, remembering it from now on.
    fn observe(&mut self, spec: Option<&LeaseSpec>) -> Duration {
        let now = Instant::now();
        match (spec, &self.observed) {
            (Some(spec), Some((seen, since))) if seen == spec => now.saturating_duration_since(*since),
            (Some(spec), _) => {
                self.observed = Some((spec.clone(), now));
                Duration::ZERO
            }
            (None, _) => {
                self.observed = None;
                Duration::ZERO
            }
        }
    }

    /// One round: read the Lease, decide, write if the decision says so.
    async fn round(&mut self) {
        let name = self.config.name.clone();
        let current = match self.call(self.api.get_opt(&name)).await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "leader election: cannot read the Lease");
                return;
            }
        };
        let (metadata, spec) = match current {
            Some(lease) => (Some(lease.metadata), Some(lease.spec.unwrap_or_default())),
            None => (None, None),
        };
        let unchanged_for = self.observe(spec.as_ref());
        let action = decide(
            spec.as_ref(),
            unchanged_for,
            &self.config.identity,
            Timestamp::now(),
            self.config.lease_duration,
        );
        match action {
            Action::Wait { holder, remaining } => {
                tracing::debug!(lease = %name, %holder, ?remaining, "leader election: lease held by another replica");
                self.step_down(&format!("the Lease is held by {holder}"));
            }
            Action::Create(spec) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                let sent = Instant::now();
                let result = self.call(self.api.create(&PostParams::default(), &lease)).await;
                self.written(result, sent, "created the Lease");
            }
            Action::Renew(spec) => self.update(&name, metadata, spec, "renewed its own Lease").await,
            Action::TakeOver(spec) => self.update(&name, metadata, spec, "took over the Lease").await,
        }
    }

    /// Writes `spec` over the Lease read with `metadata`, conditional on its
    /// `resourceVersion`.
    async fn update(&mut self, name: &str, metadata: Option<ObjectMeta>, spec: LeaseSpec, acquired: &str) {
        let metadata = metadata.unwrap_or_default();
        if metadata.resource_version.is_none() {
            self.written(Err(CallError::NoResourceVersion), Instant::now(), acquired);
            return;
        }
        let lease = Lease {
            metadata,
            spec: Some(spec),
        };
        let sent = Instant::now();
        let result = self
            .call(self.api.replace(name, &PostParams::default(), &lease))
            .await;
        self.written(result, sent, acquired);
    }

    /// Applies the outcome of a write sent at `sent`.
    fn written(&mut self, result: Result<Lease, CallError>, sent: Instant, acquired: &str) {
        match result {
            Ok(lease) => {
                self.observed = lease.spec.map(|spec| (spec, Instant::now()));
                let hold_until = sent
                    + self
                        .config
                        .lease_duration
                        .saturating_sub(self.config.retry_period);
                self.hold_until = Some(hold_until);
                if !*self.leader.borrow() {
                    tracing::info!(
                        lease = %self.config.name,
                        identity = %self.config.identity,
                        "leader election: became leader ({acquired})"
                    );
                    self.leader.send_replace(true);
                }
                self.expire_if_due();
            }
            Err(e) if e.is_conflict() => {
                tracing::debug!(lease = %self.config.name, error = %e, "leader election: write conflict");
                self.step_down("another replica wrote the Lease first");
            }
            Err(e) => {
                tracing::warn!(lease = %self.config.name, error = %e, "leader election: cannot write the Lease");
            }
        }
    }

    /// Gives up leadership when its deadline has passed.
    fn expire_if_due(&mut self) {
        if self.hold_until.is_some_and(|deadline| Instant::now() >= deadline) {
            self.step_down("the Lease could not be renewed in time");
        }
    }

    /// Stops being leader, if this replica is, logging `reason`.
    fn step_down(&mut self, reason: &str) {
        self.hold_until = None;
        if *self.leader.borrow() {
            self.leader.send_replace(false);
            tracing::warn!(
                lease = %self.config.name,
                identity = %self.config.identity,
                "leader election: lost leadership: {reason}"
            );
        }
    }

    /// On shutdown: stops being leader and, if this replica was, hands the
    /// Lease back so another one takes over at once.
    async fn release(&mut self) {
        if !*self.leader.borrow() {
            return;
        }
        self.hold_until = None;
        self.leader.send_replace(false);
        tracing::info!(
            lease = %self.config.name,
            identity = %self.config.identity,
            "leader election: lost leadership: shutting down; releasing the Lease"
        );
        if let Err(e) = self.give_back().await {
            tracing::warn!(lease = %self.config.name, error = %e, "leader election: cannot release the Lease");
        }
    }

    /// Clears the holder of the Lease if it is still this replica.
    async fn give_back(&self) -> Result<(), CallError> {
        let name = &self.config.name;
        let Some(lease) = self.call(self.api.get_opt(name)).await? else {
            return Ok(());
        };
        let mut spec = lease.spec.unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        if lease.metadata.resource_version.is_none() {
            return Err(CallError::NoResourceVersion);
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now);
        let released = Lease {
            metadata: lease.metadata,
            spec: Some(spec),
        };
        self.call(self.api.replace(name, &PostParams::default(), &released))
            .await?;
        tracing::info!(lease = %name, "leader election: released the Lease");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, Request, Response};
    use k8s_openapi::jiff::SignedDuration;
    use kube::client::Body;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use tokio::sync::oneshot;
    use tower_test::mock;

    const LEASE: Duration = Duration::from_secs(15);
    const RETRY: Duration = Duration::from_secs(2);
    const COLLECTION: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";
    const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/operator";

    fn config() -> Config {
        Config {
            namespace: "ns".into(),
            name: "operator".into(),
            identity: "me".into(),
            lease_duration: LEASE,
            retry_period: RETRY,
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn spec(holder: Option<&str>, renewed: Timestamp, seconds: i32, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: Some(seconds),
            acquire_time: Some(MicroTime(at(-1000))),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    // ---- the pure decision ----

    #[test]
    fn decide_creates_a_missing_lease() {
        let action = decide(None, Duration::ZERO, "me", at(0), LEASE);
        let Action::Create(spec) = action else {
            panic!("expected Create, got {action:?}")
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("me"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(0))));
        assert_eq!(spec.renew_time, Some(MicroTime(at(0))));
    }

    #[test]
    fn decide_renews_its_own_lease_keeping_acquire_time_and_transitions() {
        let current = spec(Some("me"), at(-100), 15, 4);
        let action = decide(Some(&current), Duration::from_secs(100), "me", at(0), LEASE);
        let expected = LeaseSpec {
            renew_time: Some(MicroTime(at(0))),
            ..current
        };
        assert_eq!(action, Action::Renew(expected));
    }

    #[test]
    fn decide_waits_for_a_valid_lease_of_another() {
        let current = spec(Some("other"), at(-5), 15, 2);
        let action = decide(Some(&current), Duration::from_secs(5), "me", at(0), LEASE);
        assert_eq!(
            action,
            Action::Wait {
                holder: "other".into(),
                remaining: Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn decide_counts_only_its_own_observation_of_the_lease() {
        // Stamped long ago, but only just seen: the holder's clock may lag ours.
        let current = spec(Some("other"), at(-3600), 15, 2);
        let action = decide(Some(&current), Duration::from_secs(3), "me", at(0), LEASE);
        assert_eq!(
            action,
            Action::Wait {
                holder: "other".into(),
                remaining: Duration::from_secs(12)
            }
        );
        // Seen unchanged for a whole duration: taken over, whatever the
        // holder's clock wrote (here an hour in our future).
        let current = spec(Some("other"), at(3600), 15, 2);
        let action = decide(Some(&current), Duration::from_secs(15), "me", at(0), LEASE);
        assert!(matches!(action, Action::TakeOver(_)), "{action:?}");
    }

    #[test]
    fn decide_takes_over_an_expired_lease_counting_a_transition() {
        let current = spec(Some("other"), at(-20), 15, 2);
        let action = decide(
            Some(&current),
            Duration::from_secs(15),
            "me",
            at(0),
            Duration::from_secs(30),
        );
        let expected = LeaseSpec {
            holder_identity: Some("me".into()),
            lease_duration_seconds: Some(30),
            acquire_time: Some(MicroTime(at(0))),
            renew_time: Some(MicroTime(at(0))),
            lease_transitions: Some(3),
            ..current
        };
        assert_eq!(action, Action::TakeOver(expected));
    }

    #[test]
    fn decide_takes_over_a_released_lease_at_once() {
        for holder in [None, Some("")] {
            let current = spec(holder, at(0), 1, 7);
            let action = decide(Some(&current), Duration::ZERO, "me", at(0), LEASE);
            let Action::TakeOver(spec) = action else {
                panic!("expected TakeOver, got {action:?}")
            };
            assert_eq!(spec.holder_identity.as_deref(), Some("me"));
            assert_eq!(spec.lease_transitions, Some(8));
        }
        // A Lease without spec is free too.
        let action = decide(Some(&LeaseSpec::default()), Duration::ZERO, "me", at(0), LEASE);
        assert!(
            matches!(&action, Action::TakeOver(s) if s.lease_transitions == Some(1)),
            "{action:?}"
        );
    }

    #[test]
    fn decide_uses_its_own_duration_when_the_recorded_one_is_unusable() {
        for seconds in [0, -5] {
            let current = spec(Some("other"), at(-100), seconds, 0);
            let action = decide(Some(&current), Duration::from_secs(10), "me", at(0), LEASE);
            assert_eq!(
                action,
                Action::Wait {
                    holder: "other".into(),
                    remaining: Duration::from_secs(5)
                }
            );
        }
    }

    #[test]
    fn lease_seconds_round_up_and_stay_positive() {
        assert_eq!(lease_seconds(Duration::from_secs(15)), 15);
        assert_eq!(lease_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(lease_seconds(Duration::ZERO), 1);
        assert_eq!(lease_seconds(Duration::MAX), i32::MAX);
    }

    fn holder() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some(String::new())),
            Just(Some("a".to_owned())),
            Just(Some("b".to_owned())),
            Just(Some("c".to_owned())),
        ]
    }

    proptest! {
        /// Of two candidates reading the same record, both may write only when
        /// the lease is free or expired: a valid lease is written by its holder
        /// alone, and only the holder ever renews.
        #[test]
        fn two_candidates_never_both_hold_a_valid_lease(
            holder in holder(),
            renewed in -100i64..100,
            seconds in -2i32..40,
            transitions in 0i32..1000,
            seen_a in 0u64..60_000,
            seen_b in 0u64..60_000,
            own_a in 1u64..60,
            own_b in 1u64..60,
        ) {
            let current = spec(holder.as_deref(), at(renewed), seconds, transitions);
            let a = decide(Some(&current), Duration::from_millis(seen_a), "a", at(0), Duration::from_secs(own_a));
            let b = decide(Some(&current), Duration::from_millis(seen_b), "b", at(0), Duration::from_secs(own_b));
            let free = holder.as_deref().is_none_or(str::is_empty);
            if !free {
                // Whoever does not hold the lease takes it over only once it has
                // expired: its recorded duration (else the reader's own) has passed
                // since the reader first saw the record, on the reader's own clock.
                let _ = renewed;
                for (action, seen, own) in [(&a, seen_a, own_a), (&b, seen_b, own_b)] {
                    if matches!(action, Action::TakeOver(_)) {
                        let duration = u64::try_from(seconds).ok().filter(|&s| s > 0).unwrap_or(own);
                        prop_assert!(seen >= duration * 1000, "taken over when seen unchanged too briefly");
                    }
                }
            }
            for (action, me) in [(&a, "a"), (&b, "b")] {
                let holds = holder.as_deref() == Some(me);
                prop_assert_eq!(matches!(action, Action::Renew(_)), holds);
                if let Action::Renew(s) | Action::TakeOver(s) | Action::Create(s) = action {
                    prop_assert_eq!(s.holder_identity.as_deref(), Some(me));
                }
                if let Action::TakeOver(s) = action {
                    prop_assert_eq!(s.lease_transitions, Some(transitions + 1));
                }
            }
        }
    }

    /// A replica in the simulation below: the shell's rules over `decide`.
    #[derive(Default)]
    struct Sim {
        observed: Option<(LeaseSpec, u64)>,
        pending: Option<(LeaseSpec, Option<u64>)>,
        hold_until: Option<u64>,
        leading_since: Option<u64>,
        terms: Vec<(u64, u64)>,
    }

    impl Sim {
        fn end_term(&mut self, at: u64) {
            if let Some(since) = self.leading_since.take() {
                self.terms.push((since, at));
            }
            self.hold_until = None;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Three replicas with skewed wall clocks read, decide and write a
        /// Lease in any interleaving, with writes that conflict or whose answer
        /// is lost; their leadership terms, as the shell keeps them (from a
        /// successful write until `lease_duration - retry_period` after it was
        /// sent, or until a read or write shows the lease is gone), never overlap.
        #[test]
        fn simulated_replicas_never_lead_at_once(
            skews in proptest::collection::vec(-5_000i64..5_000, 3),
            steps in proptest::collection::vec((0usize..3, 0u8..4, 0u64..1_500), 1..300),
        ) {
            const L: u64 = 15_000;
            const R: u64 = 2_000;
            let names = ["a", "b", "c"];
            let mut store: Option<(LeaseSpec, u64)> = None;
            let mut replicas: Vec<Sim> = (0..3).map(|_| Sim::default()).collect();
            let mut t = 0u64;
            for (i, kind, advance) in steps {
                t += advance;
                for r in &mut replicas {
                    if let Some(until) = r.hold_until.filter(|&until| until <= t) {
                        r.end_term(until);
                    }
                }
                let now = at(0) + SignedDuration::from_millis(i64::try_from(t).unwrap() + skews[i]);
                let r = &mut replicas[i];
                match kind {
                    // Read and decide.
                    0 | 1 => {
                        let current = store.as_ref().map(|(spec, _)| spec);
                        let unchanged_for = match (current, &r.observed) {
                            (Some(c), Some((seen, since))) if c == seen => t - since,
                            (Some(c), _) => { r.observed = Some((c.clone(), t)); 0 }
                            (None, _) => { r.observed = None; 0 }
                        };
                        match decide(current, Duration::from_millis(unchanged_for), names[i], now, Duration::from_millis(L)) {
                            Action::Wait { .. } => { r.end_term(t); r.pending = None; }
                            Action::Create(spec) => r.pending = Some((spec, None)),
                            Action::Renew(spec) | Action::TakeOver(spec) => {
                                r.pending = Some((spec, store.as_ref().map(|(_, v)| *v)));
                            }
                        }
                    }
                    // Write what was decided; with kind 3 the answer is lost.
                    _ => {
                        let Some((spec, expected)) = r.pending.take() else { continue };
                        if store.as_ref().map(|(_, v)| *v) != expected {
                            r.end_term(t);
                            continue;
                        }
                        let version = expected.unwrap_or(0) + 1;
                        store = Some((spec.clone(), version));
                        if kind == 2 {
                            r.observed = Some((spec, t));
                            r.hold_until = Some(t + L - R);
                            r.leading_since.get_or_insert(t);
                        }
                    }
                }
            }
            for r in &mut replicas {
                let end = r.hold_until.unwrap_or(t).min(t);
                r.end_term(end);
            }
            for (i, a) in replicas.iter().enumerate() {
                for b in &replicas[i + 1..] {
                    for &(s1, e1) in &a.terms {
                        for &(s2, e2) in &b.terms {
                            prop_assert!(e1 <= s2 || e2 <= s1, "terms overlap: {:?} {:?}", (s1, e1), (s2, e2));
                        }
                    }
                }
            }
        }
    }

    // ---- the shell, against a mock API server ----

    type Responder = mock::SendResponse<Response<Body>>;

    /// A request as the mock API server received it.
    struct Call {
        method: Method,
        path: String,
        body: Value,
        at: Instant,
        respond: Responder,
    }

    /// `run` spawned against a mock API server.
    struct Harness {
        api: mock::Handle<Request<Body>, Response<Body>>,
        leader: watch::Receiver<bool>,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Harness {
        fn start() -> Self {
            let (service, api) = mock::pair::<Request<Body>, Response<Body>>();
            let client = kube::Client::new(service, "default");
            let (sender, leader) = watch::channel(false);
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(run(client, config(), sender, async {
                let _ = stopped.await;
            }));
            Self {
                api,
                leader,
                stop: Some(stop),
                task,
            }
        }

        async fn next(&mut self) -> Call {
            receive(&mut self.api).await
        }

        /// The next request, which must be a GET of the Lease.
        async fn get(&mut self) -> Call {
            let call = self.next().await;
            assert_eq!((&call.method, call.path.as_str()), (&Method::GET, PATH));
            call
        }

        /// Takes the Lease from nothing: 404, then a create answered with
        /// `resourceVersion: "1"`. Returns when the create was sent.
        async fn acquire(&mut self) -> Instant {
            self.get().await.respond.send_response(status(404, "NotFound"));
            let create = self.next().await;
            assert_eq!(
                (&create.method, create.path.as_str()),
                (&Method::POST, COLLECTION)
            );
            let sent = create.at;
            create.respond.send_response(answer(create.body, "1"));
            self.leader.wait_for(|&leader| leader).await.unwrap();
            sent
        }

        async fn shutdown(&mut self) {
            self.stop.take().unwrap().send(()).unwrap();
        }
    }

    async fn receive(api: &mut mock::Handle<Request<Body>, Response<Body>>) -> Call {
        let (request, respond) = api.next_request().await.expect("run stopped calling the API");
        let at = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Call {
            method,
            path,
            body,
            at,
            respond,
        }
    }

    fn status(code: u16, reason: &str) -> Response<Body> {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "reason": reason, "code": code, "message": reason,
        });
        Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(&status).unwrap()))
            .unwrap()
    }

    fn ok(body: &Value) -> Response<Body> {
        Response::builder()
            .status(200)
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap()
    }

    /// The server's answer to a write of `lease`: the same with a new `resourceVersion`.
    fn answer(mut lease: Value, resource_version: &str) -> Response<Body> {
        lease["metadata"]["resourceVersion"] = json!(resource_version);
        ok(&lease)
    }

    fn lease(resource_version: &str, spec: &LeaseSpec) -> Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": { "name": "operator", "namespace": "ns", "resourceVersion": resource_version },
            "spec": spec,
        })
    }

    fn micro(timestamp: Timestamp) -> Value {
        serde_json::to_value(MicroTime(timestamp)).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn creates_a_missing_lease_leads_and_renews() {
        let mut h = Harness::start();
        h.get().await.respond.send_response(status(404, "NotFound"));
        let create = h.next().await;
        assert_eq!(
            (&create.method, create.path.as_str()),
            (&Method::POST, COLLECTION)
        );
        assert_eq!(create.body["metadata"]["name"], "operator");
        assert_eq!(create.body["spec"]["holderIdentity"], "me");
        assert_eq!(create.body["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(create.body["spec"]["leaseTransitions"], 0);
        assert_eq!(
            create.body["spec"]["acquireTime"],
            create.body["spec"]["renewTime"]
        );
        assert!(!*h.leader.borrow(), "leader before the create succeeded");
        let created = create.body.clone();
        create.respond.send_response(answer(create.body, "1"));
        h.leader.wait_for(|&leader| leader).await.unwrap();

        // The holder renews every retry period, conditional on what it read.
        let get = h.get().await;
        assert_eq!(get.at - create.at, RETRY);
        get.respond.send_response(answer(created.clone(), "1"));
        let renew = h.next().await;
        assert_eq!((&renew.method, renew.path.as_str()), (&Method::PUT, PATH));
        assert_eq!(renew.body["metadata"]["resourceVersion"], "1");
        assert_eq!(renew.body["spec"]["holderIdentity"], "me");
        assert_eq!(renew.body["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(renew.body["spec"]["leaseTransitions"], 0);
        assert_eq!(renew.body["spec"]["acquireTime"], created["spec"]["acquireTime"]);
        renew.respond.send_response(answer(renew.body, "2"));
        assert!(*h.leader.borrow());
        assert!(!h.task.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn waits_while_another_replica_holds_a_valid_lease() {
        let mut h = Harness::start();
        let start = Instant::now();
        // The other holder renews between our reads, for well over a lease duration.
        for round in 0..12u32 {
            let get = h.get().await;
            assert_eq!(get.at - start, RETRY * round);
            let spec = spec(Some("other"), Timestamp::now(), 15, 3);
            get.respond
                .send_response(ok(&lease(&format!("{}", 10 + round), &spec)));
        }
        assert!(!*h.leader.borrow());
        assert!(!h.leader.has_changed().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn takes_over_an_expired_lease() {
        let mut h = Harness::start();
        // Stamped an hour ago and never renewed again.
        let stale = spec(
            Some("other"),
            Timestamp::now() - SignedDuration::from_hours(1),
            15,
            3,
        );
        let first = h.get().await;
        let seen = first.at;
        first.respond.send_response(ok(&lease("7", &stale)));
        let takeover = loop {
            let call = h.next().await;
            if call.method == Method::GET {
                assert!(
                    call.at - seen < LEASE + RETRY,
                    "still reading after the lease expired"
                );
                call.respond.send_response(ok(&lease("7", &stale)));
                continue;
            }
            break call;
        };
        // Taken over only once seen unchanged for the whole lease duration.
        assert!(takeover.at - seen >= LEASE);
        assert_eq!((&takeover.method, takeover.path.as_str()), (&Method::PUT, PATH));
        assert_eq!(takeover.body["metadata"]["resourceVersion"], "7");
        assert_eq!(takeover.body["spec"]["holderIdentity"], "me");
        assert_eq!(takeover.body["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(takeover.body["spec"]["leaseTransitions"], 4);
        assert_eq!(
            takeover.body["spec"]["acquireTime"],
            takeover.body["spec"]["renewTime"]
        );
        assert_ne!(
            takeover.body["spec"]["acquireTime"],
            micro(stale.acquire_time.unwrap().0)
        );
        assert!(!*h.leader.borrow());
        takeover.respond.send_response(answer(takeover.body, "8"));
        h.leader.wait_for(|&leader| leader).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn takes_over_a_released_lease_at_once() {
        let mut h = Harness::start();
        let released = spec(None, Timestamp::now(), 1, 5);
        h.get().await.respond.send_response(ok(&lease("9", &released)));
        let takeover = h.next().await;
        assert_eq!((&takeover.method, takeover.path.as_str()), (&Method::PUT, PATH));
        assert_eq!(takeover.body["metadata"]["resourceVersion"], "9");
        assert_eq!(takeover.body["spec"]["holderIdentity"], "me");
        assert_eq!(takeover.body["spec"]["leaseTransitions"], 6);
        takeover.respond.send_response(answer(takeover.body, "10"));
        h.leader.wait_for(|&leader| leader).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn conflict_on_update_means_not_leader() {
        let mut h = Harness::start();
        let released = spec(None, Timestamp::now(), 1, 5);
        h.get().await.respond.send_response(ok(&lease("9", &released)));
        let takeover = h.next().await;
        assert_eq!(takeover.method, Method::PUT);
        assert_eq!(takeover.body["metadata"]["resourceVersion"], "9");
        takeover.respond.send_response(status(409, "Conflict"));
        // Back to reading after a retry period, never having led.
        let get = h.get().await;
        assert_eq!(get.at - takeover.at, RETRY);
        assert!(!*h.leader.borrow());
        assert!(!h.leader.has_changed().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn conflict_on_create_means_not_leader() {
        let mut h = Harness::start();
        h.get().await.respond.send_response(status(404, "NotFound"));
        let create = h.next().await;
        assert_eq!(create.method, Method::POST);
        create.respond.send_response(status(409, "AlreadyExists"));
        let get = h.get().await;
        assert_eq!(get.at - create.at, RETRY);
        assert!(!*h.leader.borrow());
        assert!(!h.leader.has_changed().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn conflict_on_renew_loses_leadership() {
        let mut h = Harness::start();
        h.acquire().await;
        let get = h.get().await;
        get.respond
            .send_response(ok(&lease("1", &spec(Some("me"), Timestamp::now(), 15, 0))));
        let renew = h.next().await;
        assert_eq!(renew.method, Method::PUT);
        renew.respond.send_response(status(409, "Conflict"));
        h.leader.wait_for(|&leader| !leader).await.unwrap();
    }

    /// After acquiring, every renewal fails through `fail`; returns how long
    /// after the acquiring write was sent leadership was given up.
    async fn step_down_time(mut fail: impl FnMut(Call)) -> Duration {
        let mut h = Harness::start();
        let sent = h.acquire().await;
        loop {
            tokio::select! {
                changed = h.leader.changed() => {
                    changed.unwrap();
                    assert!(!*h.leader.borrow());
                    return Instant::now() - sent;
                }
                call = receive(&mut h.api) => {
                    assert_eq!(call.method, Method::GET);
                    fail(call);
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn steps_down_before_expiry_when_renewals_fail() {
        let held = step_down_time(|call| call.respond.send_response(status(500, "InternalError"))).await;
        assert_eq!(held, LEASE - RETRY);
    }

    #[tokio::test(start_paused = true)]
    async fn steps_down_before_expiry_when_the_api_does_not_answer() {
        let mut hanging = Vec::new();
        let mut reads = Vec::new();
        let held = step_down_time(|call| {
            reads.push(call.at);
            hanging.push(call.respond);
        })
        .await;
        assert_eq!(held, LEASE - RETRY);
        // Each read gave up after half a retry period, then waited a retry
        // period (until the step-down, which starts a new round at once).
        assert!(reads.len() >= 4);
        for pair in reads[..4].windows(2) {
            assert_eq!(pair[1] - pair[0], RETRY / 2 + RETRY);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn malformed_leases_are_retried_not_trusted() {
        let mut h = Harness::start();
        let first = h.get().await;
        first.respond.send_response(ok(
            &json!({"kind": "Lease", "spec": {"leaseDurationSeconds": "soon"}}),
        ));
        // A Lease without resourceVersion cannot be updated safely.
        let second = h.get().await;
        assert_eq!(second.at - first.at, RETRY);
        let mut unversioned = lease("1", &spec(None, Timestamp::now(), 1, 0));
        unversioned["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        second.respond.send_response(ok(&unversioned));
        let third = h.get().await;
        assert_eq!(third.at - second.at, RETRY);
        assert!(!*h.leader.borrow());
        assert!(!h.leader.has_changed().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_steps_down_then_releases_the_lease() {
        let mut h = Harness::start();
        h.acquire().await;
        h.shutdown().await;
        let get = h.get().await;
        assert!(!*h.leader.borrow(), "still leader while releasing");
        get.respond
            .send_response(ok(&lease("4", &spec(Some("me"), Timestamp::now(), 15, 2))));
        let release = h.next().await;
        assert_eq!((&release.method, release.path.as_str()), (&Method::PUT, PATH));
        assert_eq!(release.body["metadata"]["resourceVersion"], "4");
        assert!(
            release.body["spec"]
                .get("holderIdentity")
                .is_none_or(Value::is_null)
        );
        assert_eq!(release.body["spec"]["leaseDurationSeconds"], 1);
        assert_eq!(release.body["spec"]["leaseTransitions"], 2);
        release.respond.send_response(answer(release.body, "5"));
        (&mut h.task).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_release_failure_still_ends() {
        let mut h = Harness::start();
        h.acquire().await;
        h.shutdown().await;
        h.get()
            .await
            .respond
            .send_response(status(503, "ServiceUnavailable"));
        (&mut h.task).await.unwrap();
        assert!(!*h.leader.borrow());
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_of_a_candidate_writes_nothing() {
        let mut h = Harness::start();
        let get = h.get().await;
        get.respond
            .send_response(ok(&lease("3", &spec(Some("other"), Timestamp::now(), 15, 0))));
        h.shutdown().await;
        (&mut h.task).await.unwrap();
        assert!(
            h.api.next_request().await.is_none(),
            "a candidate touched the Lease on shutdown"
        );
        assert!(!*h.leader.borrow());
    }
}
