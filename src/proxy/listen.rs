//! Listening sockets: bound in the main thread (so a bad address fails at
//! start with a clear error), then handed to the workers. TCP gets one socket
//! per worker with SO_REUSEPORT; a unix socket is bound once and shared,
//! with its permissions from the start.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::local::Peer;
use crate::config::ListenAddr;

pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Binds `workers` listeners for `addr`. Unless this process listens there
/// already (`ours`: a reload moving a pool onto an address another pool
/// leaves), nobody may: SO_REUSEPORT would let a second process (a stale
/// redshard, another config with the same port) bind beside this one and
/// take part of its clients, and a unix socket would be renamed over a live
/// one.
pub fn bind(
    addr: &ListenAddr,
    backlog: u32,
    workers: usize,
    ours: bool,
) -> io::Result<Vec<Listener>> {
    match addr {
        ListenAddr::Tcp { host, port } => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let sockaddr = std::net::ToSocketAddrs::to_socket_addrs(&(host, *port))?
                .next()
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve '{host}'"))
                })?;
            if !ours {
                unused_tcp(sockaddr)?;
            }
            (0..workers)
                .map(|_| {
                    let socket = tcp_socket(sockaddr)?;
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
            if !ours && std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(in_use());
            }
            let listener = bind_unix(path, *perm)?;
            listener.set_nonblocking(true)?;
            let mut all = Vec::with_capacity(workers);
            for _ in 1..workers {
                all.push(Listener::Unix(listener.try_clone()?));
            }
            all.push(Listener::Unix(listener));
            Ok(all)
        }
    }
}

/// Fails when any socket listens at `sockaddr`: one bound without
/// SO_REUSEPORT conflicts with every listener there, whoever's.
fn unused_tcp(sockaddr: std::net::SocketAddr) -> io::Result<()> {
    let probe = tcp_socket(sockaddr)?;
    // TIME_WAIT leftovers of an earlier run are no listener.
    probe.set_reuse_address(true)?;
    match probe.bind(&sockaddr.into()) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(in_use()),
        other => other,
    }
}

fn tcp_socket(sockaddr: std::net::SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(sockaddr),
        Type::STREAM,
        Some(Protocol::TCP),
    )
}

fn in_use() -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        "another process listens there (an earlier redshard still running?)",
    )
}

/// Binds a unix socket at `path` that has its permissions `perm` from the
/// moment it can be reached: it is bound in a fresh directory beside `path`
/// that only this user can enter (0700), given its mode there, then renamed
/// into place, which is atomic and replaces a socket an earlier run left.
/// Not a umask around bind: the umask is the whole process's, so the other
/// threads' files (logs, other pools' sockets on a reload) would get it too,
/// and it cannot grant more than 0777 & !umask anyway.
fn bind_unix(path: &Path, perm: Option<u32>) -> io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // A regular file of that name is not ours to replace.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Short, as a socket's path has at most 107 bytes; created, never
    // reused, so nobody can have prepared it.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = parent.join(format!(".rs{}-{n}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let inner = dir.join("s");
    let bound = UnixListener::bind(&inner).and_then(|listener| {
        if let Some(perm) = perm {
            std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(perm))?;
        }
        std::fs::rename(&inner, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_file(&inner);
    let _ = std::fs::remove_dir(&dir);
    bound
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

    /// The next client if one is waiting; else `Pending`, which also means
    /// the listener waits for a new one (its readiness is cleared).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<ClientStream>> {
        match self {
            TokioListener::Tcp(l) => l.poll_accept(cx).map_ok(|(s, _)| ClientStream::Tcp(s)),
            TokioListener::Unix(l) => l.poll_accept(cx).map_ok(|(s, _)| ClientStream::Unix(s)),
        }
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
    /// Where the client connects from and to, as CLIENT LIST shows them.
    pub fn peer(&self) -> Peer {
        let shown =
            |a: io::Result<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        match self {
            ClientStream::Tcp(s) => Peer {
                addr: shown(s.peer_addr()),
                laddr: shown(s.local_addr()),
            },
            ClientStream::Tls(s) => Peer {
                addr: shown(s.get_ref().0.peer_addr()),
                laddr: shown(s.get_ref().0.local_addr()),
            },
            ClientStream::Unix(s) => {
                // A unix client has no address of its own: Redis shows the
                // socket's path for both, with port 0.
                let path = s
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(|p| format!("{}:0", p.display())))
                    .unwrap_or_default();
                Peer {
                    addr: path.clone(),
                    laddr: path,
                }
            }
        }
    }

    /// Who is at the other end, for the log of failed logins.
    pub fn login_peer(&self) -> Option<crate::auth::Peer> {
        use crate::auth::Peer;
        match self {
            ClientStream::Tcp(s) => s.peer_addr().ok().map(Peer::Tcp),
            ClientStream::Tls(s) => s.get_ref().0.peer_addr().ok().map(Peer::Tcp),
            ClientStream::Unix(s) => {
                let cred = s.peer_cred().ok();
                Some(Peer::Unix {
                    pid: cred.and_then(|c| c.pid()),
                    uid: cred.map(|c| c.uid()),
                })
            }
        }
    }

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
