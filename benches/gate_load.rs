//! A bounded load run against `modelgate serve` (not a timed test): N requests (default 10,000)
//! from C concurrent clients (default 32), mixing benign, malicious and malformed uploads,
//! oversized bodies and unauthenticated requests. Every response must be the expected one and
//! the server must stay up; prints throughput, latency percentiles per kind, and the server's
//! peak memory (its own process; workers are separate processes with their own limits).
//!
//!   cargo bench --bench gate_load                      # 10,000 requests, 32 clients
//!   GATE_REQUESTS=2000 GATE_CLIENTS=8 cargo bench --bench gate_load
//!   GATE_REPEAT=1 cargo bench --bench gate_load        # the same artifacts: cached verdicts
//!   GATE_SYNC=normal cargo bench --bench gate_load     # SQLite store with synchronous=normal
//!   GATE_STORE_URL=postgres://user@host:port/db cargo bench --bench gate_load   # PostgreSQL store
//!   GATE_BIG_FILE=target/bench-data/ckpt_2gb.pt cargo bench --bench gate_load   # plus a 2 GB upload
//!   GATE_FLOOR=1 cargo bench --bench gate_load         # the same clients on GET /healthz only
//!
//! GATE_FLOOR=1 measures the floor under every other figure: the same clients, connections and
//! machine, on a route that does no work (no token, no store, no scan). On a 2-core machine with
//! the load generator sharing the cores, its p99 is what scheduling alone costs a request.
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "load-token";
/// A plain-data pickle, different for every `n`: `[1, n]`.
fn benign(n: usize) -> Vec<u8> {
    let mut b = b"\x80\x02]q\x00(K\x01J".to_vec();
    b.extend(u32::try_from(n).unwrap_or(0).to_le_bytes());
    b.extend(b"e.");
    b
}

/// `os.system("true #n")`, different for every `n`.
fn malicious(n: usize) -> Vec<u8> {
    let arg = format!("true #{n}");
    let mut b = b"\x80\x02cos\nsystem\nX".to_vec();
    b.extend(u32::try_from(arg.len()).unwrap_or(0).to_le_bytes());
    b.extend(arg.as_bytes());
    b.extend(b"\x85R.");
    b
}

/// A protocol-4 frame that ends early, different for every `n`.
fn malformed(n: usize) -> Vec<u8> {
    let mut b = b"\x80\x04\x95garbage".to_vec();
    b.extend(n.to_le_bytes());
    b
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Benign,
    Malicious,
    Malformed,
    Oversized,
    Unauthenticated,
    /// `GET /healthz` (GATE_FLOOR=1): no token, no store, no scan.
    Floor,
}

