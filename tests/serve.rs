//! `modelgate serve`, driven over HTTP: the real binary on a loopback port, real worker
//! processes, real uploads. Verdicts, authentication, limits, saturation, metrics, and worker
//! isolation (a worker that aborts, hangs or allocates without bound yields `error` for that
//! upload only, and the pool recovers).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

const SCAN_TOKEN: &str = "scan-token";
const METRICS_TOKEN: &str = "metrics-token";
const NOSCOPE_TOKEN: &str = "decisions-token";
const VERIFY_TOKEN: &str = "verify-token";

fn sha(t: &str) -> String {
    modelgate::hash::sha256_hex(t.as_bytes())
}

use common::gate::Gate;

fn start(server_section: &str, faults: bool) -> Gate {
    start_with(server_section, faults, None, &[])
}

/// A gate whose store is `store_url` (a SQLite file in its own directory when `None`), started
/// with `extra` arguments.
fn start_with(server_section: &str, faults: bool, store_url: Option<&str>, extra: &[&str]) -> Gate {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("modelgate.toml");
    let store = store_url.map_or_else(
        || format!("sqlite://{}", dir.path().join("gate.db").display()),
        str::to_owned,
    );
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n{server_section}\n\
             [store]\nurl = \"{store}\"\n\n\
             [[tokens]]\nname = \"ci\"\nsha256 = \"{}\"\nscopes = [\"scan\"]\n\n\
             [[tokens]]\nname = \"prometheus\"\nsha256 = \"{}\"\nscopes = [\"metrics\"]\n\n\
             [[tokens]]\nname = \"auditor\"\nsha256 = \"{}\"\nscopes = [\"decisions\"]\n\n\
             [[tokens]]\nname = \"verifier\"\nsha256 = \"{}\"\nscopes = [\"verify\"]\n",
            sha(SCAN_TOKEN),
            sha(METRICS_TOKEN),
            sha(NOSCOPE_TOKEN),
            sha(VERIFY_TOKEN)
        ),
    )
    .expect("config");
    let env: &[(&str, &str)] = if faults {
        &[("MODELGATE_TEST_FAULTS", "enable-worker-faults")]
    } else {
        &[]
    };
    Gate::spawn(dir, &config, extra, env)
}

/// Every page of the audit trail matching `query` (`verdict=deny&sha256=…`), newest first.
async fn trail(base: &str, query: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/v1/decisions?limit=2&{query}&cursor={c}"),
            None => format!("{base}/v1/decisions?limit=2&{query}"),
        };
        let v: Value = client()
            .get(url)
            .bearer_auth(NOSCOPE_TOKEN)
            .send()
            .await
            .expect("decisions")
            .json()
            .await
            .expect("json");
        rows.extend(v["decisions"].as_array().cloned().unwrap_or_default());
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return rows,
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_mins(2))
        .build()
        .expect("client")
}

async fn upload(base: &str, token: Option<&str>, name: &str, body: Vec<u8>) -> (u16, Value) {
    let mut req = client()
        .post(format!("{base}/v1/scan"))
        .header("x-modelgate-filename", name)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    assert!(resp.headers().contains_key("x-request-id"));
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    (status, v)
}

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

