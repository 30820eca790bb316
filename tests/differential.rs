//! Loader-differential harness (issue 10, "the real loaders as oracle").
//!
//! `tests/differential/generate.py` writes, per attack class, structural variants as pairs: a
//! payload that calls a real dangerous callable and a byte-for-byte twin that calls the test-only
//! canary `modelgate_canary.hit` instead. `tests/differential/oracle.py` runs the real loaders
//! (pickle, numpy, joblib, pandas, zipfile/tarfile extraction, h5py, jinja2, PyYAML, hydra-core,
//! importlib) on every twin in a forked child. A variant whose twin reached the canary is
//! *confirmed*: the modelgate binary must report its payload at high or critical. Benign files,
//! and twins the loaders did not reach where the twin itself is harmless, are *controls*: no high
//! or critical finding is allowed there (nor anything above a control's stricter `limits`).
//!
//! Knobs: `MODELGATE_DIFF_PER_CLASS` (variants per class, default 24), `MODELGATE_DIFF_SEED`
//! (default 1), `MODELGATE_DIFF_OUT` (keep the generated cases in this directory instead of a
//! temporary one), `MODELGATE_DIFF_REPORT` (also write the per-class table and misses there),
//! `MODELGATE_DIFF_BIN` (scan with this modelgate binary instead of the one cargo built).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Python modules the oracle needs beyond the base venv (tests/requirements.txt lists them).
const ORACLE_MODULES: &str =
    "import numpy, joblib, pandas, h5py, jinja2, yaml, lz4.frame, zstandard, hydra.utils";

