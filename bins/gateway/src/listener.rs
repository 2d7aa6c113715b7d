//! The HTTP accept loop. axum's own `serve` sets no time-outs and no
//! connection cap, so a client that sends one header byte a minute
//! (slowloris), or never reads its answers, would hold a connection, and a
//! task, for ever. This loop is the same hyper server with time-outs on
//! headers, idle connections and stalled writes, a cap on connections (in
//! all and per client address), and a graceful drain.

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::ConnectInfo, Router};
use hyper::{body::Incoming, Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tower::ServiceExt;

use crate::{
    framing_errors::JsonFramingErrors,
    idle_watch::{self, Activity},
    stalled_writes::StalledWrites,
};

/// What one listener allows a client.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time to send a request's headers, and the longest a kept-alive
    /// connection may sit idle between requests.
    pub header_timeout: Duration,
    /// Time a write may make no progress.
    pub write_timeout: Duration,
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Connections from one address at once (0: no limit); more are
    /// answered 429 and closed.
    pub max_per_address: usize,
    /// How long a drain waits for requests in flight at shutdown.
    pub drain_timeout: Duration,
}

/// Connections open per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in [`PerAddress`], given back on drop.
struct Place {
    table: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    /// A place for `address`, unless it already has `limit`.
    fn take(table: &Arc<Self>, address: IpAddr, limit: usize) -> Option<Place> {
        let mut open = table
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(address).or_default();
        if limit > 0 && *count >= limit {
            return None;
        }
        *count += 1;
        Some(Place {
            table: table.clone(),
            address,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self
            .table
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// The answer to a connection over its address's limit.
async fn refuse(mut stream: TcpStream, peer: SocketAddr) {
    tracing::warn!(%peer, "too many connections from one address: refused");
    let body = r#"{"code":429,"error":"too_many_requests","message":"too many connections from your address","error_description":"too many connections from your address"}"#;
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Serves `router` on `listener` until `stop` resolves, then stops accepting
/// and lets requests in flight finish (up to `limits.drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    // HTTP/1 only: sniffing for HTTP/2's preface waits for a first byte
    // with no time limit, the very hole this loop closes. TLS and HTTP/2
    // belong to the proxy in front. No hyper timer: see idle_watch.
    let builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of descriptors, or a connection reset before accept:
                    // back off a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Some(place) = PerAddress::take(&per_address, peer.ip(), limits.max_per_address) else {
            drop(permit);
            tokio::spawn(refuse(stream, peer));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let activity = Activity::new();
        let counted = activity.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            counted.begin();
            let answer = router.clone().oneshot(request);
            let counted = counted.clone();
            async move {
                let response = answer.await;
                counted.end();
                response
            }
        });
        let io = JsonFramingErrors::new(StalledWrites::new(stream, limits.write_timeout), peer);
        let connection = graceful.watch(
            builder
                .serve_connection(TokioIo::new(io), service)
                .into_owned(),
        );
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(error) = ended {
                    // Time-outs and resets: the client's doing, not ours.
                    tracing::debug!(%peer, error = %error, "connection ended with an error");
                },
                () = idle_watch::expired(&activity, header_timeout) => {
                    tracing::debug!(%peer, "no complete request within HTTP_HEADER_TIMEOUT: closed");
                }
            }
            drop((permit, place));
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain time-out: closing connections with requests still in flight");
    }
}