impl Kind {
    fn of(i: usize) -> Kind {
        match i % 20 {
            0..=8 => Kind::Benign,
            9..=14 => Kind::Malicious,
            15..=16 => Kind::Malformed,
            17 => Kind::Oversized,
            _ => Kind::Unauthenticated,
        }
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this once as a smoke test,
    // with fewer requests (every response is still checked).
    let benching = std::env::args().any(|a| a == "--bench");
    let requests = env("GATE_REQUESTS", if benching { 10_000 } else { 1_000 });
    // GATE_REPEAT=1: the same three artifacts over and over (cached verdicts); by default every
    // upload is a different artifact (every scan uncached).
    let repeat = env("GATE_REPEAT", 0) == 1;
    let big_mode = std::env::var_os("GATE_BIG_FILE").is_some();
    let floor = env("GATE_FLOOR", 0) == 1;
    // GATE_SYNC=normal: the SQLite store reports a commit before its log is synced.
    let sync_query = match std::env::var("GATE_SYNC").as_deref() {
        Ok("normal") => "?synchronous=normal",
        _ => "",
    };
    // GATE_STORE_URL=postgres://…: the gate's store (an empty database); SQLite in a temporary
    // directory otherwise.
    let dir = tempfile::tempdir().expect("tempdir");
    let store_url = std::env::var("GATE_STORE_URL").unwrap_or_else(|_| {
        format!(
            "sqlite://{}{sync_query}",
            dir.path().join("gate.db").display()
        )
    });
    let clients = env("GATE_CLIENTS", 32);
    let config = dir.path().join("modelgate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = {}\nmax_concurrent_scans = 64\n\n\
             [store]\nurl = \"{}\"\n\n\
             [[tokens]]\nname = \"load\"\nsha256 = \"{}\"\nscopes = [\"scan\"]\n",
            if big_mode { 4u64 << 30 } else { 65536 },
            store_url,
            modelgate::hash::sha256_hex(TOKEN.as_bytes())
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gate");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let base = loop {
        let line = lines.next().expect("gate exited").expect("line");
        if let Some(a) = line.strip_prefix("modelgate serve: listening on ") {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let pid = child.id();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let base_for_big = base.clone();
    let (elapsed, mut samples, wrong) = runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .timeout(Duration::from_mins(1))
            .build()
            .expect("client");
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (client, base, next) = (client.clone(), base.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut wrong = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    if floor {
                        let t = Instant::now();
                        let status = match client.get(format!("{base}/healthz")).send().await {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let _ = r.bytes().await;
                                status
                            }
                            Err(_) => 0,
                        };
                        samples.push((Kind::Floor, t.elapsed()));
                        if status != 200 {
                            wrong.push(format!("GET /healthz #{i}: HTTP {status}"));
                        }
                        continue;
                    }
                    let kind = Kind::of(i);
                    let n = if repeat { 0 } else { i };
                    let (body, token) = match kind {
                        Kind::Benign => (benign(n), Some(TOKEN)),
                        Kind::Malicious => (malicious(n), Some(TOKEN)),
                        Kind::Malformed => (malformed(n), Some(TOKEN)),
                        Kind::Oversized => (vec![0u8; 100_000], Some(TOKEN)),
                        Kind::Unauthenticated | Kind::Floor => (benign(n), None),
                    };
                    let mut req = client
                        .post(format!("{base}/v1/scan"))
                        .header("x-modelgate-filename", format!("m{i}.pkl"))
                        .body(body);
                    if let Some(t) = token {
                        req = req.bearer_auth(t);
                    }
                    let t = Instant::now();
                    let outcome = match req.send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let v: serde_json::Value = r.json().await.unwrap_or_default();
                            (status, v["verdict"].as_str().map(str::to_owned))
                        }
                        Err(e) => (0, Some(e.to_string())),
                    };
                    samples.push((kind, t.elapsed()));
                    let ok = match kind {
                        Kind::Benign => outcome == (200, Some("admit".into())),
                        Kind::Malicious => outcome == (200, Some("deny".into())),
                        Kind::Malformed => {
                            outcome.0 == 200 && outcome.1.as_deref() != Some("admit")
                        }
                        // With GATE_BIG_FILE the limit is raised, and zeros are never admitted.
                        Kind::Oversized if big_mode => outcome == (200, Some("deny".into())),
                        Kind::Oversized => outcome.0 == 413,
                        Kind::Unauthenticated => outcome.0 == 401,
                        Kind::Floor => outcome.0 == 200,
                    };
                    if !ok {
                        wrong.push(format!("{kind:?} #{i}: {outcome:?}"));
                    }
                }
                (samples, wrong)
            }));
        }
        let mut samples = Vec::new();
        let mut wrong = Vec::new();
        for t in tasks {
            let (s, w) = t.await.expect("client task");
            samples.extend(s);
            wrong.extend(w);
        }
        (started.elapsed(), samples, wrong)
    });
    let alive = child.try_wait().expect("wait").is_none();
    let rss = peak_rss_kib(pid);
    let server_cpu = cpu_seconds(pid);
    let own_cpu = cpu_seconds(std::process::id());
    // GATE_BIG_FILE=path: one large upload after the run (e.g. the 2 GB checkpoint of
    // benches/generate_bench_data.py); the server streams it to disk, so its memory stays flat.
    let big = std::env::var_os("GATE_BIG_FILE").map(|path| {
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        let t = Instant::now();
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "POST",
                "-H",
            ])
            .arg(format!("Authorization: Bearer {TOKEN}"))
            // -T streams the file (--data-binary would read it into curl's memory first).
            .args(["-H", "X-Modelgate-Filename: big.pt", "-T"])
            .arg(&path)
            .arg(format!("{base_for_big}/v1/scan"))
            .output()
            .expect("curl");
        (
            size,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            t.elapsed(),
            peak_rss_kib(pid),
        )
    });
    // A graceful stop commits every queued audit row; then count them.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let rows = count_rows(&store_url);

    println!(
        "{requests} requests ({}), {clients} clients: {:.1} s, {:.0} requests/s; server alive: {alive}; server peak RSS {} MB",
        if floor {
            "GET /healthz only: the floor"
        } else if repeat {
            "repeated artifacts: cached verdicts"
        } else {
            "every artifact new: uncached scans"
        },
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        rss / 1024
    );
    samples.sort_by_key(|(k, d)| (*k, *d));
    for kind in [
        Kind::Benign,
        Kind::Malicious,
        Kind::Malformed,
        Kind::Oversized,
        Kind::Unauthenticated,
        Kind::Floor,
    ] {
        let d: Vec<Duration> = samples
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| *d)
            .collect();
        if d.is_empty() {
            continue;
        }
        let pct = |p: f64| d[((d.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
        println!(
            "  {:<16} n={:<6} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            format!("{kind:?}"),
            d.len(),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
    }
    println!("  audit rows: {rows} for {requests} requests");
    println!(
        "  CPU: server {server_cpu:.1} s, load generator {own_cpu:.1} s (workers not counted) over {:.1} s on {} cores",
        elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    );
    if let Some((size, status, took, rss)) = &big {
        println!(
            "  one {} MB upload: HTTP {status} in {:.1} s; server peak RSS after it {} MB",
            size >> 20,
            took.as_secs_f64(),
            rss / 1024
        );
    }
    assert!(alive, "the gate died under load");
    // /healthz is not a decision: the floor run writes no rows.
    let decisions = if floor { 0 } else { requests };
    assert_eq!(
        rows,
        decisions + usize::from(big.is_some()),
        "one audit row per request"
    );
    assert!(
        wrong.is_empty(),
        "{} unexpected responses, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

/// The decisions in the gate's store, paged through.
fn count_rows(url: &str) -> usize {
    let store = modelgate::store::Store::open(url).expect("store");
    let mut n = 0;
    let mut cursor = None;
    loop {
        let page = store
            .decisions(&modelgate::store::DecisionQuery {
                limit: Some(1000),
                cursor,
                ..Default::default()
            })
            .expect("page");
        n += page.decisions.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return n,
        }
    }
}