const PAYLOAD: &[u8] = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.";
const PLAIN: &[u8] = b"\x80\x02]q\x00(K\x01K\x02e.";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verdicts_for_benign_malicious_and_broken_uploads() {
    let gate = start("", false);
    let (s, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PLAIN.to_vec()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["verdict"], "admit", "{v}");
    assert_eq!(v["sha256"], modelgate::hash::sha256_hex(PLAIN));
    assert_eq!(v["report"]["targets"][0], "model.pkl");

    let (s, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PAYLOAD.to_vec()).await;
    assert_eq!(s, 200);
    assert_eq!(v["verdict"], "deny", "{v}");
    assert!(v["reasons"][0]
        .as_str()
        .is_some_and(|r| r.contains("pickle/unsafe-global")));

    // A model directory as a tar archive, from the fixtures.
    let tar = std::fs::read(testdata("archives/malicious/payload.tar.bz2")).expect("fixture");
    let (_, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.tar.bz2", tar.clone()).await;
    assert_eq!(v["verdict"], "deny", "{v}");
    // Truncated archive and a corrupt pickle: never admitted.
    let cut = tar[..tar.len() / 2].to_vec();
    let (_, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.tar.bz2", cut).await;
    assert_ne!(v["verdict"], "admit", "{v}");
    let (_, v) = upload(
        &gate.base,
        Some(SCAN_TOKEN),
        "model.pkl",
        b"\x80\x04\x95garbage".to_vec(),
    )
    .await;
    assert_ne!(v["verdict"], "admit", "{v}");
    // An upload past the in-memory limit is spooled to a file and scanned from there.
    let big = common::tar_bytes(&[
        common::file("opt/model/evil.pkl", PAYLOAD),
        common::file("opt/model/pad.bin", &vec![7u8; 2 << 20]),
    ]);
    let (_, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.tar", big).await;
    assert_eq!(v["verdict"], "deny", "{v}");
    assert!(
        v["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("pickle/unsafe-global")),
        "{v}"
    );
    // An unknown format is never admitted.
    let (_, v) = upload(&gate.base, Some(SCAN_TOKEN), "notes.bin", vec![0x42; 100]).await;
    assert_eq!(v["verdict"], "deny", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_are_refused() {
    let gate = start("", false);
    let (s, v) = upload(&gate.base, None, "m.pkl", PLAIN.to_vec()).await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"]["code"], "unauthenticated");
    let (s, _) = upload(&gate.base, Some("not-a-token"), "m.pkl", PLAIN.to_vec()).await;
    assert_eq!(s, 401);
    let (s, v) = upload(&gate.base, Some(NOSCOPE_TOKEN), "m.pkl", PLAIN.to_vec()).await;
    assert_eq!(s, 403, "{v}");
    // Health routes need no token; metrics need the metrics scope.
    let c = client();
    assert_eq!(
        c.get(format!("{}/healthz", gate.base))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{}/readyz", gate.base))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{}/metrics", gate.base))
            .bearer_auth(SCAN_TOKEN)
            .send()
            .await
            .expect("get")
            .status(),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_and_slow_uploads_are_cut_off() {
    let gate = start("max_body_bytes = 4096\nread_timeout_secs = 1\n", false);
    let (s, v) = upload(&gate.base, Some(SCAN_TOKEN), "big.bin", vec![0; 10_000]).await;
    assert_eq!(s, 413, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("4096")));

    // A client that sends a header and then stalls: 408 after the read timeout.
    let addr = gate.base.trim_start_matches("http://").to_owned();
    let t = Instant::now();
    let reply = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        write!(
            s,
            "POST /v1/scan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SCAN_TOKEN}\r\nContent-Length: 1000\r\n\r\nabc"
        )
        .expect("write");
        let mut line = String::new();
        let _ = BufReader::new(s).read_line(&mut line);
        line
    })
    .await
    .expect("slow client");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(t.elapsed() < Duration::from_secs(15));
}

/// Waits (up to a minute, however loaded the machine) until the gate's gauge `name` reads
/// `value`.
async fn wait_for_gauge(base: &str, name: &str, value: u64) {
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        let text = client()
            .get(format!("{base}/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        last = text
            .lines()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_default()
            .to_string();
        if last == format!("{name} {value}") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} never reached {value}: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_are_prometheus_text() {
    let gate = start("", false);
    let _ = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PAYLOAD.to_vec()).await;
    let text = client()
        .get(format!("{}/metrics", gate.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("modelgate_verdicts_total{verdict=\"deny\"} 1"),
        "{text}"
    );
    assert!(text.contains("modelgate_scan_seconds_bucket"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "not a sample: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_worker_costs_one_upload_not_the_gate() {
    let gate = start(
        "scan_timeout_secs = 5\nworker_memory_bytes = 1073741824\nmax_concurrent_scans = 8\n",
        true,
    );
    let faults = ["abort", "hang", "alloc"];
    let mut tasks = Vec::new();
    for f in faults {
        let base = gate.base.clone();
        tasks.push(tokio::spawn(async move {
            let r = upload(
                &base,
                Some(SCAN_TOKEN),
                &format!("modelgate-fault-{f}.pkl"),
                PLAIN.to_vec(),
            )
            .await;
            (f, r)
        }));
    }
    // Meanwhile ordinary scans complete.
    for _ in 0..3 {
        let (s, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PAYLOAD.to_vec()).await;
        assert_eq!((s, v["verdict"].as_str()), (200, Some("deny")), "{v}");
    }
    for t in tasks {
        let (f, (s, v)) = t.await.expect("task");
        assert_eq!(s, 200, "{f}: {v}");
        assert_eq!(v["verdict"], "error", "{f}: {v}");
        assert!(
            v["reasons"][0].as_str().is_some_and(|r| !r.is_empty()),
            "{f}: {v}"
        );
    }
    // The pool recovered: both workers answer again.
    for _ in 0..4 {
        let (_, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PLAIN.to_vec()).await;
        assert_eq!(v["verdict"], "admit", "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_saturated_gate_says_when_to_retry() {
    let gate = start("max_concurrent_scans = 1\nscan_timeout_secs = 5\n", true);
    let base = gate.base.clone();
    let hog = tokio::spawn(async move {
        upload(
            &base,
            Some(SCAN_TOKEN),
            "modelgate-fault-hang.pkl",
            PLAIN.to_vec(),
        )
        .await
    });
    wait_for_gauge(&gate.base, "modelgate_scans_in_flight", 1).await;
    let resp = client()
        .post(format!("{}/v1/scan", gate.base))
        .bearer_auth(SCAN_TOKEN)
        .body(PLAIN.to_vec())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let (_, v) = hog.await.expect("hog");
    assert_eq!(v["verdict"], "error", "{v}");
}

/// SIGTERM while uploads are in flight: they finish with their verdicts, then the gate exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_uploads_in_flight_finish() {
    // Every upload spooled to a file, however small (the in-memory path is covered elsewhere).
    let mut gate = start("memory_upload_bytes = 0\n", false);
    let mut uploads = Vec::new();
    for i in 0..3 {
        let base = gate.base.clone();
        uploads.push(tokio::spawn(async move {
            // The body arrives in pieces over about a second.
            let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
                PAYLOAD.chunks(4).map(|c| Ok(c.to_vec())).collect();
            let stream = futures_util::stream::iter(pieces).then(|c| async move {
                tokio::time::sleep(Duration::from_millis(120)).await;
                c
            });
            let resp = client()
                .post(format!("{base}/v1/scan"))
                .bearer_auth(SCAN_TOKEN)
                .header("x-modelgate-filename", format!("m{i}.pkl"))
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.expect("json");
            (status, v)
        }));
    }
    // SIGTERM only once the gate is receiving all three: a connection it has not accepted yet is
    // not in flight, and is refused by the drain (as it should be).
    wait_for_gauge(&gate.base, "modelgate_uploads_in_flight", 3).await;
    let pid = gate.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    for u in uploads {
        let (s, v) = u.await.expect("upload");
        assert_eq!((s, v["verdict"].as_str()), (200, Some("deny")), "{v}");
    }
    let (status, gate) = tokio::task::spawn_blocking(move || {
        let s = gate.child.wait().expect("wait");
        (s, gate)
    })
    .await
    .expect("wait");
    assert!(status.success(), "{status}");
    // Every answered request has its row in the store the gate closed on its way out.
    let db = format!("sqlite://{}", gate.dir.path().join("gate.db").display());
    let rows = tokio::task::spawn_blocking(move || {
        let store = modelgate::store::Store::open(&db).expect("store");
        store
            .decisions(&modelgate::store::DecisionQuery::default())
            .expect("page")
            .decisions
            .len()
    })
    .await
    .expect("rows");
    assert_eq!(rows, 3);
}

/// `[server] tls_cert`/`tls_key` serve HTTPS (rustls); a client that trusts the certificate gets
/// its verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_is_served_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (ca, ca_key) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
    let csr = dir.path().join("leaf.csr");
    let ext = dir.path().join("leaf.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    let openssl = |args: &[&std::ffi::OsStr]| {
        let ok = Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .expect("openssl")
            .success();
        assert!(ok, "openssl {args:?}");
    };
    let p = |s: &'static str| std::ffi::OsStr::new(s);
    // A throwaway CA, and a server certificate it signs.
    openssl(&[
        p("req"),
        p("-x509"),
        p("-newkey"),
        p("ec"),
        p("-pkeyopt"),
        p("ec_paramgen_curve:prime256v1"),
        p("-nodes"),
        p("-days"),
        p("1"),
        p("-subj"),
        p("/CN=modelgate test CA"),
        p("-keyout"),
        ca_key.as_os_str(),
        p("-out"),
        ca.as_os_str(),
    ]);
    openssl(&[
        p("req"),
        p("-newkey"),
        p("ec"),
        p("-pkeyopt"),
        p("ec_paramgen_curve:prime256v1"),
        p("-nodes"),
        p("-subj"),
        p("/CN=localhost"),
        p("-keyout"),
        key.as_os_str(),
        p("-out"),
        csr.as_os_str(),
    ]);
    openssl(&[
        p("x509"),
        p("-req"),
        p("-in"),
        csr.as_os_str(),
        p("-CA"),
        ca.as_os_str(),
        p("-CAkey"),
        ca_key.as_os_str(),
        p("-CAcreateserial"),
        p("-days"),
        p("1"),
        p("-extfile"),
        ext.as_os_str(),
        p("-out"),
        cert.as_os_str(),
    ]);
    let gate = start(
        &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        false,
    );
    assert!(gate.base.starts_with("https://"), "{}", gate.base);
    let pem = std::fs::read(&ca).expect("ca");
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let resp = c
        .post(format!("{}/v1/scan", gate.base))
        .bearer_auth(SCAN_TOKEN)
        .body(PLAIN.to_vec())
        .send()
        .await
        .expect("https request");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["verdict"], "admit", "{v}");
    // Plain HTTP to the TLS port does not get a verdict.
    let plain = client()
        .post(format!(
            "{}/v1/scan",
            gate.base.replacen("https", "http", 1)
        ))
        .bearer_auth(SCAN_TOKEN)
        .body(PLAIN.to_vec())
        .send()
        .await;
    assert!(plain.is_err() || !plain.expect("resp").status().is_success());
}

/// `{"oci": …}` scans an image from an allowed registry (the real Debian `docker-registry`);
/// a registry outside `[[registries]]` gets 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn images_are_pulled_only_from_allowed_registries() {
    use common::registry::{self, Registry};
    if !registry::available() {
        return;
    }
    let reg = Registry::start(None);
    let t = tempfile::tempdir().expect("tmp");
    let layout = t.path().join("layout");
    let img = common::image(vec![common::layer(
        common::Comp::Gzip,
        vec![common::file("opt/model/evil.pkl", PAYLOAD)],
    )]);
    common::write_layout(&layout, &[img], "v1");
    reg.push_layout(&layout, "v1", "test/evil");
    let gate = start(
        &format!("\n[[registries]]\nhost = \"{}\"\n", reg.host()),
        false,
    );
    let ask = |reference: String| {
        let base = gate.base.clone();
        async move {
            let resp = client()
                .post(format!("{base}/v1/scan"))
                .bearer_auth(SCAN_TOKEN)
                .json(&serde_json::json!({ "oci": reference }))
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.expect("json"))
        }
    };
    let (s, v) = ask(format!("{}/test/evil:v1", reg.host())).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["verdict"], "deny", "{v}");
    assert!(
        v["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("pickle/unsafe-global")),
        "{v}"
    );
    let (s, v) = ask("registry.example.com/test/evil:v1".into()).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "registry-not-allowed");
    let (s, _) = ask("library/ubuntu:latest".into()).await;
    assert_eq!(s, 403, "Docker Hub is not allowed unless configured");
}

/// The same artifact under the same rules is answered from the cache, and every answer is in the
/// audit trail (one row per request, refusals included).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_artifacts_are_cached_and_every_request_is_recorded() {
    let gate = start("", false);
    let (_, first) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PAYLOAD.to_vec()).await;
    assert_eq!(
        (first["verdict"].as_str(), first["cached"].as_bool()),
        (Some("deny"), Some(false))
    );
    let (_, again) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PAYLOAD.to_vec()).await;
    assert_eq!(
        (again["verdict"].as_str(), again["cached"].as_bool()),
        (Some("deny"), Some(true)),
        "{again}"
    );
    assert_eq!(again["reasons"], first["reasons"]);
    assert_eq!(again["report"]["findings"], first["report"]["findings"]);
    let (s, _) = upload(&gate.base, None, "model.pkl", PAYLOAD.to_vec()).await;
    assert_eq!(s, 401);

    let sha = modelgate::hash::sha256_hex(PAYLOAD);
    let rows = trail(&gate.base, &format!("sha256={sha}")).await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[0]["cached"], true);
    assert_eq!(rows[1]["cached"], false);
    assert_eq!(rows[0]["client"], "ci");
    assert_eq!(rows[1]["findings"]["critical"], 1);
    assert_eq!(
        rows[0]["findings"], rows[1]["findings"],
        "a cache hit records the same counts"
    );
    let all = trail(&gate.base, "").await;
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(
        all[0]["reasons"].to_string().contains("HTTP 401"),
        "{}",
        all[0]
    );
    assert_eq!(all[0]["verdict"], "deny");
    // A bad query is a 400, not an empty page.
    let r = client()
        .get(format!("{}/v1/decisions?verdict=maybe", gate.base))
        .bearer_auth(NOSCOPE_TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
}

