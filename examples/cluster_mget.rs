//! The e2e bench's MGET driver for the cluster column (benches/e2e.py):
//! MGETs of random keys, the same requests sent two ways.
//!
//! - `proxy PORT`: each MGET whole to one endpoint (redshard in front of the
//!   cluster), as a plain client sends it.
//! - `cluster PORT`: what a cluster-aware client must do, the best it can:
//!   read the slot map (CLUSTER SLOTS) from the node at PORT once, split each
//!   MGET into one MGET per slot (a node refuses keys of several slots with
//!   CROSSSLOT, even when it owns them all), queue each node its share on
//!   that node's connection, write to every node before reading from any (one
//!   round trip, nodes in parallel), and put the values back in key order.
//!
//! redis-benchmark cannot be the direct side here: in `--cluster` mode all
//! keys of a command carry one `{tag}`, so its MGET is a one-slot MGET on
//! one node. Both sides run this same program (threads, keys, reply parsing,
//! results in key order), so what differs is the path, not the client.
//!
//! Usage: `cluster_mget proxy|cluster PORT [-c CLIENTS] [-n MGETS] [-r KEYSPACE]
//! [-P PIPELINE] [-k KEYS]` (defaults 50, 100000, 100000, 1, 10). Keys are
//! `key:` and 12 digits, as redis-benchmark's `key:__rand_int__`. Each
//! client is a thread with blocking sockets; a batch is PIPELINE MGETs.
//! Prints `rps p99_ms mgets` (p99 of a batch's round trip; MGETs done, a
//! batch or so per client past `-n`); exits non-zero on any error reply or
//! short answer.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use redshard::cluster::{slot, SLOTS};

/// One connection: writes go to the socket, replies come through a buffer.
type Conn = BufReader<TcpStream>;

/// A reply, as much of one as this driver reads.
enum Value {
    Nil,
    Bulk(Vec<u8>),
    Int(i64),
    Array(Vec<Value>),
    Status,
}

fn connect(port: u16) -> io::Result<Conn> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    Ok(BufReader::with_capacity(1 << 16, stream))
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn read_value(conn: &mut Conn) -> io::Result<Value> {
    let mut line = Vec::with_capacity(32);
    conn.read_until(b'\n', &mut line)?;
    if line.len() < 3 || !line.ends_with(b"\r\n") {
        return Err(bad("connection closed mid-reply".into()));
    }
    let body = &line[1..line.len() - 2];
    let number = || -> io::Result<i64> {
        std::str::from_utf8(body)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("not a number: {}", String::from_utf8_lossy(body))))
    };
    match line[0] {
        b'+' => Ok(Value::Status),
        b'-' => Err(bad(format!(
            "error reply: {}",
            String::from_utf8_lossy(body)
        ))),
        b':' => Ok(Value::Int(number()?)),
        b'$' => match number()? {
            -1 => Ok(Value::Nil),
            n => {
                let mut data = vec![0; n as usize + 2];
                io::Read::read_exact(conn, &mut data)?;
                data.truncate(n as usize);
                Ok(Value::Bulk(data))
            }
        },
        b'*' => match number()? {
            -1 => Ok(Value::Nil),
            n => (0..n)
                .map(|_| read_value(conn))
                .collect::<Result<_, _>>()
                .map(Value::Array),
        },
        other => Err(bad(format!("unexpected reply type {:?}", other as char))),
    }
}

/// Reads one MGET reply of `keys.len()` values into `out` at the positions
/// `keys` names.
fn read_mget(conn: &mut Conn, keys: &[usize], out: &mut [Option<Vec<u8>>]) -> io::Result<()> {
    let Value::Array(values) = read_value(conn)? else {
        return Err(bad("MGET: not an array".into()));
    };
    if values.len() != keys.len() {
        return Err(bad(format!(
            "MGET: {} values for {} keys",
            values.len(),
            keys.len()
        )));
    }
    for (&at, v) in keys.iter().zip(values) {
        out[at] = match v {
            Value::Bulk(b) => Some(b),
            Value::Nil => None,
            _ => return Err(bad("MGET: a value neither bulk nor nil".into())),
        };
    }
    Ok(())
}

