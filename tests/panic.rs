//! Panics and closed output: a panic in the handler is an error response and the process serves
//! on; the release profile keeps unwinding; `stream-infer invoke` on a closed pipe or a full
//! device exits cleanly instead of panicking.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{cargo_lambda, root};

/// `cargo lambda build --release` adds `-C panic=abort` unless `[profile.release]` says
/// `panic = "unwind"`; with abort, a panic ends the deployed process instead of becoming the
/// runtime's error response.
#[test]
fn the_release_profile_keeps_panic_unwind() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut section = String::new();
    let mut panic = None;
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap().trim();
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section == "[profile.release]"
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "panic"
        {
            panic = Some(value.trim().trim_matches('"').to_owned());
        }
    }
    assert_eq!(
        panic.as_deref(),
        Some("unwind"),
        "Cargo.toml [profile.release] must set panic = \"unwind\", or cargo lambda build adds panic=abort"
    );
}

/// Kills the watch process group (cargo-lambda and the function it runs) when dropped.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["--", &group]).status();
        let _ = self.0.wait();
    }
}

/// `cargo lambda watch` on 127.0.0.1 running the test-only `src/bin/panicking-handler.rs`.
fn watch_panicking_handler() -> (Watch, u16) {
    let cargo_lambda = cargo_lambda().expect("cargo-lambda is missing: run scripts/setup");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(cargo_lambda);
    command
        .args([
            "lambda",
            "watch",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .args(["--bin", "panicking-handler", "--ignore-changes"])
        // The stdout sink and the log dead-letter path: no AWS needed.
        .args(["--env-var", "SINK=stdout"])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let watch = Watch(command.spawn().unwrap());
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "cargo lambda watch did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (watch, port)
}

/// `cargo lambda invoke` of the example with `payload`; the output and whether it succeeded.
fn invoke(port: u16, payload: &str) -> (bool, String) {
    let output = Command::new(cargo_lambda().unwrap())
        .args(["lambda", "invoke", "panicking-handler", "-A", "127.0.0.1"])
        .args([
            "-P",
            &port.to_string(),
            "-o",
            "json",
            "--data-ascii",
            payload,
        ])
        .current_dir(root())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The example's process id and how many invocations that process has served.
fn probe(port: u16) -> (u64, u64) {
    let (ok, text) = invoke(port, r#"{"probe": true}"#);
    assert!(ok, "the probe failed: {text}");
    let answer: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("the probe answered no JSON ({e}): {text}"));
    (
        answer["pid"].as_u64().unwrap(),
        answer["served"].as_u64().unwrap(),
    )
}

#[test]
fn a_panic_in_the_handler_is_an_error_response_and_the_process_serves_on() {
    let (_watch, port) = watch_panicking_handler();
    let (pid, served) = probe(port);
    assert_eq!(served, 1, "a fresh process");

    let (ok, text) = invoke(port, r#"{"panic": "test 41"}"#);
    assert!(!ok, "a panicking invocation must fail: {text}");
    assert!(
        text.contains("Lambda panicked") && text.contains("asked to panic: test 41"),
        "the runtime's error response carries the panic message: {text}"
    );

    assert_eq!(
        probe(port),
        (pid, 3),
        "the same process serves the next event, its state intact"
    );

    // The real handler still works in that process.
    let event = std::fs::read_to_string(root().join("events/kinesis.json")).unwrap();
    let (ok, text) = invoke(port, &event);
    assert!(ok, "events/kinesis.json after the panic: {text}");
    let response: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
    assert_eq!(probe(port), (pid, 5));
}

fn invoke_cli(stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stream-infer"))
        .args(["invoke", "events/kinesis-mixed.json"])
        .current_dir(root())
        .env_remove("MODEL_URI")
        .env_remove("SINK")
        .env_remove("FEATURES_FIELD")
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn invoke_into_a_closed_pipe_exits_quietly_and_successfully() {
    // A pipe whose reader has gone before the first write, as after `| head -c1` returns: the
    // write fails with EPIPE every time, not only when the race goes that way.
    let mut child = Command::new(env!("CARGO_BIN_EXE_stream-infer"))
        .args(["invoke", "events/kinesis-mixed.json"])
        .current_dir(root())
        .env_remove("MODEL_URI")
        .env_remove("SINK")
        .env_remove("FEATURES_FIELD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a closed pipe is normal in a pipeline: {stderr}"
    );
    assert!(
        !stderr.contains("stream-infer:"),
        "no error message for a reader that left: {stderr}"
    );
}

#[test]
fn invoke_through_a_shell_pipe_into_head_does_not_panic() {
    let script = format!(
        "'{}' invoke events/kinesis.json | head -c1 >/dev/null",
        env!("CARGO_BIN_EXE_stream-infer")
    );
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .current_dir(root())
        .env_remove("MODEL_URI")
        .env_remove("SINK")
        .env_remove("FEATURES_FIELD")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

#[test]
fn invoke_onto_a_full_device_fails_with_a_message() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = invoke_cli(Stdio::from(full));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("stream-infer: cannot write the response to standard output")
            && last.contains("No space left on device"),
        "the last line says what failed and why: {stderr}"
    );
}
