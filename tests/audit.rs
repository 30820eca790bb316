//! `modelgate audit` and `modelgate report merge`, driving the real binary over a registry
//! generated here: thousands of small files in a Hugging Face cache (snapshots sharing blobs by
//! symbolic link), an MLflow store and plain folders, with duplicates and a few malicious files
//! hidden deep (one inside a tar archive). The caches are real SQLite files and a real PostgreSQL
//! server; the OCI source is the real `docker-registry`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_modelgate");

/// A protocol-2 pickle that would run `MODULE.NAME("true")` when loaded.
fn evil(module: &str, name: &str) -> Vec<u8> {
    let mut p = b"\x80\x02c".to_vec();
    p.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    p.extend_from_slice(b"X\x04\x00\x00\x00true\x85R.");
    p
}

/// A harmless protocol-2 pickle of the string `text`.
fn benign(text: &str) -> Vec<u8> {
    let mut p = b"\x80\x02X".to_vec();
    p.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
    p.extend_from_slice(text.as_bytes());
    p.push(b'.');
    p
}

/// A one-tensor safetensors file whose value depends on `n`.
fn safetensors(n: u32) -> Vec<u8> {
    let header = br#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header);
    v.extend_from_slice(&n.to_le_bytes());
    v
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

/// Where the generator hid its malicious content, as the audit names it.
const HIDDEN: &[&str] = &[
    "hf://evil-org/tiny@rev2/deep/a/b/c/pytorch_model.pkl",
    "runs:/run0013/model/data/deep/model.pkl",
    "models:/m-7/model.pkl",
];

/// Generates the registry under `root`: `models` Hugging Face repos with two snapshots each
/// (sharing most blobs), `runs` MLflow runs, and a plain folder of `plain` files (every tenth a
/// duplicate). Returns how many regular files and links it wrote.
fn generate(root: &Path, models: u32, runs: u32, plain: u32) -> usize {
    let mut n = 0;
    let hub = root.join("hf/hub");
    for m in 0..models {
        let repo = hub.join(format!("models--org{}--model{m}", m % 7));
        let blob = |name: &str, data: &[u8], n: &mut usize| {
            write(&repo.join("blobs").join(name), data);
            *n += 1;
        };
        blob("w1", &safetensors(m), &mut n);
        blob("w2", &benign(&format!("model {m}")), &mut n);
        blob("cfg", format!("{{\"model\": {m}}}").as_bytes(), &mut n);
        blob("w3", &benign(&format!("model {m} v2")), &mut n);
        for (rev, files) in [
            (
                "rev1",
                [
                    ("model.safetensors", "w1"),
                    ("pytorch_model.bin", "w2"),
                    ("config.json", "cfg"),
                ],
            ),
            (
                "rev2",
                [
                    ("model.safetensors", "w1"),
                    ("pytorch_model.bin", "w3"),
                    ("config.json", "cfg"),
                ],
            ),
        ] {
            let snap = repo.join("snapshots").join(rev);
            std::fs::create_dir_all(&snap).unwrap();
            for (file, b) in files {
                std::os::unix::fs::symlink(format!("../../blobs/{b}"), snap.join(file)).unwrap();
                n += 1;
            }
        }
        write(&repo.join("refs/main"), b"rev2");
        n += 1;
    }
    // The hidden one: a blob linked from deep inside a snapshot.
    let evil_repo = hub.join("models--evil-org--tiny");
    write(&evil_repo.join("blobs/e1"), &evil("os", "system"));
    std::fs::create_dir_all(evil_repo.join("snapshots/rev2/deep/a/b/c")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../blobs/e1",
        evil_repo.join("snapshots/rev2/deep/a/b/c/pytorch_model.pkl"),
    )
    .unwrap();
    n += 2;
    let mlruns = root.join("mlflow/mlruns");
    for r in 0..runs {
        let run = mlruns.join("1").join(format!("run{r:04}"));
        write(
            &run.join("artifacts/model/model.pkl"),
            &benign(&format!("run {r}")),
        );
        write(&run.join("artifacts/model/MLmodel"), b"flavors: {}\n");
        write(
            &run.join("meta.yaml"),
            format!("run_id: run{r:04}\n").as_bytes(),
        );
        n += 3;
    }
    write(
        &mlruns.join("1/run0013/artifacts/model/data/deep/model.pkl"),
        &evil("subprocess", "Popen"),
    );
    write(
        &mlruns.join("1/models/m-7/artifacts/model.pkl"),
        &evil("builtins", "eval"),
    );
    n += 2;
    let flat = root.join("plain");
    for i in 0..plain {
        let dir = flat.join(format!("team{}/project{}", i % 5, i % 17));
        // Every tenth file repeats an earlier one's content under another name.
        let content = if i % 10 == 9 {
            benign(&format!("plain {}", i - 9))
        } else {
            benign(&format!("plain {i}"))
        };
        write(&dir.join(format!("weights{i}.pkl")), &content);
        n += 1;
    }
    // Inside an archive, deep in the plain tree.
    write(
        &flat.join("team1/project3/old/backup/export.tar"),
        &tar_with("model/data.pkl", &evil("posix", "system")),
    );
    n += 1;
    n
}

fn audit_cmd(sources: &[&Path], cache: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("audit");
    c.args(sources);
    c.args(["--cache", cache, "--format", "json", "--quiet"]);
    c.args(extra);
    c.env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("MODELGATE_SHARDS");
    c
}

fn run(mut c: Command) -> (Value, Output) {
    let out = c.output().expect("run modelgate");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}); exit {:?}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out)
}