/// The cluster's slot map: the node (index into the returned ports) of
/// every slot.
fn slot_map(port: u16) -> io::Result<(Vec<u8>, Vec<u16>)> {
    let mut conn = connect(port)?;
    conn.get_mut()
        .write_all(b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n")?;
    let Value::Array(ranges) = read_value(&mut conn)? else {
        return Err(bad("CLUSTER SLOTS: not an array".into()));
    };
    let mut owner = vec![u8::MAX; SLOTS as usize];
    let mut ports: Vec<u16> = Vec::new();
    for range in ranges {
        let Value::Array(r) = range else { continue };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (r.first(), r.get(1), r.get(2))
        else {
            return Err(bad("CLUSTER SLOTS: a range without a master".into()));
        };
        let Some(Value::Int(p)) = master.get(1) else {
            return Err(bad("CLUSTER SLOTS: a master without a port".into()));
        };
        let p = *p as u16;
        let node = ports.iter().position(|&q| q == p).unwrap_or_else(|| {
            ports.push(p);
            ports.len() - 1
        });
        owner[*start as usize..=*end as usize].fill(node as u8);
    }
    if owner.contains(&u8::MAX) {
        return Err(bad("CLUSTER SLOTS: some slots unassigned".into()));
    }
    Ok((owner, ports))
}

/// What every client thread shares.
struct Job {
    mode: Mode,
    mgets: usize,
    keyspace: u64,
    pipeline: usize,
    keys: usize,
    issued: AtomicUsize,
}

enum Mode {
    Proxy(u16),
    Cluster { owner: Vec<u8>, ports: Vec<u16> },
}

fn append_command(
    buf: &mut Vec<u8>,
    keys: impl ExactSizeIterator<Item = usize>,
    names: &[[u8; 16]],
) {
    buf.extend_from_slice(format!("*{}\r\n$4\r\nMGET\r\n", keys.len() + 1).as_bytes());
    for k in keys {
        buf.extend_from_slice(b"$16\r\n");
        buf.extend_from_slice(&names[k]);
        buf.extend_from_slice(b"\r\n");
    }
}

/// One client: batches of `pipeline` MGETs until the job's count is
/// issued; the round trip of each batch in µs.
fn client(job: &Job) -> io::Result<Vec<u32>> {
    let mut conns: Vec<Conn> = match &job.mode {
        Mode::Proxy(port) => vec![connect(*port)?],
        Mode::Cluster { ports, .. } => ports
            .iter()
            .map(|&p| connect(p))
            .collect::<Result<_, _>>()?,
    };
    let batch_keys = job.pipeline * job.keys;
    let mut names = vec![*b"key:000000000000"; batch_keys];
    let mut values: Vec<Option<Vec<u8>>> = vec![None; batch_keys];
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); conns.len()];
    // Per connection, the key positions of each MGET queued on it, in order.
    let mut queued: Vec<Vec<Vec<usize>>> = vec![Vec::new(); conns.len()];
    let mut latencies = Vec::new();
    while job.issued.fetch_add(job.pipeline, Ordering::Relaxed) < job.mgets {
        for name in names.iter_mut() {
            let mut n = fastrand::u64(..job.keyspace);
            for digit in name[4..].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        for (b, q) in bufs.iter_mut().zip(queued.iter_mut()) {
            b.clear();
            q.clear();
        }
        for m in 0..job.pipeline {
            let mget = m * job.keys..(m + 1) * job.keys;
            match &job.mode {
                Mode::Proxy(_) => {
                    append_command(&mut bufs[0], mget.clone(), &names);
                    queued[0].push(mget.collect());
                }
                Mode::Cluster { owner, .. } => {
                    let mut by_slot: Vec<(u16, usize)> =
                        mget.map(|k| (slot(&names[k]), k)).collect();
                    by_slot.sort_unstable();
                    for group in by_slot.chunk_by(|a, b| a.0 == b.0) {
                        let node = owner[group[0].0 as usize] as usize;
                        append_command(&mut bufs[node], group.iter().map(|g| g.1), &names);
                        queued[node].push(group.iter().map(|g| g.1).collect());
                    }
                }
            }
        }
        let started = Instant::now();
        for (conn, buf) in conns.iter_mut().zip(&bufs) {
            if !buf.is_empty() {
                conn.get_mut().write_all(buf)?;
            }
        }
        for (conn, q) in conns.iter_mut().zip(&queued) {
            for keys in q {
                read_mget(conn, keys, &mut values)?;
            }
        }
        latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    Ok(latencies)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: cluster_mget proxy|cluster PORT [-c N] [-n N] [-r N] [-P N] [-k N]";
    let (Some(mode), Some(port)) = (
        args.first(),
        args.get(1).and_then(|p| p.parse::<u16>().ok()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let option = |flag: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args.get(i + 1).and_then(|v| v.parse().ok()).expect(usage))
            .unwrap_or(default)
    };
    let mode = match mode.as_str() {
        "proxy" => Mode::Proxy(port),
        "cluster" => match slot_map(port) {
            Ok((owner, ports)) => Mode::Cluster { owner, ports },
            Err(e) => {
                eprintln!("cluster_mget: slot map from port {port}: {e}");
                std::process::exit(1);
            }
        },
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let job = Arc::new(Job {
        mode,
        mgets: option("-n", 100_000),
        keyspace: option("-r", 100_000).max(1) as u64,
        pipeline: option("-P", 1).max(1),
        keys: option("-k", 10).max(1),
        issued: AtomicUsize::new(0),
    });
    let started = Instant::now();
    let threads: Vec<_> = (0..option("-c", 50).max(1))
        .map(|_| {
            let job = Arc::clone(&job);
            std::thread::spawn(move || client(&job))
        })
        .collect();
    let mut latencies = Vec::new();
    for t in threads {
        match t.join().expect("client thread") {
            Ok(l) => latencies.extend(l),
            Err(e) => {
                eprintln!("cluster_mget: {e}");
                std::process::exit(1);
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    let done = latencies.len() * job.pipeline;
    latencies.sort_unstable();
    let p99 = latencies
        .get(latencies.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or(0);
    println!(
        "{:.0} {:.3} {done}",
        done as f64 / took,
        p99 as f64 / 1000.0
    );
}
