//! The stats port (nutcracker's: the JSON document to every TCP connection,
//! then close) and the metrics endpoint (HTTP: `/metrics`, `/healthz`).
//!
//! Both are served from the main thread, next to signal handling, and both
//! are open to whoever can connect: so each serves at most
//! [`MAX_CONNECTIONS`] at once, and a newcomer to a full port takes the
//! place of the oldest connection still idle ([`super::slots`]: so that
//! `/healthz` answers however many idle peers are held open); and each
//! connection has a bounded time to send its request and to take its reply.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use super::output;
use super::slots::{Slot, Slots};
use crate::pool::PoolRuntime;

pub type Pools = Arc<Mutex<Vec<Arc<PoolRuntime>>>>;

/// Connections served at once on each port; a scraper needs one or two.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a metrics client has to send its request line and headers.
pub const REQUEST_TIME: Duration = Duration::from_secs(2);
/// How long a client has to take its reply (a peer that never reads cannot
/// hold its slot).
pub const REPLY_TIME: Duration = Duration::from_secs(5);
/// A request larger than this is not a scrape: the connection is dropped.
const MAX_REQUEST: usize = 16 * 1024;
/// Connections the kernel queues for a port until they are accepted. With
/// tokio's default (128) a burst of connections overflowed the queue while
/// the port's thread was answering, and a health check caught in it waited
/// a second for its SYN to be sent again.
const BACKLOG: u32 = 1024;

/// Binds the stats or metrics port (`host:port`, the host resolved).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for sa in tokio::net::lookup_host(addr).await? {
        let socket = match sa {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(sa).and_then(|()| socket.listen(BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address")
    }))
}

fn current(pools: &Pools) -> Vec<Arc<PoolRuntime>> {
    pools.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The next connection.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            // Out of descriptors, most likely: give closing connections a moment.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Serves nutcracker's stats JSON on `listener` until the process exits.
pub async fn serve_stats(listener: TcpListener, pools: Pools) {
    let slots = Slots::new(MAX_CONNECTIONS);
    loop {
        let (mut stream, peer) = accept(&listener).await;
        let body = output::nutcracker_json(&current(&pools), super::uptime_secs());
        slots
            .admit(peer, |slot| async move {
                let _ = timeout(REPLY_TIME, async {
                    stream.write_all(body.as_bytes()).await?;
                    stream.shutdown().await
                })
                .await;
                drop(slot);
            })
            .await;
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until the process exits.
pub async fn serve_metrics(listener: TcpListener, pools: Pools) {
    let slots = Slots::new(MAX_CONNECTIONS);
    loop {
        let (stream, peer) = accept(&listener).await;
        let pools = pools.clone();
        slots
            .admit(peer, |slot| async move {
                let _ = http(stream, slot, pools).await;
            })
            .await;
    }
}

/// The request up to its blank line; `None` when the peer closed, sent too
/// much, or took longer than [`REQUEST_TIME`].
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let read = async {
        let mut request = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 || request.len() > MAX_REQUEST {
                return None;
            }
            request.extend_from_slice(&buf[..n]);
        }
        Some(request)
    };
    timeout(REQUEST_TIME, read).await.ok().flatten()
}

async fn http(mut stream: TcpStream, slot: Slot, pools: Pools) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await else {
        return Ok(());
    };
    slot.answering();
    let line = String::from_utf8_lossy(request.split(|&b| b == b'\r').next().unwrap_or_default())
        .into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let pools = current(&pools);
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            output::prometheus(&pools, super::uptime_secs()),
        ),
        ("GET", "/healthz") => {
            if output::healthy(&pools) {
                ("200 OK", "text/plain", "ok\n".to_string())
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    "unhealthy: a pool has no live server\n".to_string(),
                )
            }
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let reply = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    timeout(REPLY_TIME, reply).await?
}
