//! Rate limits (GCRA, from governor): per client address on every public
//! route, and per partner on the routes that log in. A refused request gets
//! 429 with `Retry-After`; every answer says `X-RateLimit-Limit` and
//! `X-RateLimit-Remaining`.

use std::{
    hash::Hash,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderValue,
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
    Quota, RateLimiter,
};

use crate::{
    error::{ApiError, Style},
    request_id::RequestContext,
    AppState,
};

type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// What a limiter said.
#[derive(Debug, Clone, Copy)]
pub enum Verdict {
    Allowed { limit: u32, remaining: u32 },
    Limited { limit: u32, retry_after: u64 },
}

/// The gateway's limiters.
pub struct RateLimits {
    per_address: Limiter<IpAddr>,
    per_partner: Limiter<u32>,
    clock: DefaultClock,
}

fn limiter<K: Hash + Eq + Clone>(per_second: NonZeroU32) -> Limiter<K> {
    RateLimiter::keyed(Quota::per_second(per_second))
        .with_middleware::<StateInformationMiddleware>()
}

impl RateLimits {
    pub fn new(per_address: NonZeroU32, per_partner: NonZeroU32) -> Self {
        Self {
            per_address: limiter(per_address),
            per_partner: limiter(per_partner),
            clock: DefaultClock::default(),
        }
    }

    fn check<K: Hash + Eq + Clone>(&self, limiter: &Limiter<K>, key: &K) -> Verdict {
        match limiter.check_key(key) {
            Ok(state) => Verdict::Allowed {
                limit: state.quota().burst_size().get(),
                remaining: state.remaining_burst_capacity(),
            },
            Err(not_until) => Verdict::Limited {
                limit: not_until.quota().burst_size().get(),
                retry_after: not_until.wait_time_from(self.clock.now()).as_secs().max(1),
            },
        }
    }

    pub fn check_address(&self, address: IpAddr) -> Verdict {
        self.check(&self.per_address, &address)
    }

    pub fn check_partner(&self, partner_number: u32) -> Verdict {
        self.check(&self.per_partner, &partner_number)
    }

    /// Forgets keys that are back to a full bucket, so memory stays bounded.
    pub fn retain_recent(&self) {
        self.per_address.retain_recent();
        self.per_partner.retain_recent();
    }
}

impl Verdict {
    /// The 429 for a refused request, in the route's error shape.
    pub fn refusal(self, style: Style, context: &RequestContext, what: &str) -> Option<Response> {
        let Verdict::Limited { limit, retry_after } = self else {
            return None;
        };
        let mut error = ApiError::new(
            style,
            &context.request_id,
            429,
            common::error::code::TOO_MANY_REQUESTS,
            format!("too many requests {what}; try again in {retry_after} s"),
        );
        error.retry_after = Some(retry_after);
        let mut response = error.into_response();
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(0));
        headers.insert("x-ratelimit-reset", HeaderValue::from(retry_after));
        Some(response)
    }
}

/// Middleware: the per-address limit on every public route but the probes.
pub async fn per_address(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(request).await;
    }
    let Some(address) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
    else {
        return next.run(request).await;
    };
    let verdict = state.rate_limits.check_address(address);
    let style = if path.starts_with("/v1/auth/") {
        Style::OAuth
    } else {
        Style::Plain
    };
    if let Some(refusal) = verdict.refusal(style, &context, "from this address") {
        return refusal;
    }
    let mut response = next.run(request).await;
    if let Verdict::Allowed { limit, remaining } = verdict {
        let headers = response.headers_mut();
        headers
            .entry("x-ratelimit-limit")
            .or_insert(HeaderValue::from(limit));
        headers
            .entry("x-ratelimit-remaining")
            .or_insert(HeaderValue::from(remaining));
    }
    response
}
