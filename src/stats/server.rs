//! The stats port (nutcracker's: the JSON document to every TCP connection,
//! then close) and the metrics endpoint (HTTP: `/metrics`, `/healthz`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::output;
use crate::pool::PoolRuntime;

pub type Pools = Arc<Mutex<Vec<Arc<PoolRuntime>>>>;

fn current(pools: &Pools) -> Vec<Arc<PoolRuntime>> {
    pools.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Serves nutcracker's stats JSON on `listener` until the process exits.
pub async fn serve_stats(listener: TcpListener, pools: Pools) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let body = output::nutcracker_json(&current(&pools), crate::proxy::local::uptime_secs());
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(body.as_bytes()))
                .await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until the process exits.
pub async fn serve_metrics(listener: TcpListener, pools: Pools) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let pools = pools.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), http(stream, pools)).await;
        });
    }
}

async fn http(mut stream: tokio::net::TcpStream, pools: Pools) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || request.len() > 16 * 1024 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
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
            output::prometheus(&pools, crate::proxy::local::uptime_secs()),
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
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
