//! Runs every corpus input and every past finding through its target's checks, on stable:
//! `cargo test --workspace` in `fuzz/`. A finding goes to `fuzz/regressions/<target>/` once it is fixed
//! (and as a unit test in the crate that had the bug).

use std::path::Path;

use rtmpws_fuzz_harness::TARGETS;

fn replay(folder: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(folder);
    let mut count = 0;
    for (target, run) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            eprintln!("{target}: {}", path.display());
            run(&bytes);
            count += 1;
        }
    }
    count
}

#[test]
fn corpus_inputs_pass() {
    let count = replay("corpus");
    assert!(count >= TARGETS.len(), "only {count} corpus inputs");
}

#[test]
fn past_findings_pass() {
    replay("regressions");
}

#[test]
fn seeds_are_current() {
    // The checked-in seeds are what the generator makes (regenerate with the `seeds` binary).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    for (target, name, bytes) in rtmpws_fuzz_harness::seeds::all() {
        let path = root.join(target).join(format!("seed-{name}"));
        let stored = std::fs::read(&path).unwrap_or_default();
        assert!(stored == bytes, "{} is stale", path.display());
    }
}

#[test]
fn seeds_cover_every_target() {
    let seeds = rtmpws_fuzz_harness::seeds::all();
    for (target, _) in TARGETS {
        assert!(
            seeds.iter().any(|(t, ..)| t == target),
            "no seed for {target}"
        );
    }
}
