//! Brute-force protection: after `LOGIN_MAX_FAILURES` failed logins for one
//! partner number within `LOGIN_FAILURE_WINDOW`, further attempts are refused
//! with 429 until the window has passed. The check runs before any hashing.
//!
//! Checks of one number run one at a time: [`begin`] locks the number's row
//! in `login_failures` for the transaction that also reads the partner and
//! records the outcome. Without that, a burst of simultaneous guesses would
//! all read "no failures yet" and all be judged, however many there were.

use std::time::Duration;

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

/// How many failures, within how long, lock a partner number.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_failures: u32,
    pub window: Duration,
}

fn window_seconds(policy: Policy) -> f64 {
    policy.window.as_secs_f64()
}

/// A partner number's failed logins, as the check before a login sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No failure within the window: nothing to clear after a success.
    Clean,
    /// Some failures, not enough to lock.
    Failed,
    /// Locked: retry after this many seconds.
    Locked(u64),
}

/// Opens the transaction of one credential check and takes the number's
/// lock, which the transaction holds until it ends: concurrent checks of
/// the same number wait here and then see this one's outcome. A window that
/// has passed is reset on the way. One statement: the upsert locks the row
/// (creating it if need be) and reads its newest version.
pub async fn begin(
    pool: &PgPool,
    policy: Policy,
    partner_number: i32,
) -> sqlx::Result<(Transaction<'static, Postgres>, Standing)> {
    let mut transaction = pool.begin().await?;
    let (failures, locked, seconds_left): (i32, bool, f64) = sqlx::query_as(
        "insert into login_failures as f (partner_number, failures, window_started_at)
         values ($1, 0, clock_timestamp())
         on conflict (partner_number) do update set
             failures = case when f.window_started_at + make_interval(secs => $3) > clock_timestamp()
                             then f.failures else 0 end,
             window_started_at = case when f.window_started_at + make_interval(secs => $3) > clock_timestamp()
                             then f.window_started_at else clock_timestamp() end
         returning failures, failures >= $2,
             extract(epoch from (window_started_at + make_interval(secs => $3) - clock_timestamp()))::float8",
    )
    .bind(partner_number)
    .bind(i32::try_from(policy.max_failures).unwrap_or(i32::MAX))
    .bind(window_seconds(policy))
    .fetch_one(&mut *transaction)
    .await?;
    let standing = match (locked, failures) {
        (true, _) => Standing::Locked(seconds_left.ceil().max(1.0) as u64),
        (false, 0) => Standing::Clean,
        (false, _) => Standing::Failed,
    };
    Ok((transaction, standing))
}

/// Counts a failure within the window [`begin`] read (and reset if it had
/// passed).
pub async fn record_failure(
    connection: &mut PgConnection,
    partner_number: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "update login_failures set failures = failures + 1, updated_at = now()
         where partner_number = $1",
    )
    .bind(partner_number)
    .execute(connection)
    .await?;
    Ok(())
}

/// Forgets the failures after a successful login.
pub async fn clear(connection: &mut PgConnection, partner_number: i32) -> sqlx::Result<()> {
    sqlx::query(
        "update login_failures set failures = 0, updated_at = now() where partner_number = $1",
    )
    .bind(partner_number)
    .execute(connection)
    .await?;
    Ok(())
}
