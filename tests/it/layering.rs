//! The layering rules of ARCHITECTURE.md, kept true by reading the tree: only `src/sip/` names the SIP
//! engine; `src/proto/` never imports tokio or dashmap nor reads the clock; only `actor/clock.rs` does.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Test code may read the clock to make a base instant; the rules are about the code that ships.
fn is_test_file(path: &Path) -> bool {
    path.ends_with("tests.rs") || path.components().any(|c| c.as_os_str() == "tests")
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Lines of code (comments skipped) in `files` that contain any of `needles`.
fn offenders(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("readable file");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|needle| code.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, code));
            }
        }
    }
    found
}

#[test]
fn only_sip_names_the_parsing_engine() {
    let files: Vec<PathBuf> =
        rust_files(&src()).into_iter().filter(|p| !p.starts_with(src().join("sip"))).collect();
    assert!(!files.is_empty());
    let bad = offenders(&files, &["rsip::", "ezk_sip_types", "rsip_"]);
    assert!(bad.is_empty(), "engine named outside src/sip:\n{}", bad.join("\n"));
}

#[test]
fn proto_is_sans_io() {
    let files = rust_files(&src().join("proto"));
    assert!(files.len() >= 3);
    let bad = offenders(
        &files.iter().filter(|p| !is_test_file(p)).cloned().collect::<Vec<_>>(),
        &["tokio", "dashmap", "Instant::now", "SystemTime::now", "std::net::UdpSocket", "std::thread::sleep"],
    );
    assert!(bad.is_empty(), "src/proto must stay sans-IO:\n{}", bad.join("\n"));
}

#[test]
fn only_the_clock_module_reads_the_clock() {
    let files: Vec<PathBuf> = rust_files(&src())
        .into_iter()
        .filter(|p| !p.ends_with("actor/clock.rs") && !is_test_file(p))
        .collect();
    let bad = offenders(&files, &["Instant::now()", "SystemTime::now()"]);
    assert!(bad.is_empty(), "clock read outside actor/clock.rs:\n{}", bad.join("\n"));
}

#[test]
fn dashmap_stays_in_its_two_places() {
    let files: Vec<PathBuf> = rust_files(&src());
    let allowed = ["net/connections.rs", "actor/calls.rs"];
    let bad: Vec<String> = offenders(&files, &["dashmap"])
        .into_iter()
        .filter(|line| !allowed.iter().any(|a| line.contains(a)))
        .collect();
    assert!(bad.is_empty(), "dashmap outside the call index and the connection pool:\n{}", bad.join("\n"));
}
