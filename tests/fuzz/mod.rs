//! A coverage-free fuzzer for the three decoder targets (whole events, one Kinesis payload, model
//! artifacts), run by `scripts/fuzz` within a time budget; cargo-fuzz needs nightly.
//!
//! It mutates the corpus kept in `fuzz/corpus/<target>/` (seeded by `fuzz/make_seeds.py` with
//! every sample event, one example per reason code, and gzip, zlib and KPL payloads) with
//! bit flips, byte sets, truncation, splices, JSON token swaps, duplicated members and producer
//! wrappers, and runs each mutant through the real handler (see `target.rs` for the property).
//! A failing input is printed as base64 and saved in `fuzz/artifacts/<target>/`, and
//! `STREAM_INFER_FUZZ_REPLAY=<file or directory>` runs saved inputs again.
//!
//! The fuzzing tests are `#[ignore]`d so that `cargo test` stays fast; the corpus itself runs
//! in every `cargo test` (`every_corpus_input_keeps_the_ledger`).

mod mutate;
mod target;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;

use crate::util::root;
use target::{Harness, Target, Violation};

/// The total budget when `STREAM_INFER_FUZZ_SECONDS` is unset, shared by the three targets.
const DEFAULT_SECONDS: u64 = 60;
/// Stop a target after this many failing inputs: they are most likely one bug.
const MAX_FAILURES: usize = 8;
/// An input still running after this long is a hang: save it and stop the process.
const HANG: Duration = Duration::from_secs(60);

fn corpus(target: Target) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = root().join("fuzz/corpus").join(target.name());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn artifacts(target: Target) -> PathBuf {
    root().join("fuzz/artifacts").join(target.name())
}

/// FNV-1a, to name an artifact after its content.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Saves a failing input and prints it, with the command that replays it.
fn report(target: Target, input: &[u8], violation: &Violation) -> PathBuf {
    let dir = artifacts(target);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("crash-{:016x}", fnv(input)));
    std::fs::write(&path, input).unwrap();
    let shown = if input.len() <= 4096 {
        base64::engine::general_purpose::STANDARD.encode(input)
    } else {
        format!("({} bytes; see the file)", input.len())
    };
    eprintln!(
        "FUZZ FAILURE [{}] {}\n  input (base64): {shown}\n  saved: {}\n  replay: STREAM_INFER_FUZZ_REPLAY={} scripts/fuzz replay",
        target.name(),
        violation.0,
        path.display(),
        path.display()
    );
    path
}

/// Watches the input in flight: a hang is saved and ends the process, which a test cannot
/// interrupt otherwise. `started` is the input's start in milliseconds since the epoch, 0 when
/// idle.
struct Watchdog {
    started: Arc<AtomicU64>,
    input: Arc<std::sync::Mutex<Vec<u8>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl Watchdog {
    fn start(target: Target) -> Watchdog {
        let started = Arc::new(AtomicU64::new(0));
        let input = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, i) = (started.clone(), input.clone());
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let at = s.load(Ordering::SeqCst);
                if at != 0 && now_ms().saturating_sub(at) > HANG.as_millis() as u64 {
                    let bytes = i.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let violation = Violation(format!("hang: one input ran over {HANG:?}"));
                    report(target, &bytes, &violation);
                    std::process::exit(3);
                }
            }
        });
        Watchdog { started, input }
    }

    fn begin(&self, input: &[u8]) {
        *self.input.lock().unwrap_or_else(|p| p.into_inner()) = input.to_vec();
        self.started.store(now_ms(), Ordering::SeqCst);
    }

    fn end(&self) {
        self.started.store(0, Ordering::SeqCst);
    }
}

/// The budget of one target: the total (`STREAM_INFER_FUZZ_SECONDS`) shared by the three.
fn budget() -> Duration {
    let total: u64 = std::env::var("STREAM_INFER_FUZZ_SECONDS")
        .ok()
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("STREAM_INFER_FUZZ_SECONDS={s:?} is not a whole number"))
        })
        .unwrap_or(DEFAULT_SECONDS);
    Duration::from_millis(total * 1000 / Target::ALL.len() as u64)
}