/// A new signature database changes the cache key: the artifact is scanned again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_signature_database_misses_the_cache() {
    let db = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", db.path().join("shared.db").display());
    {
        let gate = start_with("", false, Some(&store), &[]);
        let (_, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PLAIN.to_vec()).await;
        assert_eq!(v["cached"], false);
        let (_, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PLAIN.to_vec()).await;
        assert_eq!(v["cached"], true);
    }
    let sigs = db.path().join("signatures");
    std::fs::create_dir(&sigs).expect("mkdir");
    std::fs::write(
        sigs.join("extra.toml"),
        "[meta]\narea = \"pickle\"\ndescription = \"test\"\n\n[[entry]]\nkind = \"pickle-global\"\nmodule = \"modelgate_test\"\nname = \"nothing\"\naction = \"deny\"\nseverity = \"high\"\ncategory = \"test\"\nreason = \"A test entry that changes the database digest.\"\n",
    )
    .expect("signature file");
    let sigs = sigs.display().to_string();
    let gate = start_with("", false, Some(&store), &["--signatures", &sigs]);
    let (_, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PLAIN.to_vec()).await;
    assert_eq!(
        (v["verdict"].as_str(), v["cached"].as_bool()),
        (Some("admit"), Some(false)),
        "{v}"
    );
}

