//! The real `donebot` binary as a subprocess: admin commands run to completion, `serve` runs until
//! killed (a [`Serve`] that is dropped is SIGKILLed, so a failing test leaves nothing running).
//!
//! Every command runs in its data directory's parent with the `DONEBOT_*` environment cleared,
//! so neither the repository's `config.toml` nor the developer's environment leaks in.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::WAIT;

pub const BIN: &str = env!("CARGO_BIN_EXE_donebot");

/// `donebot ARGS` with a clean environment plus `env`, run in `cwd`.
pub fn command(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("DONEBOT_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The outcome of a finished command.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The last whitespace-separated word of stdout.
    pub fn last_word(&self) -> &str {
        self.stdout.split_whitespace().last().unwrap_or("")
    }
}

/// Runs `donebot ARGS` to completion, bounded by [`WAIT`].
pub fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let child = command(cwd, args, env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the donebot binary runs");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT) {
        Ok(out) => {
            let out = out.expect("the command's output");
            Output {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            signal(pid, libc::SIGKILL);
            panic!("donebot {args:?} did not finish in {WAIT:?}");
        }
    }
}

/// Like [`run`], and it must succeed.
pub fn ok(cwd: &Path, args: &[&str]) -> Output {
    let out = run(cwd, args, &[]);
    assert_eq!(out.code, Some(0), "donebot {args:?} failed: {out:?}");
    out
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory effects; the pid is our own child's.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// The environment of a test server: loopback ports chosen by the OS, mail written to `.eml`.
pub const SERVE_ENV: &[(&str, &str)] = &[
    ("DONEBOT_WEB__LISTEN", "127.0.0.1:0"),
    ("DONEBOT_INBOUND_SMTP__LISTEN", "127.0.0.1:0"),
    ("DONEBOT_EMAIL__DOMAIN", super::DOMAIN),
    ("DONEBOT_INBOUND__AUTHSERV_ID", super::AUTHSERV_ID),
];

/// `donebot serve` running on a data directory.
pub struct Serve {
    child: Option<Child>,
    /// `127.0.0.1:PORT` of the web server.
    pub web: String,
    /// Port of the inbound SMTP listener.
    pub smtp_port: u16,
    /// Every line printed on stdout up to the data line.
    pub banner: Vec<String>,
}

impl Serve {
    /// Starts `donebot serve --data DATA` and waits for its banner (where everything is).
    pub fn start(data: &Path) -> Serve {
        Serve::start_with(data, &[])
    }

    /// Like [`Serve::start`], with more environment (`DONEBOT_TELEGRAM__TOKEN`, ...).
    pub fn start_with(data: &Path, env: &[(&str, &str)]) -> Serve {
        Serve::start_logging(data, env, Stdio::inherit())
    }

    /// Like [`Serve::start_with`], its log (standard error) going to `log`.
    pub fn start_logging(data: &Path, env: &[(&str, &str)], log: Stdio) -> Serve {
        let cwd = data.parent().expect("the data directory has a parent");
        let data_arg = data.to_str().expect("a UTF-8 path");
        let env: Vec<(&str, &str)> = SERVE_ENV.iter().chain(env).copied().collect();
        let mut child = command(cwd, &["serve", "--data", data_arg], &env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("donebot serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut serve = Serve {
            child: Some(child),
            web: String::new(),
            smtp_port: 0,
            banner: Vec::new(),
        };
        loop {
            let line = rx
                .recv_timeout(WAIT)
                .expect("donebot serve printed its addresses in time");
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["web", "and", "API", url, ..] => {
                    serve.web = url.trim_start_matches("http://").to_string();
                }
                ["inbound", "SMTP", addr, ..] => {
                    serve.smtp_port = addr
                        .rsplit_once(':')
                        .and_then(|(_, p)| p.parse().ok())
                        .expect("the inbound SMTP address");
                }
                _ => {}
            }
            let last = line.trim_start().starts_with("data ");
            serve.banner.push(line);
            if last {
                break;
            }
        }
        assert!(
            !serve.web.is_empty(),
            "no web address in {:?}",
            serve.banner
        );
        serve
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }

    /// SIGTERM, then waits (bounded) for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(child.id(), libc::SIGTERM);
        let (tx, rx) = mpsc::channel();
        let pid = child.id();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(status) => status.expect("exit status"),
            Err(_) => {
                signal(pid, libc::SIGKILL);
                panic!("donebot did not stop within 60 s of SIGTERM");
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
