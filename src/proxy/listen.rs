//! Listening sockets: bound in the main thread (so a bad address fails at
//! start with a clear error), then handed to the workers. TCP gets one socket
//! per worker with SO_REUSEPORT; a unix socket is bound once and shared.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::ListenAddr;

pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Binds `workers` listeners for `addr`.
pub fn bind(addr: &ListenAddr, backlog: u32, workers: usize) -> io::Result<Vec<Listener>> {
    match addr {
        ListenAddr::Tcp { host, port } => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let sockaddr = std::net::ToSocketAddrs::to_socket_addrs(&(host, *port))?
                .next()
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve '{host}'"))
                })?;
            (0..workers)
                .map(|_| {
                    let socket = Socket::new(
                        Domain::for_address(sockaddr),
                        Type::STREAM,
                        Some(Protocol::TCP),
                    )?;
                    socket.set_reuse_address(true)?;
                    socket.set_reuse_port(true)?;
                    socket.set_nonblocking(true)?;
                    socket.bind(&sockaddr.into())?;
                    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
                    Ok(Listener::Tcp(socket.into()))
                })
                .collect()
        }
        ListenAddr::Unix { path, perm } => {
            // A socket file left by an earlier run would make bind fail; a
            // regular file of that name is not ours to remove.
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_socket() {
                    std::fs::remove_file(path)?;
                }
            }
            let listener = std::os::unix::net::UnixListener::bind(path)?;
            listener.set_nonblocking(true)?;
            if let Some(perm) = perm {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*perm))?;
            }
            let mut all = Vec::with_capacity(workers);
            for _ in 1..workers {
                all.push(Listener::Unix(listener.try_clone()?));
            }
            all.push(Listener::Unix(listener));
            Ok(all)
        }
    }
}

pub enum TokioListener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

impl Listener {
    pub fn into_tokio(self) -> io::Result<TokioListener> {
        Ok(match self {
            Listener::Tcp(l) => TokioListener::Tcp(tokio::net::TcpListener::from_std(l)?),
            Listener::Unix(l) => TokioListener::Unix(tokio::net::UnixListener::from_std(l)?),
        })
    }
}

impl TokioListener {
    pub async fn accept(&self) -> io::Result<ClientStream> {
        Ok(match self {
            TokioListener::Tcp(l) => ClientStream::Tcp(l.accept().await?.0),
            TokioListener::Unix(l) => ClientStream::Unix(l.accept().await?.0),
        })
    }
}

/// A client connection: TCP, unix, or TLS over TCP once its handshake is
/// done (see `client_tls`).
pub enum ClientStream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
    Tls(Box<crate::tls::ServerStream<tokio::net::TcpStream>>),
}

impl ClientStream {
    pub fn configure(&self, keepalive: bool) {
        let tcp = match self {
            ClientStream::Tcp(s) => s,
            ClientStream::Tls(s) => s.get_ref().0,
            ClientStream::Unix(_) => return,
        };
        let _ = tcp.set_nodelay(true);
        if keepalive {
            let _ = SockRef::from(tcp).set_keepalive(true);
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Unix(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