/// Two gates on one PostgreSQL database (replicas behind a load balancer): each sees the other's
/// decisions and cached verdicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_postgresql_trail_and_cache() {
    let Some(bin) = common::pgserver::available() else {
        return;
    };
    // The test helpers use PostgreSQL's blocking client, which must not run on a runtime thread.
    let (pg, url) = tokio::task::spawn_blocking(move || {
        let pg = common::pgserver::Postgres::start(&bin);
        let url = pg.create_database();
        (pg, url)
    })
    .await
    .expect("postgres");
    let a = start_with("", false, Some(&url), &[]);
    let b = start_with("", false, Some(&url), &[]);
    let (_, v) = upload(&a.base, Some(SCAN_TOKEN), "model.pkl", PAYLOAD.to_vec()).await;
    assert_eq!(
        (v["verdict"].as_str(), v["cached"].as_bool()),
        (Some("deny"), Some(false))
    );
    let (_, v) = upload(&b.base, Some(SCAN_TOKEN), "model.pkl", PAYLOAD.to_vec()).await;
    assert_eq!(
        (v["verdict"].as_str(), v["cached"].as_bool()),
        (Some("deny"), Some(true)),
        "{v}"
    );
    let (_, v) = upload(&b.base, Some(SCAN_TOKEN), "plain.pkl", PLAIN.to_vec()).await;
    assert_eq!(v["verdict"], "admit");
    let from_a = trail(&a.base, "").await;
    let from_b = trail(&b.base, "").await;
    assert_eq!(from_a.len(), 3, "{from_a:#?}");
    assert_eq!(from_a, from_b);
    drop((a, b));
    tokio::task::spawn_blocking(move || drop(pg))
        .await
        .expect("stop postgres");
}

