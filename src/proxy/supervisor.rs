//! Brings ejected servers back: once a server's `server_retry_timeout` has
//! passed it is probed (connect, AUTH if the pool has a password, PING); if
//! it answers it rejoins the ring, otherwise it stays out for another period.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{PoolConfig, ServerAddr};
use crate::pool::PoolRuntime;
use crate::protocol::encode;

const TICK: Duration = Duration::from_millis(50);
/// How long a probe may take when the pool sets no `timeout`.
const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs until the process exits.
pub async fn run(pools: Arc<std::sync::Mutex<Vec<Arc<PoolRuntime>>>>) {
    loop {
        tokio::time::sleep(TICK).await;
        let pools: Vec<Arc<PoolRuntime>> = pools.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for pool in &pools {
            let snapshot = pool.snapshot_arc();
            if !snapshot.config.auto_eject_hosts {
                continue;
            }
            for (index, health) in snapshot.health.iter().enumerate() {
                if !health.due_for_retry() {
                    continue;
                }
                let retry = Duration::from_millis(snapshot.config.server_retry_timeout_ms);
                // Out for another period while the probe runs, so it runs once.
                health.extend_ejection(retry, &health.last_error());
                let pool = pool.clone();
                let health = health.clone();
                let config = snapshot.config.clone();
                let addr = snapshot.addrs[index].clone();
                tokio::spawn(async move {
                    let server = &config.servers[index];
                    let answer = match &addr {
                        Some(addr) => probe(&config, addr).await,
                        None => Err("no address known yet".into()),
                    };
                    match answer {
                        Ok(()) => {
                            health.rejoin();
                            pool.rebuild_placement();
                            tracing::warn!(pool = %config.name, server = %server.label(), "server answers again: rejoined the ring");
                        }
                        Err(e) => {
                            health.extend_ejection(retry, &e);
                            tracing::warn!(pool = %config.name, server = %server.label(), "server still down ({e}); next probe in {} ms", retry.as_millis());
                        }
                    }
                });
            }
        }
    }
}

async fn probe(config: &PoolConfig, addr: &ServerAddr) -> Result<(), String> {
    let limit = config
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_PROBE_TIMEOUT);
    let mut request = bytes::BytesMut::new();
    match (&config.redis_username, &config.redis_auth) {
        (Some(user), Some(auth)) => encode::command(
            &mut request,
            [&b"AUTH"[..], user.as_bytes(), auth.as_bytes()].into_iter(),
        ),
        (None, Some(auth)) => {
            encode::command(&mut request, [&b"AUTH"[..], auth.as_bytes()].into_iter())
        }
        _ => {}
    }
    encode::command(&mut request, [&b"PING"[..]].into_iter());
    let exchange = async {
        let mut reply = Vec::new();
        match addr {
            ServerAddr::Tcp { host, port } => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let mut s = tokio::net::TcpStream::connect((host, *port))
                    .await
                    .map_err(|e| e.to_string())?;
                s.write_all(&request).await.map_err(|e| e.to_string())?;
                read_until_pong(&mut s, &mut reply).await
            }
            ServerAddr::Unix(path) => {
                let mut s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| e.to_string())?;
                s.write_all(&request).await.map_err(|e| e.to_string())?;
                read_until_pong(&mut s, &mut reply).await
            }
        }
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("probe timed out after {} ms", limit.as_millis())),
    }
}

async fn read_until_pong<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    reply: &mut Vec<u8>,
) -> Result<(), String> {
    let mut buf = [0u8; 512];
    loop {
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed the connection".into());
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.windows(4).any(|w| w == b"PONG") {
            return Ok(());
        }
        if let Some(line) = reply
            .split(|&b| b == b'\n')
            .find(|l| l.first() == Some(&b'-'))
        {
            return Err(String::from_utf8_lossy(line).trim().to_string());
        }
    }
}
