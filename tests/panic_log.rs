//! A burst of panics is logged as one line and a count, not a line each: a
//! client that made the proxy panic on every request once wrote 4 MB of
//! log in 5 s. The hook is the one `main` installs, with its window.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redshard::logging::{log_panics, PANIC_LOG_WINDOW};

/// Log lines written so far.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().map(str::to_string).collect()
    }
}

#[test]
fn a_burst_of_panics_is_one_line_and_a_count() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    log_panics(PANIC_LOG_WINDOW);

    // 1,000 panics from 4 threads at once, each caught as tokio catches a
    // task's.
    let started = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                (0..250)
                    .filter(|i| {
                        std::panic::catch_unwind(|| panic!("request {t}-{i} broke")).is_err()
                    })
                    .count()
            })
        })
        .collect();
    let caught: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let burst = started.elapsed();
    // The count comes once the window is over.
    let deadline = Instant::now() + PANIC_LOG_WINDOW + Duration::from_secs(5);
    while captured.lines().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines = captured.lines();
    // Assertions fail through the default hook, so that they show.
    let _ = std::panic::take_hook();

    assert_eq!(caught, 1000);
    assert!(
        burst < PANIC_LOG_WINDOW,
        "the burst took {burst:?}, longer than one window"
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let first = &lines[0];
    assert!(
        first.contains("ERROR")
            && first.contains("panic in thread")
            && first.contains("tests/panic_log.rs:")
            && first.contains(" broke"),
        "{first}"
    );
    assert!(
        lines[1].contains("999 more panics not logged one by one"),
        "{}",
        lines[1]
    );
}