/// `POST /v1/verify`: an uploaded model with its signature bundle (and scan attestation) in
/// headers, checked against `[signing] trusted_keys`; a tampered model is not verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_uploads_are_verified_against_trusted_keys() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = assert_cmd::cargo::cargo_bin("modelgate");
    let key = dir.path().join("gate-key");
    let ok = Command::new(&bin)
        .args(["keygen", "--output"])
        .arg(&key)
        .status()
        .expect("keygen");
    assert!(ok.success());
    let model = dir.path().join("model.pkl");
    std::fs::write(&model, PLAIN).expect("model");
    let signed = Command::new(&bin)
        .arg("sign")
        .arg(&model)
        .arg("--key")
        .arg(&key)
        .arg("-q")
        .output()
        .expect("sign");
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let sig = std::fs::read(dir.path().join("model.pkl.sig")).expect("bundle");
    let att = Some(std::fs::read(dir.path().join("model.pkl.sig.scan.json")).expect("attestation"));
    let gate = start(
        &format!(
            "\n[signing]\ntrusted_keys = [\"{}\"]\n",
            dir.path().join("gate-key.pub").display()
        ),
        false,
    );
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let ask = |body: Vec<u8>, token: &'static str, with_sig: bool| {
        let base = gate.base.clone();
        let (sig, att) = (b64(&sig), att.as_deref().map(b64));
        async move {
            let mut req = client()
                .post(format!("{base}/v1/verify"))
                .bearer_auth(token)
                .header("x-modelgate-filename", "model.pkl")
                .body(body);
            if with_sig {
                req = req.header("x-modelgate-signature", sig);
            }
            if let Some(a) = att {
                req = req.header("x-modelgate-scan-attestation", a);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or_default())
        }
    };
    let (s, v) = ask(PLAIN.to_vec(), VERIFY_TOKEN, true).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(
        v["details"]["scan_attestation"]["verdict"], "approved",
        "the verified scan attestation: {v}"
    );
    let mut tampered = PLAIN.to_vec();
    tampered[4] ^= 1;
    let (s, v) = ask(tampered, VERIFY_TOKEN, true).await;
    assert_eq!((s, v["verified"].as_bool()), (200, Some(false)), "{v}");
    assert_eq!(v["verdict"], "deny");
    // Without a bundle header the upload must be a model directory (tar or zip) carrying its
    // model.sig: a single file is not verified.
    let (s, v) = ask(PLAIN.to_vec(), VERIFY_TOKEN, false).await;
    assert_eq!((s, v["verified"].as_bool()), (200, Some(false)), "{v}");
    assert!(v["reasons"][0]
        .as_str()
        .is_some_and(|r| r.contains("neither a tar nor a zip")));
    let (s, _) = ask(PLAIN.to_vec(), SCAN_TOKEN, true).await;
    assert_eq!(s, 403);
}

/// A client that disconnects in the middle of an upload leaves nothing in the spool directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_hangs_up_leaves_no_temporary_files() {
    let spool = tempfile::tempdir().expect("spool");
    let gate = start(
        &format!("spool_dir = \"{}\"\n", spool.path().display()),
        false,
    );
    let addr = gate.base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "POST /v1/scan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SCAN_TOKEN}\r\nContent-Length: 4000000\r\n\r\n"
        )
        .expect("write");
        // Past the in-memory limit, so the upload is being spooled to a file.
        s.write_all(&vec![0u8; 2_000_000]).expect("body");
        std::thread::sleep(Duration::from_millis(300));
        // Hang up with 2,000,000 bytes still owed.
    })
    .await
    .expect("client");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<_> = std::fs::read_dir(spool.path())
            .expect("spool")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left in the spool: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The gate is still serving.
    let (s, v) = upload(&gate.base, Some(SCAN_TOKEN), "model.pkl", PLAIN.to_vec()).await;
    assert_eq!((s, v["verdict"].as_str()), (200, Some("admit")), "{v}");
}