fn audit(sources: &[&Path], cache: &str, extra: &[&str]) -> Value {
    let (r, out) = run(audit_cmd(sources, cache, extra));
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    r
}

fn sqlite(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// What must not differ between two audits of the same tree: every finding and artifact, the
/// summary and the audit section's counts, worst list and unscanned list.
fn outcome(r: &Value) -> Value {
    serde_json::json!({
        "findings": r["findings"],
        "artifacts": r["artifacts"],
        "summary": r["summary"],
        "omitted": r["omitted"],
        "counts": r["audit"]["counts"],
        "worst": r["audit"]["worst"],
        "unscanned": r["audit"]["unscanned"],
        "artifact_count": r["audit"]["artifacts"],
    })
}

/// Asserts two audits have the same outcome, naming the first difference (reports are large).
fn assert_same(a: &Value, b: &Value, what: &str) {
    let (a, b) = (outcome(a), outcome(b));
    for (k, va) in a.as_object().unwrap() {
        let vb = &b[k];
        if va == vb {
            continue;
        }
        if let (Some(xa), Some(xb)) = (va.as_array(), vb.as_array()) {
            let i = xa
                .iter()
                .zip(xb)
                .position(|(x, y)| x != y)
                .unwrap_or(xa.len().min(xb.len()));
            panic!(
                "{what}: {k} differs at [{i}] (lengths {} and {}):\n  {}\n  {}",
                xa.len(),
                xb.len(),
                xa.get(i).map_or("-".into(), Value::to_string),
                xb.get(i).map_or("-".into(), Value::to_string)
            );
        }
        panic!("{what}: {k} differs:\n  {va}\n  {vb}");
    }
}

fn stat(r: &Value, key: &str) -> u64 {
    r["audit"]["run"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no run.{key} in {}", r["audit"]["run"]))
}

fn top_artifacts(r: &Value) -> BTreeSet<String> {
    r["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["location"]["path"].as_str().unwrap().to_owned())
        .collect()
}

fn finding_paths(r: &Value) -> BTreeSet<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["location"]["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn cold_then_warm_audit_finds_the_same_and_reads_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), 300, 400, 1500);
    assert!(files > 3000, "{files}");
    let cache = sqlite(dir.path(), "cache.db");
    let sources = [
        &dir.path().join("hf"),
        &dir.path().join("mlflow"),
        &dir.path().join("plain"),
    ];
    let sources: Vec<&Path> = sources.iter().map(|p| p.as_path()).collect();
    let cold = audit(&sources, &cache, &[]);
    // The hidden payloads are found and named by their layouts.
    let found = finding_paths(&cold);
    for h in HIDDEN {
        assert!(found.contains(*h), "{h} not among {found:?}");
    }
    let tar = dir
        .path()
        .join("plain/team1/project3/old/backup/export.tar");
    assert!(found.contains(&tar.display().to_string()), "{found:?}");
    assert_eq!(
        cold["audit"]["counts"]["by_severity"]["critical"], 4,
        "{}",
        cold["audit"]["counts"]
    );
    assert_eq!(cold["audit"]["worst"][0]["max_severity"], "critical");
    // Shared blobs are reported under every snapshot that links them, but read and scanned once.
    let tops = top_artifacts(&cold);
    assert!(tops.contains("hf://org3/model3@rev1/model.safetensors"));
    assert!(tops.contains("hf://org3/model3@rev2/model.safetensors"));
    assert!(tops.contains("hf://org3/model3/refs/main"));
    assert!(
        !tops.iter().any(|t| t.contains("/blobs/")),
        "linked blobs are not listed on their own"
    );
    let listed = stat(&cold, "listed");
    assert!(
        stat(&cold, "hashed") < listed,
        "linked blobs are hashed once"
    );
    assert!(
        stat(&cold, "scanned") < stat(&cold, "hashed"),
        "identical content is scanned once"
    );
    // Blobs linked from snapshots in later batches are found unchanged by their stamp.
    assert!(stat(&cold, "hashed") + stat(&cold, "stamp_hits") < listed);

    let warm = audit(&sources, &cache, &[]);
    assert_same(
        &warm,
        &cold,
        "a warm audit reports exactly what the cold one did",
    );
    assert_eq!(stat(&warm, "hashed"), 0, "nothing re-hashed");
    assert_eq!(stat(&warm, "scanned"), 0, "nothing re-scanned");
    assert_eq!(
        stat(&warm, "cache_hits"),
        listed - unscanned_listing(&warm),
        "every artifact from the cache"
    );
    assert_eq!(stat(&warm, "stamp_hits"), listed - unscanned_listing(&warm));
}

/// Artifacts the listing itself settled (none in the generated registry but its links' blobs).
fn unscanned_listing(r: &Value) -> u64 {
    r["audit"]["unscanned"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["reason"].as_str().unwrap().contains("symbolic link"))
        .count() as u64
}

/// A batch's commit is written while the next batch runs: a content the next batch meets again
/// is taken from the batch that scanned it, never scanned twice, and the report is the same as
/// with one big batch.
#[test]
fn contents_repeated_across_batches_are_scanned_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tree");
    std::fs::create_dir_all(&src).unwrap();
    // Named so that each content's copies follow one another: batches of one meet the content
    // of the batch before, whose commit is still in flight.
    let a = b"\x80\x04]q\x00(K\x01K\x02e.".to_vec();
    let b = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.".to_vec();
    for (name, bytes) in [
        ("a1.pkl", &a),
        ("a2.pkl", &a),
        ("a3.pkl", &a),
        ("b1.pkl", &b),
        ("b2.pkl", &b),
        ("b3.pkl", &b),
    ] {
        std::fs::write(src.join(name), bytes).unwrap();
    }
    let one = audit(&[&src], &sqlite(dir.path(), "one.db"), &["--batch", "1"]);
    let whole = audit(&[&src], &sqlite(dir.path(), "whole.db"), &[]);
    assert_same(&one, &whole, "batches of one give the same report");
    assert_eq!(stat(&one, "scanned"), 2, "{}", one["audit"]["run"]);
    assert_eq!(
        stat(&one, "duplicates") + stat(&one, "cache_hits"),
        4,
        "{}",
        one["audit"]["run"]
    );
    assert_eq!(one["audit"]["counts"]["by_severity"]["critical"], 3);
}

#[test]
fn a_killed_audit_resumes_with_nothing_lost_or_counted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("registry");
    generate(&src, 100, 600, 1200);
    let whole = audit(&[&src], &sqlite(dir.path(), "reference.db"), &[]);
    let cache = dir.path().join("resumed.db");
    let args = ["--batch", "8", "--jobs", "1"];
    let mut child = audit_cmd(&[&src], &cache.display().to_string(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some batches are committed, and well before the end.
    let deadline = Instant::now() + Duration::from_mins(1);
    let committed = |c: &Path| -> i64 {
        rusqlite::Connection::open(c)
            .and_then(|db| db.query_row("SELECT COUNT(*) FROM audit_progress", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    loop {
        let n = committed(&cache);
        if n >= 200 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the audit ended before it could be killed ({n} committed)"
        );
        assert!(Instant::now() < deadline, "no progress committed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = committed(&cache);
    assert!(
        before < whole["audit"]["run"]["listed"].as_i64().unwrap(),
        "killed mid-run"
    );
    let resumed = audit(&[&src], &cache.display().to_string(), &args);
    assert_same(
        &resumed,
        &whole,
        "the resumed audit equals an uninterrupted one",
    );
    assert!(
        stat(&resumed, "resumed") >= before as u64,
        "{}",
        resumed["audit"]["run"]
    );
    // No artifact twice.
    let all: Vec<&Value> = resumed["artifacts"].as_array().unwrap().iter().collect();
    let unique: BTreeSet<String> = all.iter().map(|a| a["location"].to_string()).collect();
    assert_eq!(unique.len(), all.len());
    // A finished run forgets its progress: the next run is a warm run, not a resumed one.
    assert_eq!(committed(&cache), 0);
    let again = audit(&[&src], &cache.display().to_string(), &args);
    assert_eq!(stat(&again, "resumed"), 0);
    assert_eq!(stat(&again, "hashed"), 0);
}

fn merge(reports: &[PathBuf], out: &Path) -> Output {
    Command::new(BIN)
        .args(["report", "merge"])
        .args(reports)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn read(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn shards_partition_the_registry_and_merge_into_the_unsharded_report() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 60, 150, 400);
    let src = dir.path().join("hf");
    let src2 = dir.path().join("mlflow");
    let src3 = dir.path().join("plain");
    let sources: [&Path; 3] = [&src, &src2, &src3];
    let whole = audit(&sources, &sqlite(dir.path(), "whole.db"), &[]);
    let cache = sqlite(dir.path(), "shards.db");
    let mut paths = Vec::new();
    let mut union = BTreeSet::new();
    let mut total = 0;
    for k in 0..4 {
        let out = dir.path().join(format!("shard{k}.json"));
        let mut c = audit_cmd(&sources, &cache, &["--shard", &format!("{k}/4")]);
        c.arg("-o").arg(&out).output().unwrap();
        let r = read(&out);
        assert_eq!(r["audit"]["shard"]["index"], k);
        let tops = top_artifacts(&r);
        assert!(!tops.is_empty(), "shard {k} is empty");
        total += tops.len();
        union.extend(tops);
        paths.push(out);
    }
    assert_eq!(total, union.len(), "shards are disjoint");
    assert_eq!(union, top_artifacts(&whole), "their union is the whole");
    let merged_path = dir.path().join("merged.json");
    let m = merge(&paths, &merged_path);
    assert!(
        matches!(m.status.code(), Some(1)),
        "{}",
        String::from_utf8_lossy(&m.stderr)
    );
    let merged = read(&merged_path);
    assert_same(&merged, &whole, "the merge is the unsharded report");
    assert_eq!(
        merged["audit"]["shard"]["covers"],
        serde_json::json!([0, 1, 2, 3])
    );

    // A missing shard is named.
    let m = merge(&paths[..3], &dir.path().join("x.json"));
    assert_eq!(m.status.code(), Some(2));
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(err.contains("shard 3 of 4 is missing"), "{err}");
    // A shard given twice.
    let twice = [
        paths[0].clone(),
        paths[0].clone(),
        paths[1].clone(),
        paths[2].clone(),
        paths[3].clone(),
    ];
    let m = merge(&twice, &dir.path().join("x.json"));
    assert!(String::from_utf8_lossy(&m.stderr).contains("appears twice"));
    // A shard audited under another policy or with another signature database is refused.
    let other = dir.path().join("other-policy.json");
    let mut c = audit_cmd(&sources, &cache, &["--shard", "3/4", "--fail-on", "high"]);
    c.arg("-o").arg(&other);
    c.output().unwrap();
    let m = merge(
        &[paths[0].clone(), paths[1].clone(), paths[2].clone(), other],
        &dir.path().join("x.json"),
    );
    let err = String::from_utf8_lossy(&m.stderr);
    assert_eq!(m.status.code(), Some(2));
    assert!(err.contains("another policy"), "{err}");
    let sigs = dir.path().join("sigs");
    write(
        &sigs.join("extra.toml"),
        b"[meta]\narea = \"local\"\n[[entry]]\nkind = \"pickle-global\"\nmodule = \"mycorp.models\"\nname = \"*\"\naction = \"allow\"\nreason = \"Our own model classes, reviewed.\"\n",
    );
    let other = dir.path().join("other-db.json");
    let mut c = audit_cmd(&sources, &cache, &["--shard", "3/4", "--signatures"]);
    c.arg(&sigs).arg("-o").arg(&other);
    let out = c.output().unwrap();
    assert!(other.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = merge(
        &[paths[0].clone(), paths[1].clone(), paths[2].clone(), other],
        &dir.path().join("x.json"),
    );
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(err.contains("signature database"), "{err}");
    // Another shard count.
    let other = dir.path().join("of-two.json");
    let mut c = audit_cmd(&sources, &cache, &["--shard", "1/2"]);
    c.arg("-o").arg(&other);
    c.output().unwrap();
    let m = merge(&[paths[0].clone(), other], &dir.path().join("x.json"));
    assert!(String::from_utf8_lossy(&m.stderr).contains("is a shard of 2 but"));
}

#[test]
fn an_indexed_job_and_a_slurm_array_select_their_shards_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("registry");
    generate(&src, 20, 60, 120);
    let whole = audit(&[&src], &sqlite(dir.path(), "whole.db"), &[]);
    // As the pods of an Indexed Job with completions: 3 would: JOB_COMPLETION_INDEX from the
    // Job controller, MODELGATE_SHARDS from the pod template, each writing to a shared volume.
    let results = dir.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    let mut paths = Vec::new();
    for index in 0..3 {
        let out = results.join(format!("shard-{index}.json"));
        let mut c = audit_cmd(&[&src], &sqlite(dir.path(), &format!("pod{index}.db")), &[]);
        c.env("JOB_COMPLETION_INDEX", index.to_string())
            .env("MODELGATE_SHARDS", "3")
            .arg("-o")
            .arg(&out);
        let o = c.output().unwrap();
        assert!(out.exists(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(read(&out)["audit"]["shard"]["index"], index);
        assert_eq!(read(&out)["audit"]["shard"]["count"], 3);
        paths.push(out);
    }
    let merged = dir.path().join("merged.json");
    merge(&paths, &merged);
    assert_same(&read(&merged), &whole, "the same audit");
    // Without the count, the pod refuses rather than auditing everything as shard 0 of 1.
    let mut c = audit_cmd(&[&src], &sqlite(dir.path(), "x.db"), &[]);
    let o = c.env("JOB_COMPLETION_INDEX", "1").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("MODELGATE_SHARDS"));
    // A Slurm array numbered from 1 (--array=1-2): task 2 is shard 1 of 2.
    let out = dir.path().join("slurm.json");
    let mut c = audit_cmd(&[&src], &sqlite(dir.path(), "slurm.db"), &[]);
    c.env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .arg("-o")
        .arg(&out);
    c.output().unwrap();
    assert_eq!(read(&out)["audit"]["shard"]["index"], 1);
    assert_eq!(read(&out)["audit"]["shard"]["count"], 2);
}

#[test]
fn since_reports_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 5, 20, 30);
    let src = dir.path().join("mlflow");
    let cache = sqlite(dir.path(), "cache.db");
    let first = dir.path().join("first.json");
    let mut c = audit_cmd(&[&src], &cache, &[]);
    c.arg("-o").arg(&first);
    c.output().unwrap();
    // One payload removed, one added, one benign model replaced by a payload.
    std::fs::remove_file(src.join("mlruns/1/models/m-7/artifacts/model.pkl")).unwrap();
    write(
        &src.join("mlruns/1/run0002/artifacts/extra/evil.pkl"),
        &evil("os", "popen"),
    );
    write(
        &src.join("mlruns/1/run0003/artifacts/model/model.pkl"),
        &evil("nt", "system"),
    );
    let since = first.display().to_string();
    let r = audit(&[&src], &cache, &["--since", &since]);
    let d = &r["audit"]["since"];
    let paths = |k: &str| -> BTreeSet<String> {
        d[k].as_array()
            .unwrap()
            .iter()
            .map(|f| f["location"]["path"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        paths("new_findings"),
        [
            "runs:/run0002/extra/evil.pkl",
            "runs:/run0003/model/model.pkl"
        ]
        .map(str::to_owned)
        .into()
    );
    assert_eq!(paths("fixed"), ["models:/m-7/model.pkl".to_owned()].into());
    let before = read(&first)["summary"]["total_findings"].as_u64().unwrap();
    assert_eq!(d["still_open"].as_u64().unwrap(), before - 1);
    assert_eq!(
        d["new_artifacts"],
        serde_json::json!(["runs:/run0002/extra/evil.pkl"])
    );
    assert_eq!(
        d["removed_artifacts"],
        serde_json::json!(["models:/m-7/model.pkl"])
    );
    // The Markdown report says the same for a ticket.
    let out = Command::new(BIN)
        .arg("audit")
        .arg(&src)
        .args(["--cache", &cache, "-q", "-f", "markdown", "--since", &since])
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "2 new findings, 1 fixed, {} still open; 1 new artifacts, 1 removed.",
        d["still_open"]
    );
    assert!(md.contains(&expected), "{md}");
    assert!(md.contains("| critical | 3 |"), "{md}");
    // SARIF is the scan report's SARIF.
    let out = Command::new(BIN)
        .arg("audit")
        .arg(&src)
        .args(["--cache", &cache, "-q", "-f", "sarif"])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len() as u64,
        r["summary"]["total_findings"].as_u64().unwrap()
    );
}

#[test]
fn unreadable_broken_and_changing_files_are_reported_never_clean() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    write(&tree.join("ok/model.pkl"), &benign("fine"));
    write(&tree.join("locked/model.pkl"), &evil("os", "system"));
    std::fs::set_permissions(
        tree.join("locked/model.pkl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    std::os::unix::fs::symlink("../nowhere.pkl", tree.join("ok/broken.pkl")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", tree.join("ok/outside.pkl")).unwrap();
    let growing = tree.join("busy/growing.pkl");
    write(&growing, &vec![b'.'; 4 << 20]);
    let cache_dir = dir.path().join("cache");
    std::fs::create_dir_all(&cache_dir).unwrap();
    // Root reads any file: run the audit as `nobody` so the unreadable file is unreadable.
    let as_root =
        std::fs::metadata("/proc/self").map_or(1, |m| std::os::unix::fs::MetadataExt::uid(&m)) == 0;
    for p in [dir.path(), &tree, &cache_dir] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    }
    let cache = cache_dir.join("c.db").display().to_string();
    let command = || {
        let mut c = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        c.arg("audit")
            .arg(&tree)
            .args(["--cache", &cache, "-q", "--batch", "1", "--jobs", "1"]);
        c
    };
    // A writer appends to one file for as long as the audit runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let growing = growing.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&growing)
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.write_all(b".").unwrap();
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    let (r, out) = run(command());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "failed artifacts exit 2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unscanned: Vec<(String, String, String)> = r["audit"]["unscanned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["artifact"].as_str().unwrap().to_owned(),
                u["status"].as_str().unwrap().to_owned(),
                u["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let find = |suffix: &str| {
        unscanned
            .iter()
            .find(|(a, _, _)| a.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not in {unscanned:?}"))
            .clone()
    };
    let (_, status, reason) = find("locked/model.pkl");
    assert_eq!(status, "failed");
    assert!(reason.contains("Permission denied"), "{reason}");
    assert!(find("ok/broken.pkl").2.contains("broken symbolic link"));
    assert!(find("ok/outside.pkl")
        .2
        .contains("outside the audited tree"));
    // A loader opening ok/outside.pkl reads /etc/hostname: not inspected, so failed, never skipped.
    assert_eq!(find("ok/outside.pkl").1, "failed");
    assert_eq!(find("ok/broken.pkl").1, "skipped");
    let (_, status, reason) = find("busy/growing.pkl");
    assert_eq!(status, "failed");
    assert!(reason.contains("changed while"), "{reason}");
    assert_eq!(
        r["summary"]["scanned"], 1,
        "only the one readable, stable file counts as scanned"
    );
    // Nothing of the changing file was cached: the next run reads it again.
    let (r2, _) = run(command());
    assert_eq!(
        stat(&r2, "hashed"),
        2,
        "the unreadable file is tried again, the grown one re-read: {}",
        r2["audit"]["run"]
    );
}

#[test]
fn a_corrupted_cache_is_rebuilt_and_a_locked_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 3, 10, 20);
    let src = dir.path().join("mlflow");
    let reference = audit(&[&src], &sqlite(dir.path(), "ref.db"), &[]);
    let bad = dir.path().join("bad.db");
    std::fs::write(&bad, vec![0x5a; 8192]).unwrap();
    let (r, _) = run(audit_cmd(&[&src], &bad.display().to_string(), &[]));
    assert_same(
        &r,
        &reference,
        "a rebuilt cache changes nothing in the report",
    );
    let note = r["audit"]["run"]["cache_rebuilt"]
        .as_str()
        .expect("the report says the cache was rebuilt");
    assert!(note.contains("not a database"), "{note}");
    assert_eq!(stat(&r, "cache_hits"), 0);
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("bad.db.corrupt-")
        })
        .collect();
    assert_eq!(moved.len(), 1, "the damaged file is kept aside");

    // Another process holds the cache exclusively: refused with a clear message (after the
    // store's busy timeout), never a report.
    let held = rusqlite::Connection::open(&bad).unwrap();
    held.execute_batch("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;")
        .unwrap();
    let out = audit_cmd(&[&src], &bad.display().to_string(), &[])
        .output()
        .unwrap();
    drop(held);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "no report from a run that could not use its cache"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked by another process"), "{err}");
}

#[test]
fn postgres_cache_serves_the_warm_run() {
    let Some(bin) = common::pgserver::available() else {
        return;
    };
    let server = common::pgserver::Postgres::start(&bin);
    let url = server.create_database();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("registry");
    generate(&src, 20, 40, 100);
    let cold = audit(&[&src], &url, &[]);
    assert!(stat(&cold, "hashed") > 0);
    let warm = audit(&[&src], &url, &[]);
    assert_same(&warm, &cold, "the same audit");
    assert_eq!(stat(&warm, "hashed"), 0);
    assert_eq!(stat(&warm, "scanned"), 0);
    assert_eq!(
        common::pgserver::Postgres::query_i64(&url, "SELECT COUNT(*) FROM audit_progress"),
        0
    );
    assert!(common::pgserver::Postgres::query_i64(&url, "SELECT COUNT(*) FROM file_stamps") > 100);
    // The report never shows the URL's password.
    assert!(!cold["audit"]["run"]["cache"]
        .as_str()
        .unwrap()
        .contains("postgres:postgres"));
}

#[test]
fn oci_registry_source_scans_each_digest_once() {
    if !common::registry::available() {
        return;
    }
    let reg = common::registry::Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let evil_img = common::image(vec![common::layer(
        common::Comp::Gzip,
        vec![common::file("app/model.pkl", &evil("os", "system"))],
    )]);
    let good_img = common::image(vec![common::layer(
        common::Comp::Gzip,
        vec![common::file("app/model.pkl", &benign("fine"))],
    )]);
    let push = |img: &common::Image, repo: &str, tag: &str| {
        let layout = dir
            .path()
            .join(format!("layout-{}-{tag}", repo.replace('/', "-")));
        common::write_layout(&layout, std::slice::from_ref(img), tag);
        reg.push_layout(&layout, tag, repo);
    };
    push(&evil_img, "team/detector", "v1");
    push(&evil_img, "team/detector", "latest");
    push(&good_img, "team/classifier", "v1");
    push(&evil_img, "team/classifier", "v2");
    push(&good_img, "other/thing", "v1");
    let source = format!("oci://{}/team", reg.host());
    let r = audit(&[Path::new(&source)], &sqlite(dir.path(), "c.db"), &[]);
    let tops = top_artifacts(&r);
    assert_eq!(tops.len(), 3, "{tops:?}");
    assert!(tops
        .iter()
        .all(|t| t.starts_with(&format!("oci://{}/team/", reg.host()))));
    assert!(
        !tops.iter().any(|t| t.contains("other/thing")),
        "outside the prefix"
    );
    // detector:v1 and :latest are one digest; classifier:v2 is that digest again, in another
    // repository: two distinct digests, two scans.
    assert_eq!(stat(&r, "listed"), 3);
    assert_eq!(stat(&r, "scanned"), 2, "{}", r["audit"]["run"]);
    let found = finding_paths(&r);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|p| p.contains("@sha256:")));
    let warm = audit(&[Path::new(&source)], &sqlite(dir.path(), "c.db"), &[]);
    assert_same(&warm, &r, "the same audit");
    assert_eq!(stat(&warm, "scanned"), 0);
}

