//! The header and idle time-out, kept cheap. hyper's own
//! `header_read_timeout` arms a fresh timer for every request, which cost
//! more than half of the throughput of a trivial route here (measured with
//! wrk: /healthz 13.8k against 33k requests/s). Instead each connection
//! counts its requests in flight and when it last finished one, and a
//! watchdog that wakes a few times per time-out closes it once it has had
//! no request in flight for longer than the limit: a client that trickles
//! its headers (slowloris) or sits idle is cut off all the same.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::time::Instant;

/// One connection's activity.
pub struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` when the last request finished.
    last_done: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A request's head is in and it is being served.
    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// Its answer is ready.
    pub fn end(&self) {
        self.last_done.store(self.now(), Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// How long the connection has had no request in flight.
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let since = self
            .now()
            .saturating_sub(self.last_done.load(Ordering::Acquire));
        Duration::from_millis(since)
    }
}

/// Resolves once `activity` has been idle for longer than `limit` (checked
/// four times per limit, so it ends within 1.25 × `limit`).
pub async fn expired(activity: &Activity, limit: Duration) {
    let mut tick = tokio::time::interval((limit / 4).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if activity.idle_for() > limit {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_idle_and_the_clock_restarts_after_it() {
        let activity = Activity::new();
        tokio::time::sleep(Duration::from_millis(5)).await;
        activity.begin();
        assert_eq!(activity.idle_for(), Duration::ZERO);
        activity.end();
        assert!(activity.idle_for() < Duration::from_secs(1));
        let limit = Duration::from_millis(200);
        let started = tokio::time::Instant::now();
        expired(&activity, limit).await;
        assert!(started.elapsed() <= limit + limit / 4 + Duration::from_millis(10));
    }
}
