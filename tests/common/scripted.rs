//! A server the test scripts: it listens on a free loopback port, and
//! answers each command (its arguments) with the bytes a function of the
//! test gives. The stand-ins for a sentinel and for servers this machine
//! does not have are built on it. Stops on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::servers::{parse, Reply};

/// The reply to one command, given its arguments (each a bulk string).
pub type Answer = dyn Fn(&[Reply]) -> Vec<u8> + Send + Sync;

pub struct Scripted {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    pub fn start(answer: Arc<Answer>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !done.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (answer, done) = (answer.clone(), done.clone());
                        conns.push(std::thread::spawn(move || serve(stream, &*answer, &done)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Scripted {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The command's name, upper-cased ("" when there is none).
pub fn command_name(args: &[Reply]) -> String {
    match args.first() {
        Some(Reply::Bulk(b)) => String::from_utf8_lossy(b).to_uppercase(),
        _ => String::new(),
    }
}

fn serve(mut stream: TcpStream, answer: &Answer, stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        while let Some((Reply::Array(args), used)) = parse(&buf) {
            buf.drain(..used);
            if stream.write_all(&answer(&args)).is_err() {
                return;
            }
        }
    }
}