/// The listing shortcut: a re-audit of an unchanged tree reads no directory (each is only
/// stat'ed), and every change that can add, remove, rename or retarget an entry makes the
/// changed directories be read again, so the report is always the one a cold audit writes.
/// The tree is left to settle before each audit (the audit never keeps the listing of a directory
/// changed in the last seconds), so what is tested is the stamp comparison itself.
#[test]
fn a_reaudit_reuses_directory_listings_only_while_they_are_unchanged() {
    let settle = || std::thread::sleep(Duration::from_millis(3_300));
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let repo = tree.join("hub/models--org--m");
    write(&repo.join("blobs/aaa"), &benign("a"));
    write(&repo.join("blobs/bbb"), &evil("os", "system"));
    std::fs::create_dir_all(repo.join("snapshots/r1")).unwrap();
    let link = repo.join("snapshots/r1/model.pkl");
    std::os::unix::fs::symlink("../../blobs/aaa", &link).unwrap();
    write(&tree.join("plain/sub/deep/one.pkl"), &benign("one"));
    write(&tree.join("plain/keep/two.pkl"), &benign("two"));
    write(&tree.join("plain/same/three.pkl"), &benign("three"));
    let payload = evil("os", "system");
    let harmless = benign(&"x".repeat(payload.len() - 8));
    assert_eq!(harmless.len(), payload.len());
    let replaced = tree.join("plain/other/four.pkl");
    write(&replaced, &harmless);
    settle();
    let cache = sqlite(dir.path(), "cache.db");
    let cold = audit(&[&tree], &cache, &[]);
    assert!(stat(&cold, "dirs_read") >= 10, "{}", cold["audit"]["run"]);
    let warm = audit(&[&tree], &cache, &[]);
    assert_same(&warm, &cold, "an unchanged tree");
    assert_eq!(stat(&warm, "dirs_read"), 0, "{}", warm["audit"]["run"]);
    assert_eq!(
        stat(&warm, "dirs_reused"),
        stat(&cold, "dirs_read"),
        "{}",
        warm["audit"]["run"]
    );

    // 1. A file added two levels down.
    write(
        &tree.join("plain/sub/deep/new.pkl"),
        &evil("subprocess", "call"),
    );
    // 2. A file rewritten in place with as many bytes and its mtime put back: only its ctime
    //    (and content) changed, and no directory did.
    let mtime = std::fs::metadata(&replaced).unwrap().modified().unwrap();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&replaced)
            .unwrap();
        f.write_all(&payload).unwrap();
        f.set_modified(mtime).unwrap();
    }
    assert_eq!(
        std::fs::metadata(&replaced).unwrap().modified().unwrap(),
        mtime
    );
    // 3. Two directories swap names: same names in the parent, other inodes below them.
    let plain = tree.join("plain");
    std::fs::rename(plain.join("keep"), plain.join("tmp")).unwrap();
    std::fs::rename(plain.join("same"), plain.join("keep")).unwrap();
    std::fs::rename(plain.join("tmp"), plain.join("same")).unwrap();
    // 4. A snapshot's link retargeted from the harmless blob to the malicious one.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../../blobs/bbb", &link).unwrap();
    settle();
    let changed = audit(&[&tree], &cache, &[]);
    let fresh = audit(&[&tree], &sqlite(dir.path(), "fresh.db"), &[]);
    assert_same(
        &changed,
        &fresh,
        "a changed tree, re-audited with the kept listings",
    );
    let found = finding_paths(&changed);
    for (what, path) in [
        (
            "the added file",
            tree.join("plain/sub/deep/new.pkl").display().to_string(),
        ),
        (
            "the file rewritten in place",
            replaced.display().to_string(),
        ),
        ("the retargeted link", "hf://org/m@r1/model.pkl".to_owned()),
    ] {
        assert!(found.contains(&path), "{what} ({path}) not among {found:?}");
    }
    let tops = top_artifacts(&changed);
    for p in ["plain/keep/three.pkl", "plain/same/two.pkl"] {
        let path = tree.join(p).display().to_string();
        assert!(tops.contains(&path), "{path} not among {tops:?}");
    }
    let run = &changed["audit"]["run"];
    // plain, its two swapped directories, deep and r1 were read; the others were not.
    assert!(stat(&changed, "dirs_read") >= 5, "{run}");
    assert!(stat(&changed, "dirs_reused") >= 5, "{run}");
    assert_eq!(
        stat(&changed, "dirs_read") + stat(&changed, "dirs_reused"),
        stat(&fresh, "dirs_read"),
        "{run}"
    );

    // 5. A file removed and a file added right after an audit (within the settling time):
    //    found at once.
    std::fs::remove_file(tree.join("plain/sub/deep/new.pkl")).unwrap();
    write(&tree.join("plain/other/five.pkl"), &evil("posix", "system"));
    let again = audit(&[&tree], &cache, &[]);
    let fresh = audit(&[&tree], &sqlite(dir.path(), "fresh2.db"), &[]);
    assert_same(&again, &fresh, "a tree changed right after the last audit");
    let tops = top_artifacts(&again);
    assert!(
        !tops.iter().any(|t| t.ends_with("deep/new.pkl")),
        "{tops:?}"
    );
    assert!(
        tops.iter().any(|t| t.ends_with("other/five.pkl")),
        "{tops:?}"
    );
}
