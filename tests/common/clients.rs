//! The client libraries scripts/test.sh installs under target/clients, and
//! running a script of tests/clients with one of them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where scripts/test.sh installs the client libraries.
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/clients")
}

/// Whether `path` (a library or interpreter) is installed; when it is not,
/// the test fails unless REDSHARD_SKIP_CLIENT_LIBS is set.
pub fn require(path: &Path) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        std::env::var_os("REDSHARD_SKIP_CLIENT_LIBS").is_some(),
        "{} is missing: run scripts/test.sh, which installs the client libraries \
         (or set REDSHARD_SKIP_CLIENT_LIBS=1 to skip these tests)",
        path.display()
    );
    false
}

/// Runs tests/clients/`script` with `program` and `args`; it must exit 0
/// and print `ALL OK`.
pub fn run_script(program: &Path, script: &str, args: &[String], env: &[(&str, PathBuf)]) {
    let mut cmd = Command::new(program);
    cmd.arg(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/clients")
            .join(script),
    );
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run client script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ALL OK"),
        "{} {script} failed:\n{stdout}\n{stderr}",
        program.display()
    );
}
