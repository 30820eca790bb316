//! Drop-in compatibility with the real `modelscan` 0.8.8 (installed in the test venv): on the same
//! fixtures, `modelgate modelscan -o` writes a JSON file with modelscan's keys in modelscan's order,
//! and every (module, operator) modelscan reports is reported by modelgate too. modelgate may
//! report more — that is the point — but never less.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn run_json(cmd: &mut Command, out: &Path) -> Value {
    let status = cmd.status().expect("run");
    assert!(
        status.code().is_some_and(|c| c <= 4),
        "{cmd:?} crashed: {status}"
    );
    serde_json::from_str(&std::fs::read_to_string(out).expect("report written"))
        .expect("valid JSON")
}

fn pairs(v: &Value) -> BTreeSet<(String, String)> {
    v["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap_or_default().to_owned();
            (s("module"), s("operator"))
        })
        .collect()
}

#[test]
fn keys_match_and_modelgate_reports_everything_modelscan_reports() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let modelscan = venv.join("bin/modelscan");
    assert!(
        modelscan.is_file(),
        "modelscan 0.8.8 is installed in the test venv by tests/setup.sh"
    );
    let dir = tempfile::tempdir().expect("tmp");
    // Fixtures modelscan can read (it routes by extension): raw pickles, torch zips, zips.
    let mut fixtures: Vec<_> = ["pickle/malicious", "pickle/benign", "archives/malicious"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(common::testdata(d))
                .expect("fixtures")
                .filter_map(Result::ok)
        })
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| {
                ["pkl", "pt", "zip", "pickle", "dat"].contains(&e.to_str().unwrap_or_default())
            })
        })
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() > 20,
        "expected a real fixture set, got {}",
        fixtures.len()
    );
    let mut compared = 0;
    for f in &fixtures {
        let ms_out = dir.path().join("ms.json");
        let mg_out = dir.path().join("mg.json");
        let _ = std::fs::remove_file(&ms_out);
        let ms = run_json(
            Command::new(&modelscan)
                .arg("-p")
                .arg(f)
                .arg("-o")
                .arg(&ms_out)
                .args(["-r", "json"])
                .current_dir(dir.path()),
            &ms_out,
        );
        let mg = run_json(
            Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
                .args(["modelscan", "-p"])
                .arg(f)
                .arg("-o")
                .arg(&mg_out)
                .current_dir(dir.path()),
            &mg_out,
        );
        assert_eq!(keys(&mg), keys(&ms), "{}: top-level keys", f.display());
        let expected_summary: Vec<String> = keys(&ms["summary"]);
        let mut got_summary = keys(&mg["summary"]);
        // modelscan omits `scanned_files` when nothing was scanned; compare the key sets it shares.
        got_summary.retain(|k| expected_summary.contains(k) || k != "skipped");
        assert_eq!(
            got_summary,
            expected_summary,
            "{}: summary keys",
            f.display()
        );
        for issue in mg["issues"].as_array().into_iter().flatten() {
            assert_eq!(
                keys(issue),
                [
                    "description",
                    "operator",
                    "module",
                    "source",
                    "scanner",
                    "severity"
                ],
                "{}: issue keys",
                f.display()
            );
        }
        // modelscan writes ("unknown", "unknown") when it cannot resolve an operand (B2, B4);
        // modelgate resolves it, so any critical modelgate issue on the file covers it.
        let mg_critical = mg["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["severity"] == "CRITICAL");
        let missing: Vec<_> = pairs(&ms)
            .difference(&pairs(&mg))
            .filter(|(m, o)| !(mg_critical && (m == "unknown" || o == "unknown")))
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "{}: modelscan reports {missing:?}, modelgate does not",
            f.display()
        );
        compared += 1;
    }
    assert_eq!(compared, fixtures.len());
}
