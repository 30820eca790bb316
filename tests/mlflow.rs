//! The MLflow model registry integration against a real MLflow tracking server (PyPI `mlflow`,
//! SQLite backend store, artifact proxy in a temporary directory, on loopback) and the real gate:
//! a webhook registered through MLflow's REST API delivers `model_version.created`; the gate
//! scans the version and writes its verdict back as tags; forged, stale and replayed deliveries
//! are refused and audited; `modelgate mlflow sync` catches a version registered while the gate
//! was down (and quarantines it when told to); `modelgate scan --mlflow-model` exits like `scan`.
//!
//! MLflow's server takes tens of seconds to start, so one test drives every step against one
//! server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const SECRET: &str = "mlflow-webhook-test-secret";
const SECRET_ENV: &str = "MODELGATE_TEST_MLFLOW_SECRET";
const AUDIT_TOKEN: &str = "mlflow-test-auditor-token";

/// A process group this test started (MLflow's server forks uvicorn), ended as a whole.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &pgid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
        let _ = self.0.wait();
    }
}

fn mlflow_bin() -> Option<PathBuf> {
    let venv = common::resource("MODELGATE_VENV", "venv")?;
    let bin = venv.join("bin/mlflow");
    bin.is_file().then_some(bin)
}

/// Starts `mlflow server` in `dir` on `port` with webhooks allowed to reach loopback over HTTP.
fn start_mlflow(bin: &Path, dir: &Path, port: u16) -> Group {
    use std::os::unix::process::CommandExt;
    let key = base64::engine::general_purpose::URL_SAFE.encode([7u8; 32]);
    let log = std::fs::File::create(dir.join("mlflow.log")).expect("log");
    let child = Command::new(bin)
        .args(["server", "--backend-store-uri"])
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .arg("--artifacts-destination")
        .arg(dir.join("artifacts"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--workers",
            "1",
        ])
        // MLflow refuses webhook targets on private addresses and plain HTTP by default.
        .env("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
        .env("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
        .env("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", key)
        // The list of webhooks per event is cached (60 s by default).
        .env("MLFLOW_WEBHOOK_CACHE_TTL", "1")
        .env("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", "1")
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("DO_NOT_TRACK", "true")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("start mlflow server");
    let group = Group(child);
    let deadline = Instant::now() + Duration::from_mins(3);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /health HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
                return group;
            }
        }
        assert!(
            Instant::now() < deadline,
            "mlflow server did not start:\n{}",
            std::fs::read_to_string(dir.join("mlflow.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

struct Gate {
    child: Child,
    base: String,
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha(token: &str) -> String {
    common::sha256_hex(token.as_bytes())
}

/// The gate on `port` with `[mlflow]` pointing at `tracking`, plus `extra` `[mlflow]` keys.
fn start_gate(dir: &Path, port: u16, tracking: &str, extra: &str) -> Gate {
    let config = dir.join("gate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nworkers = 1\n\n\
             [store]\nurl = \"sqlite://{}\"\n\n\
             [[tokens]]\nname = \"auditor\"\nsha256 = \"{}\"\nscopes = [\"decisions\"]\n\n\
             [mlflow]\nenabled = true\ntracking_uri = \"{tracking}\"\nsecret_env = \"{SECRET_ENV}\"\n\
             timestamp_tolerance_secs = 300\n{extra}\n",
            dir.join("gate.db").display(),
            sha(AUDIT_TOKEN)
        ),
    )
    .expect("config");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .env(SECRET_ENV, SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gate");
    let base = common::gate_address(&mut child);
    Gate { child, base }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_mins(1))
        .build()
        .expect("client")
}

async fn mlflow_get(tracking: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let mut url = reqwest::Url::parse(&format!("{tracking}/api/2.0/mlflow/{path}")).unwrap();
    url.query_pairs_mut().extend_pairs(query);
    let r = http().get(url).send().await.expect("mlflow get");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.expect("json")
}

async fn mlflow_post(tracking: &str, path: &str, body: &Value) -> Value {
    let r = http()
        .post(format!("{tracking}/api/2.0/mlflow/{path}"))
        .json(body)
        .send()
        .await
        .expect("mlflow post");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// The `modelgate.*` tags of a version (and its aliases).
async fn version(
    tracking: &str,
    name: &str,
    v: &str,
) -> (std::collections::BTreeMap<String, String>, Vec<String>) {
    let got = mlflow_get(
        tracking,
        "model-versions/get",
        &[("name", name), ("version", v)],
    )
    .await;
    let mv = &got["model_version"];
    let tags = mv["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap_or_default().to_owned(),
                t["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let aliases = mv["aliases"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    (tags, aliases)
}

/// Waits (bounded) for `modelgate.verdict` on a version.
async fn verdict_of(
    tracking: &str,
    name: &str,
    v: &str,
) -> std::collections::BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (tags, _) = version(tracking, name, v).await;
        if tags.contains_key("modelgate.verdict") {
            return tags;
        }
        assert!(
            Instant::now() < deadline,
            "no modelgate.verdict on {name} v{v}: {tags:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Registers versions with MLflow's own client; returns "NAME VERSION" lines.
fn register(python: &Path, tracking: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let script = common::root().join("tests/mlflow/register.py");
    let mut args: Vec<std::ffi::OsString> = vec![script.into(), tracking.into()];
    for (n, k) in pairs {
        args.push((*n).into());
        args.push((*k).into());
    }
    let out = Command::new(python)
        .args(&args)
        // MLflow's client reports usage to a remote service unless told not to.
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("DO_NOT_TRACK", "true")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "register.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

async fn decisions(base: &str) -> Vec<Value> {
    let v: Value = http()
        .get(format!("{base}/v1/decisions?limit=1000"))
        .bearer_auth(AUDIT_TOKEN)
        .send()
        .await
        .expect("decisions")
        .json()
        .await
        .expect("json");
    v["decisions"].as_array().cloned().unwrap_or_default()
}

/// Sends a delivery to the gate as MLflow would, signed with `secret`.
async fn deliver(
    base: &str,
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &str,
) -> reqwest::StatusCode {
    let ts = timestamp.to_string();
    let sig = modelgate::mlflow::webhook::sign(secret.as_bytes(), id, &ts, body.as_bytes());
    http()
        .post(format!("{base}/integrations/mlflow/webhook"))
        .header("content-type", "application/json")
        .header("x-mlflow-delivery-id", id)
        .header("x-mlflow-timestamp", ts)
        .header("x-mlflow-signature", sig)
        .body(body.to_owned())
        .send()
        .await
        .expect("deliver")
        .status()
}

fn modelgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .args(args)
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .expect("run modelgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlflow_registry_webhook_sync_and_scan() {
    let (Some(bin), Some(python)) = (mlflow_bin(), common::venv_python()) else {
        assert!(
            common::require(false, "MLflow in the test venv (tests/setup.sh)"),
            "unreachable"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mlflow_port = common::free_port();
    let tracking = format!("http://127.0.0.1:{mlflow_port}");
    let _mlflow = start_mlflow(&bin, dir.path(), mlflow_port);
    let gate_port = common::free_port();
    let gate = start_gate(dir.path(), gate_port, &tracking, "");

    // The webhook, registered through MLflow's REST API, pointing at the gate.
    mlflow_post(
        &tracking,
        "webhooks",
        &json!({
            "name": "modelgate",
            "url": format!("http://127.0.0.1:{gate_port}/integrations/mlflow/webhook"),
            "events": [
                {"entity": "MODEL_VERSION", "action": "CREATED"},
                {"entity": "MODEL_VERSION_TAG", "action": "SET"},
                {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}
            ],
            "secret": SECRET,
        }),
    )
    .await;

    // 1. A benign and a malicious version, registered with MLflow's client: tagged by the gate.
    let registered = register(
        &python,
        &tracking,
        &[("good", "benign"), ("evil", "malicious"), ("remote", "s3")],
    );
    assert_eq!(
        registered,
        [
            ("good".into(), "1".into()),
            ("evil".into(), "1".into()),
            ("remote".into(), "1".into())
        ]
    );
    let good = verdict_of(&tracking, "good", "1").await;
    assert_eq!(good["modelgate.verdict"], "passed", "{good:?}");
    let evil = verdict_of(&tracking, "evil", "1").await;
    assert_eq!(evil["modelgate.verdict"], "failed", "{evil:?}");
    let counts: Value = serde_json::from_str(&evil["modelgate.findings"]).expect("findings json");
    assert!(counts["critical"].as_u64().unwrap_or(0) >= 1, "{counts}");
    assert!(
        evil["modelgate.reason"].contains("pickle/unsafe-global"),
        "{evil:?}"
    );
    assert_eq!(good["modelgate.signatures"].len(), 64, "{good:?}");
    // Files the gate cannot read are never passed.
    let remote = verdict_of(&tracking, "remote", "1").await;
    assert_eq!(remote["modelgate.verdict"], "error", "{remote:?}");
    assert!(
        remote["modelgate.reason"].contains("not supported"),
        "{remote:?}"
    );

    // Each verdict is one audit row (route mlflow) under the request id the tag names; the
    // gate's own tag writes came back as model_version_tag.set deliveries and started nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rows = decisions(&gate.base).await;
    let mlflow_rows: Vec<&Value> = rows.iter().filter(|r| r["route"] == "mlflow").collect();
    assert_eq!(mlflow_rows.len(), 3, "{rows:#?}");
    for (tags, verdict) in [(&good, "admit"), (&evil, "deny"), (&remote, "error")] {
        let row = mlflow_rows
            .iter()
            .find(|r| r["request_id"] == tags["modelgate.report"].as_str())
            .unwrap_or_else(|| panic!("no row for {tags:?}"));
        assert_eq!(row["verdict"], verdict);
        assert_eq!(row["client"], "mlflow");
    }

    // 2. Forged, stale and replayed deliveries are refused, each with an audit row.
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"entity": "model_version_tag", "action": "set", "timestamp": "2026-12-06T00:00:00+00:00", "data": {"name": "good", "version": "1", "key": "k", "value": "v"}}"#;
    assert_eq!(
        deliver(&gate.base, "not-the-secret", "forged-1", now, body).await,
        401
    );
    assert_eq!(
        deliver(&gate.base, SECRET, "stale-1", now - 3600, body).await,
        401
    );
    assert_eq!(
        deliver(&gate.base, SECRET, "replay-1", now, body).await,
        200
    );
    assert_eq!(
        deliver(&gate.base, SECRET, "replay-1", now, body).await,
        409
    );
    // A forged model_version.created starts no scan.
    let created = r#"{"entity": "model_version", "action": "created", "timestamp": "x", "data": {"name": "good", "version": "1"}}"#;
    assert_eq!(
        deliver(&gate.base, "not-the-secret", "forged-2", now, created).await,
        401
    );
    let rows = decisions(&gate.base).await;
    let refused: Vec<String> = rows
        .iter()
        .filter(|r| r["route"] == "mlflow" && r["verdict"] == "deny")
        .filter_map(|r| r["reasons"][0].as_str().map(str::to_owned))
        .filter(|r| r.starts_with("webhook delivery refused"))
        .collect();
    assert_eq!(refused.len(), 4, "{rows:#?}");
    assert!(
        refused.iter().any(|r| r.contains("does not match")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|r| r.contains("beyond the tolerance")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|r| r.contains("seen before")),
        "{refused:?}"
    );

    // 3. A version registered while the gate is down has no verdict until `mlflow sync`, which
    //    (told to block) also quarantines it.
    drop(gate);
    let late = register(&python, &tracking, &[("late", "malicious")]);
    assert_eq!(late, [("late".into(), "1".into())]);
    mlflow_post(
        &tracking,
        "registered-models/alias",
        &json!({"name": "late", "alias": "champion", "version": "1"}),
    )
    .await;
    let (tags, aliases) = version(&tracking, "late", "1").await;
    assert!(!tags.contains_key("modelgate.verdict"), "{tags:?}");
    assert_eq!(aliases, ["champion"]);
    let (code, out, _) = modelgate(&["mlflow", "sync", "--tracking-uri", &tracking, "--dry-run"]);
    assert_eq!((code, out.trim()), (0, "models:/late/1"));
    let block = dir.path().join("block.toml");
    std::fs::write(&block, "[mlflow]\nblock_stage_transition = true\n").expect("config");
    let (code, out, err) = modelgate(&[
        "mlflow",
        "sync",
        "--tracking-uri",
        &tracking,
        "--config",
        block.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("models:/late/1: failed"), "{out}");
    let (tags, aliases) = version(&tracking, "late", "1").await;
    assert_eq!(tags["modelgate.verdict"], "failed", "{tags:?}");
    assert!(tags["modelgate.report"].starts_with("cli-"), "{tags:?}");
    assert_eq!(aliases, ["quarantined"]);
    // Nothing is left to sync, unless errors are retried.
    let (code, out, _) = modelgate(&["mlflow", "sync", "--tracking-uri", &tracking]);
    assert_eq!((code, out.trim()), (0, ""));
    let (code, out, _) = modelgate(&[
        "mlflow",
        "sync",
        "--tracking-uri",
        &tracking,
        "--retry-errors",
        "--dry-run",
    ]);
    assert_eq!((code, out.trim()), (0, "models:/remote/1"));

    // 4. The gate's reconcile loop catches a version registered while it was down.
    let late2 = register(&python, &tracking, &[("late2", "benign")]);
    assert_eq!(late2, [("late2".into(), "1".into())]);
    let (tags, _) = version(&tracking, "late2", "1").await;
    assert!(!tags.contains_key("modelgate.verdict"), "{tags:?}");
    let gate = start_gate(
        dir.path(),
        gate_port,
        &tracking,
        "reconcile_secs = 1\nblock_stage_transition = true",
    );
    let tags = verdict_of(&tracking, "late2", "1").await;
    assert_eq!(tags["modelgate.verdict"], "passed", "{tags:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = decisions(&gate.base).await;
    let row = rows
        .iter()
        .find(|r| r["request_id"] == tags["modelgate.report"].as_str())
        .unwrap_or_else(|| panic!("no audit row for {tags:?}: {rows:#?}"));
    assert_eq!(row["route"], "mlflow");
    assert_eq!(row["verdict"], "admit");

    // With block_stage_transition, an alias pointed back at the quarantined version is removed
    // again (and audited); an alias on a passed version stays.
    for (name, alias) in [("late", "champion"), ("late2", "prod")] {
        mlflow_post(
            &tracking,
            "registered-models/alias",
            &json!({"name": name, "alias": alias, "version": "1"}),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let (_, aliases) = version(&tracking, "late", "1").await;
        if aliases == ["quarantined"] {
            break;
        }
        assert!(Instant::now() < deadline, "alias not removed: {aliases:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let rows = decisions(&gate.base).await;
    assert!(
        rows.iter().any(|r| r["verdict"] == "deny"
            && r["reasons"][1]
                .as_str()
                .is_some_and(|t| t.starts_with("alias \"champion\" removed"))),
        "{rows:#?}"
    );
    assert_eq!(version(&tracking, "late2", "1").await.1, ["prod"]);
    drop(gate);

    // 5. `scan --mlflow-model` from a pipeline step: exit codes like `scan`.
    let (code, out, err) = modelgate(&[
        "scan",
        "--mlflow-model",
        "models:/evil/1",
        "--tracking-uri",
        &tracking,
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("pickle/unsafe-global"), "{out}");
    mlflow_post(
        &tracking,
        "registered-models/alias",
        &json!({"name": "good", "alias": "prod", "version": "1"}),
    )
    .await;
    for uri in ["models:/good/1", "models:/good@prod"] {
        let (code, out, err) =
            modelgate(&["scan", "--mlflow-model", uri, "--tracking-uri", &tracking]);
        assert_eq!(code, 0, "{uri}: {out}\n{err}");
    }
    let (code, _, err) = modelgate(&[
        "scan",
        "--mlflow-model",
        "models:/missing/1",
        "--tracking-uri",
        &tracking,
    ]);
    assert_eq!(code, 2, "{err}");

    // 6. `modelgate audit mlflow://…`: every registered version's files, named `models:/…`; the
    // s3: version unscanned with its reason; a second run scans nothing (the verdict cache).
    let source = format!("mlflow://127.0.0.1:{mlflow_port}");
    let cache = dir.path().join("audit.db");
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            source.as_str(),
            "-f",
            "json",
            "--quiet",
            "--cache",
            cache.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = modelgate(&args);
        let report = serde_json::from_str::<Value>(&out)
            .unwrap_or_else(|e| panic!("{e}: {code}\n{out}\n{err}"));
        (code, report)
    };
    let paths = |r: &Value| -> std::collections::BTreeSet<String> {
        r["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .filter_map(|a| a["location"]["path"].as_str().map(str::to_owned))
            .chain(
                r["audit"]["unscanned"]
                    .as_array()
                    .expect("unscanned")
                    .iter()
                    .filter_map(|u| u["artifact"].as_str().map(str::to_owned)),
            )
            .collect()
    };
    let (code, cold) = audit(&[]);
    assert_eq!(code, 1, "the malicious version fails the audit");
    let evil_findings: Vec<&Value> = cold["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["location"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("models:/evil/1/"))
        })
        .collect();
    assert!(
        evil_findings.iter().any(|f| f["severity"] == "critical"),
        "{:#}",
        cold["findings"]
    );
    assert!(
        !cold["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["location"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("models:/good/1/"))),
        "{:#}",
        cold["findings"]
    );
    let unscanned = cold["audit"]["unscanned"].as_array().expect("unscanned");
    let remote = unscanned
        .iter()
        .find(|u| u["artifact"] == "models:/remote/1")
        .unwrap_or_else(|| panic!("{unscanned:#?}"));
    assert!(
        remote["reason"].as_str().expect("reason").contains("s3"),
        "{remote}"
    );
    let scanned = cold["audit"]["run"]["scanned"].as_u64().expect("scanned");
    assert!(scanned >= 2, "{}", cold["audit"]["run"]);
    // Downloads are temporary files, never seen again: no stamp is recorded for them.
    let stamps: i64 = rusqlite::Connection::open(&cache)
        .expect("open the audit cache")
        .query_row("SELECT COUNT(*) FROM file_stamps", [], |r| r.get(0))
        .expect("count the stamps");
    assert_eq!(stamps, 0, "stamps recorded for temporary downloads");
    let previous = dir.path().join("previous.json");
    std::fs::write(&previous, cold.to_string()).expect("write the previous report");
    let (code, warm) = audit(&["--since", previous.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1);
    // Downloaded again (new files, so hashed again), but every one answered by the cache.
    let run = &warm["audit"]["run"];
    assert_eq!(run["scanned"], 0, "{run}");
    assert!(run["hashed"].as_u64().expect("hashed") >= 3, "{run}");
    assert_eq!(run["cache_hits"], run["hashed"], "{run}");
    assert_eq!(warm["findings"], cold["findings"]);
    assert_eq!(warm["audit"]["unscanned"], cold["audit"]["unscanned"]);
    let since = &warm["audit"]["since"];
    assert_eq!(since["new_findings"], json!([]), "{since}");
    assert_eq!(since["new_artifacts"], json!([]), "{since}");
    assert_eq!(since["removed_artifacts"], json!([]), "{since}");
    assert!(
        since["still_open"].as_u64().expect("still_open") >= 1,
        "{since}"
    );
    // Two shards: disjoint, and together the whole registry.
    let halves = [audit(&["--shard", "0/2"]).1, audit(&["--shard", "1/2"]).1];
    let (a, b) = (paths(&halves[0]), paths(&halves[1]));
    assert!(a.is_disjoint(&b), "{a:?}\n{b:?}");
    assert_eq!(&a | &b, paths(&cold));
    // Shards split the registry by version (`models:/NAME/VERSION`): a shard fetches only its
    // own versions, every file of a version with it.
    let versions =
        |paths: &std::collections::BTreeSet<String>| -> std::collections::BTreeSet<String> {
            paths
                .iter()
                .map(|p| p.splitn(4, '/').take(3).collect::<Vec<_>>().join("/"))
                .collect()
        };
    let (va, vb) = (versions(&a), versions(&b));
    assert!(va.is_disjoint(&vb), "{va:?}\n{vb:?}");
}