/// What modelgate said about one path.
struct Verdict {
    exit: i32,
    max_severity: String,
    statuses: String,
    codes: String,
    /// Highest severity per finding code.
    findings: BTreeMap<String, String>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn scan(path: &Path) -> Verdict {
    // MODELGATE_DIFF_BIN: judge another build (e.g. main's) with the same cases.
    let bin = std::env::var_os("MODELGATE_DIFF_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_modelgate")),
        PathBuf::from,
    );
    let out = Command::new(bin)
        .args(["scan", "--format", "json", "--quiet", "--jobs", "1"])
        .arg(path)
        .output()
        .expect("run modelgate");
    let exit = out.status.code().unwrap_or(-1);
    let Ok(report) = serde_json::from_slice::<Value>(&out.stdout) else {
        return Verdict {
            exit,
            max_severity: "no-json".into(),
            statuses: String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(120)
                .collect(),
            codes: String::new(),
            findings: BTreeMap::new(),
        };
    };
    let max_severity = report["summary"]["max_severity"]
        .as_str()
        .unwrap_or("none")
        .to_owned();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for a in report["artifacts"].as_array().into_iter().flatten() {
        let key = format!(
            "{}:{}",
            a["format"].as_str().unwrap_or("?"),
            a["status"].as_str().unwrap_or("?")
        );
        *statuses.entry(key).or_default() += 1;
    }
    let mut codes: BTreeMap<String, String> = BTreeMap::new();
    for f in report["findings"].as_array().into_iter().flatten() {
        let severity = f["severity"].as_str().unwrap_or("?").to_owned();
        let slot = codes
            .entry(f["code"].as_str().unwrap_or("?").to_owned())
            .or_default();
        if rank(&severity) >= rank(slot) {
            *slot = severity;
        }
    }
    Verdict {
        exit,
        max_severity,
        statuses: statuses
            .iter()
            .map(|(k, n)| format!("{k}x{n}"))
            .collect::<Vec<_>>()
            .join(","),
        findings: codes.clone(),
        codes: codes
            .iter()
            .map(|(c, s)| format!("{c}={s}"))
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn flagged(v: &Verdict) -> bool {
    matches!(v.max_severity.as_str(), "high" | "critical")
}

fn rank(severity: &str) -> u8 {
    match severity {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// A control's findings above its stricter per-code limits (the case's `limits`: finding code,
/// or `*` for any code, to the highest severity allowed), e.g. principle 9's "a label list is not
/// a pickle" and "a compressed joblib dump is no extension mismatch above info".
fn over_limits(v: &Verdict, limits: &BTreeMap<String, String>) -> Vec<String> {
    v.findings
        .iter()
        .filter(|(code, severity)| {
            limits
                .get(*code)
                .or_else(|| limits.get("*"))
                .is_some_and(|limit| rank(severity) > rank(limit))
        })
        .map(|(code, severity)| format!("{code}={severity}"))
        .collect()
}

/// One case of the manifest that the test checks.
struct Check {
    class: String,
    variant: String,
    role: String,
    path: PathBuf,
    desc: String,
    limits: BTreeMap<String, String>,
}

#[test]
fn confirmed_payloads_are_flagged_and_controls_are_not() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let python = venv.join("bin/python");
    let has_modules = Command::new(&python)
        .args(["-c", ORACLE_MODULES])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require(
        has_modules,
        "the oracle's Python packages (h5py, jinja2, PyYAML, lz4, zstandard, hydra-core; tests/requirements.txt)",
    ) {
        return;
    }
    let per_class: usize = env_or("MODELGATE_DIFF_PER_CLASS", 24);
    let seed: u64 = env_or("MODELGATE_DIFF_SEED", 1);
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = std::env::var_os("MODELGATE_DIFF_OUT")
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    if dir != temp.path() && dir.exists() {
        // Only ever clear a directory an earlier run of this harness wrote.
        assert!(
            dir.join("cases.json").exists(),
            "MODELGATE_DIFF_OUT={} exists and is not a harness output directory",
            dir.display()
        );
        std::fs::remove_dir_all(&dir).expect("clear MODELGATE_DIFF_OUT");
    }
    let scripts = common::root().join("tests/differential");
    common::run_python(
        &python,
        &[
            scripts.join("generate.py").as_os_str(),
            "--seed".as_ref(),
            seed.to_string().as_ref(),
            "--per-class".as_ref(),
            per_class.to_string().as_ref(),
            "--out".as_ref(),
            dir.as_os_str(),
        ],
        None,
    );
    common::run_python(
        &python,
        &[scripts.join("oracle.py").as_os_str(), dir.as_os_str()],
        None,
    );
    let heading = format!(
        "differential harness: seed {seed}, {per_class} variants per class, cases in {}",
        dir.display()
    );
    check_manifest(&dir, &heading, true);
}

/// The committed fixed-seed sample (testdata/differential, see its README): payloads a real
/// loader ran must be flagged, controls must not. Needs no Python.
#[test]
fn committed_differential_fixtures() {
    let dir = common::testdata("differential");
    check_manifest(
        &dir,
        "committed differential fixtures (testdata/differential)",
        false,
    );
}

/// Scans every payload the loaders confirmed and every control of `dir/manifest.json` with the
/// modelgate binary; prints the per-class table and the misses, writes them to
/// `MODELGATE_DIFF_REPORT` when set and `report` holds, and fails on any miss or false alarm.
#[allow(clippy::print_stderr)] // the per-class table is this test's output
fn check_manifest(dir: &Path, heading: &str, report: bool) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("manifest json");

    let mut generated: BTreeMap<String, [usize; 5]> = BTreeMap::new();
    let mut checks = Vec::new();
    for case in manifest["cases"].as_array().expect("cases") {
        let s = |k: &str| case[k].as_str().unwrap_or_default().to_owned();
        let class = s("class");
        let role = s("role");
        let counts = generated.entry(class.clone()).or_default();
        if s("kind") == "attack" {
            counts[0] += 1;
        }
        let path = match role.as_str() {
            "attack" => {
                counts[1] += 1;
                s("payload")
            }
            "benign" => s("payload"),
            "control" => s("control"),
            _ => continue,
        };
        if role != "attack" {
            counts[3] += 1;
        }
        checks.push(Check {
            class,
            variant: s("variant"),
            role,
            path: dir.join(path),
            limits: case["limits"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("info").to_owned()))
                .collect(),
            desc: format!(
                "{} (reached by: {})",
                s("desc"),
                case["reached_by"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }

    // Two workers: the machine running the suite has two cores.
    let verdicts: Vec<Verdict> = std::thread::scope(|s| {
        let halves: Vec<_> = checks
            .chunks(checks.len().div_ceil(2).max(1))
            .map(|chunk| s.spawn(move || chunk.iter().map(|c| scan(&c.path)).collect::<Vec<_>>()))
            .collect();
        halves
            .into_iter()
            .flat_map(|h| h.join().expect("scan worker"))
            .collect()
    });

    let mut misses = String::new();
    let mut false_alarms = String::new();
    for (c, v) in checks.iter().zip(&verdicts) {
        let counts = generated.get_mut(&c.class).expect("class");
        let line = format!(
            "{:<20} {:<28} exit={} max={:<8} {}\n    path: {}\n    artifacts: {}\n    findings: {}\n    variant: {}\n",
            c.class,
            c.variant,
            v.exit,
            v.max_severity,
            c.role,
            c.path.display(),
            v.statuses,
            v.codes,
            c.desc
        );
        if c.role == "attack" {
            if flagged(v) {
                counts[2] += 1;
            } else {
                misses.push_str(&line);
            }
        } else {
            let over = over_limits(v, &c.limits);
            if flagged(v) || !over.is_empty() {
                counts[4] += 1;
                false_alarms.push_str(&line);
                if !over.is_empty() {
                    let _ = writeln!(
                        false_alarms,
                        "    above its limits {:?}: {}",
                        c.limits,
                        over.join(", ")
                    );
                }
            }
        }
    }

    let mut table = format!(
        "{heading}\n{:<20} {:>9} {:>9} {:>8} {:>8} {:>9}\n",
        "class", "generated", "confirmed", "detected", "controls", "false-pos"
    );
    let mut total = [0usize; 5];
    for (class, n) in &generated {
        let _ = writeln!(
            table,
            "{class:<20} {:>9} {:>9} {:>8} {:>8} {:>9}",
            n[0], n[1], n[2], n[3], n[4]
        );
        for (t, x) in total.iter_mut().zip(n) {
            *t += x;
        }
    }
    let _ = writeln!(
        table,
        "{:<20} {:>9} {:>9} {:>8} {:>8} {:>9}",
        "total", total[0], total[1], total[2], total[3], total[4]
    );
    let full = format!(
        "{table}\nMISSES (confirmed by a real loader, not reported high/critical):\n{misses}\nFALSE ALARMS (controls reported high/critical, or above their stricter limits):\n{false_alarms}"
    );
    eprintln!("{full}");
    if let Some(path) = std::env::var_os("MODELGATE_DIFF_REPORT").filter(|_| report) {
        std::fs::write(path, &full).expect("write MODELGATE_DIFF_REPORT");
    }
    // A class whose loaders confirm none of several variants has a broken generator or oracle,
    // not a clean engine (one or two variants may all be shapes no loader runs).
    let unconfirmed: Vec<&String> = generated
        .iter()
        .filter(|(_, n)| n[0] >= 5 && n[1] == 0)
        .map(|(class, _)| class)
        .collect();
    assert!(
        unconfirmed.is_empty(),
        "the loaders confirmed no variant of {unconfirmed:?}: the harness is broken there"
    );
    assert!(
        misses.is_empty() && false_alarms.is_empty(),
        "{} confirmed payloads missed, {} controls flagged (table above)",
        total[1] - total[2],
        total[4]
    );
}
