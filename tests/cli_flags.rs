//! nutcracker's command line, flag by flag, and the signals it handles.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::servers::{free_port, pool_config, wait_for_port, Conn, RedisServer, Reply};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_redshard"))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn version_help_and_describe_stats() {
    let out = bin().arg("-V").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("This is redshard-{}", env!("CARGO_PKG_VERSION"))
    );
    let out = bin().arg("-h").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "-t",
        "-d",
        "-D",
        "-v",
        "-o",
        "-c",
        "-s",
        "-a",
        "-i",
        "-p",
        "-m",
        "--workers",
    ] {
        assert!(help.contains(flag), "help lacks {flag}");
    }
    let out = bin().arg("-D").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "client_eof",
        "forward_error",
        "fragments",
        "server_ejected_at",
        "out_queue_bytes",
    ] {
        assert!(text.contains(name), "-D lacks {name}");
    }
    assert!(
        !bin().args(["-m", "100"]).output().unwrap().status.success(),
        "-m below 512 is refused"
    );
    assert!(
        !bin().args(["-v", "12"]).output().unwrap().status.success(),
        "-v above 11 is refused"
    );
}

#[test]
fn daemonize_with_pid_file_log_file_and_signals() {
    let server = RedisServer::start();
    let dir = common::servers::temp_dir("flags");
    let port = free_port();
    let conf = dir.join("r.yml");
    std::fs::write(
        &conf,
        pool_config("alpha", &[&server], "").replace("{port}", &port.to_string()),
    )
    .unwrap();
    let pid_file = dir.join("redshard.pid");
    let log = dir.join("redshard.log");
    let status = bin()
        .args(["-d", "-v", "7", "-m", "4096", "--workers", "1", "-c"])
        .arg(&conf)
        .arg("-p")
        .arg(&pid_file)
        .arg("-o")
        .arg(&log)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "-d returns at once in the foreground process"
    );
    wait_until("the pid file", Duration::from_secs(5), || pid_file.exists());
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pid = Pid::from_raw(pid);
    // Stop the daemon whatever happens below.
    struct Stop(Pid);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = kill(self.0, Signal::SIGKILL);
        }
    }
    let _stop = Stop(pid);
    wait_for_port(port, Duration::from_secs(5));
    let mut c = Conn::tcp(port);
    assert_eq!(c.cmd(&["SET", "daemon", "yes"]), Reply::ok());
    // -v 7 is debug: the log has more than the start-up lines.
    wait_until("start-up log lines", Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("serving")
    });
    // SIGHUP reopens the log file (logrotate moves it first).
    let rotated = dir.join("redshard.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    wait_until(
        "a new log file after SIGHUP",
        Duration::from_secs(5),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("SIGHUP")
        },
    );
    // SIGTTIN / SIGTTOU raise and lower the level, each logged by name.
    kill(pid, Signal::SIGTTOU).unwrap();
    wait_until("SIGTTOU in the log", Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("SIGTTOU: log level lowered to info")
    });
    kill(pid, Signal::SIGTTIN).unwrap();
    wait_until("SIGTTIN in the log", Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("SIGTTIN: log level raised to debug")
    });
    assert_eq!(c.cmd(&["GET", "daemon"]), Reply::bulk("yes"));
    // SIGTERM: a clean exit that removes the pid file.
    kill(pid, Signal::SIGTERM).unwrap();
    wait_until("the pid file to go", Duration::from_secs(5), || {
        !pid_file.exists()
    });
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("signal SIGTERM received, exiting"));
}

#[test]
fn json_log_format() {
    let server = RedisServer::start();
    let port = free_port();
    let dir = common::servers::temp_dir("json");
    let conf = dir.join("r.yml");
    std::fs::write(
        &conf,
        pool_config("alpha", &[&server], "").replace("{port}", &port.to_string()),
    )
    .unwrap();
    let log = dir.join("j.log");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = KillOnDrop(
        bin()
            .args(["--log-format", "json", "-c"])
            .arg(&conf)
            .arg("-o")
            .arg(&log)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, Duration::from_secs(5));
    wait_until("a JSON log line", Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("serving")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        assert!(
            line.starts_with('{') && line.contains("\"level\""),
            "{line}"
        );
    }
}

#[test]
fn an_invalid_metrics_value_is_a_startup_error() {
    let server = RedisServer::start();
    let dir = common::servers::temp_dir("metrics-flag");
    let conf = dir.join("r.yml");
    let port = free_port();
    std::fs::write(
        &conf,
        pool_config("alpha", &[&server], "").replace("{port}", &port.to_string()),
    )
    .unwrap();
    let stats = free_port().to_string();
    for bad in [
        "nonsense",
        "70000",
        "0",
        "127.0.0.1:",
        "127.0.0.1:x",
        ":9121",
    ] {
        let mut child = bin()
            .args([
                "--workers",
                "1",
                "-s",
                &stats,
                "-a",
                "127.0.0.1",
                "--metrics",
                bad,
                "-c",
            ])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        let status = status.unwrap_or_else(|| panic!("--metrics {bad}: still running: {err}"));
        assert!(!status.success(), "--metrics {bad}");
        assert!(
            err.contains("--metrics") && err.contains(bad),
            "--metrics {bad}: {err}"
        );
    }
}
