//! The gateway: the single HTTP entry point. Each route decodes the HTTP
//! request, sends one NATS request, and maps the reply (or the service's
//! error) back to HTTP. It never touches Postgres.

pub mod bus;
pub mod config;
pub mod error;
pub mod forms;
pub mod framing_errors;
pub mod idle_watch;
pub mod listener;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod stalled_writes;

use std::{future::Future, sync::Arc};

use axum::Router;
use tokio::net::TcpListener;

pub use config::GatewayConfig;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub client: async_nats::Client,
    pub config: Arc<GatewayConfig>,
    pub rate_limits: Arc<rate_limit::RateLimits>,
    pub routes: Arc<routes::discovered::RouteTable>,
}

/// The public router (partners) and the operator router (ADMIN_ADDR).
pub fn routers(config: GatewayConfig, client: async_nats::Client) -> (Router, Router) {
    metrics::handle();
    let rate_limits = Arc::new(rate_limit::RateLimits::new(
        config.rate_limit_per_address,
        config.rate_limit_per_partner,
    ));
    // Keys whose bucket is full again are dropped once a minute.
    let sweeper = Arc::downgrade(&rate_limits);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match sweeper.upgrade() {
                Some(limits) => limits.retain_recent(),
                None => break,
            }
        }
    });
    let routes = Arc::new(routes::discovered::RouteTable::new(
        config.static_routes.clone(),
    ));
    // The registry is read again every ROUTE_REFRESH, and on a miss.
    let refresher = Arc::downgrade(&routes);
    let (refresh_client, every) = (client.clone(), config.route_refresh);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match refresher.upgrade() {
                Some(routes) => routes.refresh(&refresh_client).await,
                None => break,
            }
        }
    });
    let state = AppState {
        client,
        config: Arc::new(config),
        rate_limits,
        routes,
    };
    (routes::public(state.clone()), routes::operator(state))
}

/// Serves both routers on already-bound listeners until `shutdown` resolves,
/// letting requests in flight finish.
pub async fn serve(
    config: GatewayConfig,
    client: async_nats::Client,
    public: TcpListener,
    operator: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = listener::Limits {
        header_timeout: config.header_timeout,
        write_timeout: config.write_timeout,
        max_connections: config.max_connections,
        max_per_address: config.max_connections_per_address,
        // A request in flight may take the body time plus the service's.
        drain_timeout: config.body_timeout + config.request_timeout,
    };
    let (public_router, operator_router) = routers(config, client.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait_for = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stopped| *stopped).await;
    };
    tracing::info!(public = %public.local_addr()?, operator = %operator.local_addr()?, "gateway listening");
    let public_task = tokio::spawn(listener::serve(
        public,
        public_router,
        limits,
        wait_for(stop_rx.clone()),
    ));
    let operator_task = tokio::spawn(listener::serve(
        operator,
        operator_router,
        limits,
        wait_for(stop_rx),
    ));
    shutdown.await;
    tracing::info!("gateway stopping: finishing requests in flight");
    let _ = stop_tx.send(true);
    public_task.await?;
    operator_task.await?;
    client.drain().await.ok();
    tracing::info!("gateway stopped");
    Ok(())
}
