//! Running the built `siwa` with a clean environment.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub(crate) const TEAM: &str = "DEF123GHIJ";
pub(crate) const CLIENT: &str = "com.example.web";

/// A test key file (see crates/siwa-kit/tests/fixtures/README.md).
pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../siwa-kit/tests/fixtures")
        .join(name)
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    #[track_caller]
    pub(crate) fn assert_no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(!self.stderr.contains("RUST_BACKTRACE"), "{}", self.stderr);
    }
}

/// `siwa ARGS` with no SIWA_* variables but those in `env`, and `stdin` piped in.
pub(crate) fn siwa_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    siwa_with_bytes(args, env, stdin.map(str::as_bytes))
}

/// [`siwa_with`] for any bytes on stdin. `siwa` may stop reading before the
/// end (it reads a bounded amount): the rest is then not written.
pub(crate) fn siwa_with_bytes(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_siwa"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("SIWA_") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("NO_COLOR");
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("spawn siwa");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(input) = stdin {
        match pipe.write_all(input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write stdin"),
        }
    }
    drop(pipe);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait siwa");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    run.assert_no_panic();
    run
}

pub(crate) fn siwa(args: &[&str]) -> Run {
    siwa_with(args, &[], None)
}

/// A fresh secret from `siwa secret` with the Apple-shaped test key.
pub(crate) fn make_secret(extra: &[&str]) -> String {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let mut args = vec![
        "secret",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = siwa(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_owned()
}

/// `openssl ARGS`: the independent opinion some tests compare with. A
/// missing openssl fails the test (a skipped comparison checks nothing).
pub(crate) fn openssl(args: &[&str]) -> Option<String> {
    match Command::new("openssl").args(args).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) => panic!("openssl cannot be run ({e}): these tests compare with it; install it (Debian: apt install openssl)"),
    }
}
