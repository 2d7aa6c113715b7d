//! Brute-force protection: after `LOGIN_MAX_FAILURES` failed logins for one
//! partner number within `LOGIN_FAILURE_WINDOW`, further attempts are refused
//! with 429 until the window has passed. The check runs before any hashing.

use std::time::Duration;

use sqlx::PgPool;

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
    /// No failure on record: nothing to clear after a success.
    Clean,
    /// Some failures, not (or no longer) enough to lock.
    Failed,
    /// Locked: retry after this many seconds.
    Locked(u64),
}

/// Where a partner number stands, in one query.
pub async fn standing(
    pool: &PgPool,
    policy: Policy,
    partner_number: i32,
) -> sqlx::Result<Standing> {
    let row: Option<(bool, f64)> = sqlx::query_as(
        "select failures >= $2 and window_started_at + make_interval(secs => $3) > clock_timestamp(),
                extract(epoch from (window_started_at + make_interval(secs => $3) - clock_timestamp()))::float8
         from login_failures
         where partner_number = $1",
    )
    .bind(partner_number)
    .bind(i32::try_from(policy.max_failures).unwrap_or(i32::MAX))
    .bind(window_seconds(policy))
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Standing::Clean,
        Some((true, seconds)) => Standing::Locked(seconds.ceil().max(1.0) as u64),
        Some((false, _)) => Standing::Failed,
    })
}

/// Counts a failure, starting a new window when the last one has passed.
pub async fn record_failure(
    pool: &PgPool,
    policy: Policy,
    partner_number: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into login_failures (partner_number, failures, window_started_at)
         values ($1, 1, clock_timestamp())
         on conflict (partner_number) do update set
             failures = case when login_failures.window_started_at + make_interval(secs => $2) > clock_timestamp()
                             then login_failures.failures + 1 else 1 end,
             window_started_at = case when login_failures.window_started_at + make_interval(secs => $2) > clock_timestamp()
                             then login_failures.window_started_at else clock_timestamp() end,
             updated_at = now()",
    )
    .bind(partner_number)
    .bind(window_seconds(policy))
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the failures after a successful login.
pub async fn clear(pool: &PgPool, partner_number: i32) -> sqlx::Result<()> {
    sqlx::query("delete from login_failures where partner_number = $1")
        .bind(partner_number)
        .execute(pool)
        .await?;
    Ok(())
}