/// Mutates the corpus of `target` until the budget is spent; fails listing what broke.
fn fuzz(target: Target) {
    let seed = std::env::var("STREAM_INFER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms() ^ u64::from(std::process::id()));
    let mut rng = fastrand::Rng::with_seed(seed);
    let budget = budget();
    let harness = Harness::new();
    let seeds: Vec<Vec<u8>> = corpus(target).into_iter().map(|(_, b)| b).collect();
    // Recent mutants that passed, so that mutations can stack over several rounds.
    let mut recent: Vec<Vec<u8>> = Vec::new();
    let watchdog = Watchdog::start(target);
    let mut failures: Vec<(String, PathBuf)> = Vec::new();
    let (mut runs, started) = (0u64, Instant::now());
    while started.elapsed() < budget && failures.len() < MAX_FAILURES {
        let base = if !recent.is_empty() && rng.u8(0..4) == 0 {
            &recent[rng.usize(..recent.len())]
        } else {
            &seeds[rng.usize(..seeds.len())]
        };
        let input = mutate::mutate(&mut rng, base, &seeds, target);
        let setup = rng.usize(..harness.setups());
        watchdog.begin(&input);
        let result = harness.run(target, &input, Some(setup));
        watchdog.end();
        runs += 1;
        match result {
            Ok(()) => {
                if recent.len() < 64 {
                    recent.push(input);
                } else {
                    let slot = rng.usize(..recent.len());
                    recent[slot] = input;
                }
            }
            Err(violation) => {
                let path = report(target, &input, &violation);
                failures.push((violation.0, path));
            }
        }
    }
    eprintln!(
        "fuzz [{}]: {runs} inputs in {:.1?} (seed {seed}, {} corpus files), {} failing",
        target.name(),
        started.elapsed(),
        seeds.len(),
        failures.len()
    );
    eprintln!("fuzz [{}] reached: {}", target.name(), harness.stats());
    assert!(
        failures.is_empty(),
        "fuzz [{}] found {} failing input(s) (seed {seed}):\n{}",
        target.name(),
        failures.len(),
        failures
            .iter()
            .map(|(v, p)| format!("- {v}\n  {}", p.display()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
#[ignore = "a fuzzing run: scripts/fuzz"]
fn fuzz_event() {
    fuzz(Target::Event);
}

#[test]
#[ignore = "a fuzzing run: scripts/fuzz"]
fn fuzz_payload() {
    fuzz(Target::Payload);
}

#[test]
#[ignore = "a fuzzing run: scripts/fuzz"]
fn fuzz_model() {
    fuzz(Target::Model);
}

/// The target of a saved input: the name of the directory it sits in
/// (`fuzz/artifacts/<target>/…` or `fuzz/corpus/<target>/…`), or `STREAM_INFER_FUZZ_TARGET`.
fn target_of(path: &Path) -> Target {
    if let Ok(name) = std::env::var("STREAM_INFER_FUZZ_TARGET") {
        return Target::from_name(&name).unwrap_or_else(|| {
            panic!("STREAM_INFER_FUZZ_TARGET={name:?}: event, payload or model")
        });
    }
    path.ancestors()
        .filter_map(|p| p.file_name()?.to_str())
        .find_map(Target::from_name)
        .unwrap_or_else(|| {
            panic!(
                "{}: not under a directory named event, payload or model; set STREAM_INFER_FUZZ_TARGET",
                path.display()
            )
        })
}

/// The files at `path`: itself, or every file under it, sorted.
fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if !path.is_dir() {
        files.push(path.to_owned());
        return;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for entry in entries {
        collect(&entry, files);
    }
}

/// Replays saved inputs under every setup: `STREAM_INFER_FUZZ_REPLAY` names files or
/// directories, separated by `:`.
#[test]
#[ignore = "replays saved inputs: scripts/fuzz replay"]
fn fuzz_replay() {
    let list = std::env::var("STREAM_INFER_FUZZ_REPLAY")
        .expect("set STREAM_INFER_FUZZ_REPLAY to the files or directories to replay");
    let mut files = Vec::new();
    for entry in list.split(':').filter(|s| !s.is_empty()) {
        let path = PathBuf::from(entry);
        if path.is_relative() {
            collect(&root().join(path), &mut files);
        } else {
            collect(&path, &mut files);
        }
    }
    assert!(!files.is_empty(), "nothing to replay in {list}");
    let harness = Harness::new();
    let mut failures = Vec::new();
    for path in &files {
        let target = target_of(path);
        let input =
            std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        match harness.run(target, &input, None) {
            Ok(()) => eprintln!("ok   [{}] {}", target.name(), path.display()),
            Err(violation) => {
                eprintln!(
                    "FAIL [{}] {}: {}",
                    target.name(),
                    path.display(),
                    violation.0
                );
                failures.push(format!("{}: {}", path.display(), violation.0));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} replayed inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Every corpus input, unmutated, under every setup: the seeds are the regression tests of the
/// decoders, so they run in every `cargo test`, not only in a fuzzing run.
#[test]
fn every_corpus_input_keeps_the_ledger() {
    let harness = Harness::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for target in Target::ALL {
        let inputs = corpus(target);
        assert!(
            !inputs.is_empty(),
            "fuzz/corpus/{} is empty: run fuzz/make_seeds.py",
            target.name()
        );
        for (path, input) in inputs {
            count += 1;
            if let Err(violation) = harness.run(target, &input, None) {
                failures.push(format!("{}: {}", path.display(), violation.0));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} corpus inputs break the ledger:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The corpus covers every reason code: a seed named after it, for the codes a payload or an
/// event can cause (`internal` and `sink_rejected` come from bugs and sinks, not from input).
#[test]
fn the_corpus_has_a_seed_for_every_reason_code() {
    let source = std::fs::read_to_string(root().join("src/reason.rs")).unwrap();
    let codes: Vec<&str> = source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Reason::"))
        .filter_map(|l| l.split_once("=> \""))
        .filter_map(|(_, rest)| rest.split('"').next())
        .collect();
    assert!(
        codes.len() > 20,
        "read the reason codes from src/reason.rs: {codes:?}"
    );
    let names: Vec<String> = Target::ALL
        .iter()
        .flat_map(|t| corpus(*t))
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // The DynamoDB reasons are records of one seed event, whose eventIDs name them.
    let dynamodb =
        std::fs::read_to_string(root().join("fuzz/corpus/event/seed-dynamodb-every-reason.json"))
            .unwrap();
    let missing: Vec<&str> = codes
        .iter()
        .copied()
        .filter(|c| !["internal", "sink_rejected"].contains(c))
        .filter(|c| !names.iter().any(|n| n.contains(c)))
        .filter(|c| !dynamodb.contains(&format!("\"eventID\": \"{c}-")))
        .collect();
    assert!(
        missing.is_empty(),
        "reason codes without a corpus seed (add one to fuzz/make_seeds.py): {missing:?}"
    );
}
