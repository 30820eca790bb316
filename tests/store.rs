//! The store (audit trail and verdict cache) against real databases: every case runs on a SQLite
//! file in a temporary directory and on a real PostgreSQL server started by the test
//! (tests/common/pgserver.rs), each case on its own fresh database. Under `CI` a missing
//! PostgreSQL is a failure, not a skip.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use chrono::{DateTime, Duration, Utc};
use modelgate::store::{
    AsyncStore, AuditBatch, CacheEntry, CacheKey, Decision, DecisionQuery, ProgressRow,
    SeverityCounts, StampRow, Store, StoreError, Verdict, MAX_PAGE_LIMIT, MAX_REPORT_BYTES,
};

use common::pgserver::Postgres;

/// One fresh database, on either backend.
enum Target {
    Sqlite {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        url: String,
    },
    Postgres {
        url: String,
    },
}

impl Target {
    fn sqlite() -> Target {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.db");
        let url = format!("sqlite://{}", path.display());
        Target::Sqlite {
            _dir: dir,
            path,
            url,
        }
    }

    fn postgres(server: &Postgres) -> Target {
        Target::Postgres {
            url: server.create_database(),
        }
    }

    fn url(&self) -> &str {
        match self {
            Target::Sqlite { url, .. } | Target::Postgres { url } => url,
        }
    }

    fn open(&self) -> Store {
        Store::open(self.url()).unwrap_or_else(|e| panic!("open {}: {e}", self.url()))
    }

    /// Runs SQL on the database behind the store's back.
    fn execute(&self, sql: &str) {
        match self {
            Target::Sqlite { path, .. } => {
                let c = rusqlite::Connection::open(path).expect("open");
                c.execute_batch(sql).expect("execute");
            }
            Target::Postgres { url } => Postgres::execute(url, sql),
        }
    }

    fn count(&self, sql: &str) -> i64 {
        match self {
            Target::Sqlite { path, .. } => {
                let c = rusqlite::Connection::open(path).expect("open");
                c.query_row(sql, [], |r| r.get(0)).expect("query")
            }
            Target::Postgres { url } => Postgres::query_i64(url, sql),
        }
    }
}

fn sha(n: u64) -> String {
    format!("{n:064x}")
}

fn decision(n: u64, time: DateTime<Utc>) -> Decision {
    let mut d = Decision::new("test", &format!("req-{n}"), "/v1/scan", Verdict::Admit);
    d.time = time;
    d.sha256 = Some(sha(n % 7));
    d.size = Some(n * 10);
    d
}

/// Every decision of the trail, newest first, paging with `limit`.
fn all_decisions(store: &Store, query: &DecisionQuery, limit: u32) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut q = DecisionQuery {
        limit: Some(limit),
        ..query.clone()
    };
    loop {
        let page = store.decisions(&q).expect("page");
        assert!(page.decisions.len() <= limit as usize);
        ids.extend(page.decisions.iter().map(|d| d.id));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return ids,
        }
    }
}

fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).expect("ms")
}

// ---------------------------------------------------------------------------------------------
// The cases, each given a fresh database.

fn migrates_from_empty_and_reopens(t: &Target) {
    // Several processes' worth of handles opening one empty database at once: each migration is
    // applied exactly once.
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = t.url().to_owned();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                Store::open(&url)
            })
        })
        .collect();
    for h in handles {
        h.join()
            .expect("thread")
            .expect("open")
            .close()
            .expect("close");
    }
    // Each migration once (as many rows as the highest version; more than one migration).
    let applied = t.count("SELECT MAX(version) FROM schema_version");
    assert!(applied > 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM schema_version"), applied);
    let store = t.open();
    store.ping().expect("ping");
    let id = store
        .record_decision(decision(1, Utc::now()))
        .expect("record");
    store.close().expect("close");
    // Re-open: nothing re-applied, nothing lost.
    let store = t.open();
    assert_eq!(t.count("SELECT COUNT(*) FROM schema_version"), applied);
    let page = store.decisions(&DecisionQuery::default()).expect("page");
    assert_eq!(page.decisions.len(), 1);
    assert_eq!(page.decisions[0].id, id);
}

fn refuses_a_newer_schema(t: &Target) {
    t.open().close().expect("close");
    t.execute(
        "INSERT INTO schema_version (version, name, applied_ms) VALUES (999, 'from the future', 0)",
    );
    match Store::open(t.url()) {
        Err(e @ StoreError::SchemaTooNew { found: 999, .. }) => {
            assert!(e.to_string().contains("newer"), "{e}");
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

fn decisions_round_trip(t: &Target) {
    let store = t.open();
    let now = Utc::now();
    let full = Decision {
        time: now,
        request_id: "0190a4c2-request".into(),
        client: Some("ci-pipeline ✓".into()),
        route: "/v1/scan".into(),
        sha256: Some(sha(0xfeed)),
        size: Some(i64::MAX as u64),
        verdict: Verdict::Deny,
        counts: SeverityCounts {
            info: 1,
            low: 2,
            medium: 3,
            high: 4,
            critical: u32::MAX,
        },
        signatures_digest: "sha256:signatures".into(),
        policy_digest: "sha256:policy".into(),
        duration_ms: 1234,
        cached: true,
        reasons: r#"[{"code": "pickle/unsafe-global", "where": "data.pkl", "n": 1.5}]"#.into(),
        source: "gate".into(),
    };
    let mut minimal = Decision::new("audit", "r2", "/v1/verify", Verdict::Error);
    minimal.time = now - Duration::seconds(1);
    let id_full = store.record_decision(full.clone()).expect("record");
    let id_min = store.record_decision(minimal.clone()).expect("record");
    assert_ne!(id_full, id_min);
    let page = store.decisions(&DecisionQuery::default()).expect("page");
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.decisions.len(), 2);
    assert_eq!(page.decisions[0].id, id_full);
    let mut want = full;
    want.time = ms(want.time);
    assert_eq!(page.decisions[0].decision, want);
    let mut want = minimal;
    want.time = ms(want.time);
    assert_eq!(page.decisions[1].decision, want);
    // A sha256 given in upper case is stored in lower case.
    let mut upper = Decision::new("gate", "r3", "/v1/scan", Verdict::Admit);
    upper.sha256 = Some(sha(0xabc).to_uppercase());
    store.record_decision(upper).expect("record");
    let page = store
        .decisions(&DecisionQuery {
            sha256: Some(sha(0xabc)),
            ..Default::default()
        })
        .expect("page");
    assert_eq!(page.decisions.len(), 1);
    assert_eq!(page.decisions[0].decision.sha256, Some(sha(0xabc)));
    // Invalid rows never reach the database.
    let mut bad = Decision::new("gate", "r4", "/v1/scan", Verdict::Admit);
    bad.reasons = "{not json".into();
    assert!(matches!(
        store.record_decision(bad),
        Err(StoreError::InvalidInput { .. })
    ));
    assert_eq!(t.count("SELECT COUNT(*) FROM decisions"), 3);
}

fn filters(t: &Target) {
    let store = t.open();
    let base = Utc::now() - Duration::hours(2);
    let rows: Vec<Decision> = (0..60u64)
        .map(|n| {
            let mut d = decision(n, base + Duration::minutes(n as i64));
            d.verdict = match n % 3 {
                0 => Verdict::Admit,
                1 => Verdict::Deny,
                _ => Verdict::Error,
            };
            d
        })
        .collect();
    store.record_decisions(rows.clone()).expect("record");
    let since = base + Duration::minutes(30);
    let count = |q: DecisionQuery| all_decisions(&store, &q, 7).len();
    assert_eq!(count(DecisionQuery::default()), 60);
    assert_eq!(
        count(DecisionQuery {
            since: Some(since),
            ..Default::default()
        }),
        30
    );
    assert_eq!(
        count(DecisionQuery {
            verdict: Some(Verdict::Deny),
            ..Default::default()
        }),
        20
    );
    let want = rows
        .iter()
        .filter(|d| d.sha256 == Some(sha(3)) && d.verdict == Verdict::Admit && d.time >= since)
        .count();
    assert!(want > 0);
    assert_eq!(
        count(DecisionQuery {
            since: Some(since),
            verdict: Some(Verdict::Admit),
            sha256: Some(sha(3).to_uppercase()),
            ..Default::default()
        }),
        want
    );
    // Newest first.
    let page = store
        .decisions(&DecisionQuery {
            limit: Some(3),
            ..Default::default()
        })
        .expect("page");
    let times: Vec<_> = page.decisions.iter().map(|d| d.decision.time).collect();
    assert_eq!(
        times,
        vec![ms(rows[59].time), ms(rows[58].time), ms(rows[57].time)]
    );
    // The page size is capped.
    let many: Vec<Decision> = (0..u64::from(MAX_PAGE_LIMIT) + 5)
        .map(|n| decision(n, base))
        .collect();
    store.record_decisions(many).expect("record");
    let page = store
        .decisions(&DecisionQuery {
            limit: Some(u32::MAX),
            ..Default::default()
        })
        .expect("page");
    assert_eq!(page.decisions.len(), MAX_PAGE_LIMIT as usize);
    assert!(page.next_cursor.is_some());
    // A cursor from a client is checked.
    assert_eq!(
        store
            .decisions(&DecisionQuery {
                cursor: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
                ..Default::default()
            })
            .err(),
        Some(StoreError::BadCursor)
    );
}

fn pagination_survives_concurrent_inserts(t: &Target) {
    let store = t.open();
    // 300 rows, ten to a millisecond, so the id breaks most ties in time.
    let base = Utc::now() - Duration::hours(1);
    let rows: Vec<Decision> = (0..300u64)
        .map(|n| decision(n, base + Duration::milliseconds((n / 10) as i64)))
        .collect();
    let existing: BTreeSet<i64> = store
        .record_decisions(rows)
        .expect("record")
        .into_iter()
        .collect();
    // Another handle keeps inserting while the first one pages through the trail.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let store = t.open();
        let stop = Arc::clone(&stop);
        let written = Arc::clone(&written);
        std::thread::spawn(move || {
            let mut n = 1000;
            while !stop.load(Ordering::SeqCst) {
                store
                    .record_decision(decision(n, Utc::now()))
                    .expect("record");
                written.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        })
    };
    while written.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let mut seen = Vec::new();
    let mut q = DecisionQuery {
        limit: Some(7),
        ..Default::default()
    };
    loop {
        let page = store.decisions(&q).expect("page");
        seen.extend(page.decisions.iter().map(|d| d.id));
        std::thread::sleep(std::time::Duration::from_millis(1));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a row was seen twice");
    assert!(
        existing.is_subset(&unique),
        "rows skipped: {:?}",
        existing.difference(&unique).collect::<Vec<_>>()
    );
}

fn many_writers_on_threads(t: &Target) {
    let a = t.open();
    let b = t.open();
    let threads: Vec<_> = (0..8u64)
        .map(|k| {
            let store = if k % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                (0..50u64)
                    .flat_map(|n| {
                        if n % 10 == 0 {
                            // Batches as the audit commits them.
                            store
                                .record_decisions(
                                    (0..5)
                                        .map(|m| decision(k * 1000 + n * 10 + m, Utc::now()))
                                        .collect(),
                                )
                                .expect("record batch")
                        } else {
                            vec![store
                                .record_decision(decision(k * 1000 + n, Utc::now()))
                                .expect("record")]
                        }
                    })
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    let ids: Vec<i64> = threads
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 8 * (45 + 5 * 5));
    assert_eq!(unique.len(), ids.len());
    assert_eq!(t.count("SELECT COUNT(*) FROM decisions"), ids.len() as i64);
    let listed: BTreeSet<i64> = all_decisions(&a, &DecisionQuery::default(), MAX_PAGE_LIMIT)
        .into_iter()
        .collect();
    assert_eq!(listed, unique);
}

fn many_writers_in_a_tokio_runtime(t: &Target) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let url = t.url().to_owned();
    let ids = rt.block_on(async move {
        // Opened from inside the runtime: the connection is made on the store's own thread
        // (the synchronous PostgreSQL client must not start its runtime on a worker).
        let store = AsyncStore::open(&url).await.expect("open");
        let key = CacheKey::new(&sha(1), "sigs", "policy").expect("key");
        let mut tasks = Vec::new();
        for n in 0..200u64 {
            let store = store.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let hit = store.cached_verdict(&key).await.expect("lookup");
                if hit.is_none() {
                    store
                        .cache_verdict(&key, &CacheEntry::new(Verdict::Admit, "[]"))
                        .await
                        .expect("cache");
                }
                let mut d = decision(n, Utc::now());
                d.cached = hit.is_some();
                store.record_decision(d).await.expect("record")
            }));
        }
        // The blocking handle from spawn_blocking, as a sync caller inside the runtime would.
        for n in 0..20u64 {
            let store = store.blocking();
            tasks.push(tokio::task::spawn_blocking(move || {
                store
                    .record_decision(decision(10_000 + n, Utc::now()))
                    .expect("record")
            }));
        }
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.expect("task"));
        }
        store.ping().await.expect("ping");
        let page = store
            .decisions(&DecisionQuery {
                limit: Some(5),
                ..Default::default()
            })
            .await
            .expect("page");
        assert_eq!(page.decisions.len(), 5);
        store.close().await.expect("close");
        ids
    });
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 220);
    assert_eq!(t.count("SELECT COUNT(*) FROM decisions"), 220);
    assert_eq!(t.count("SELECT COUNT(*) FROM verdict_cache"), 1);
}

fn cache_key_semantics(t: &Target) {
    let store = t.open();
    let key = CacheKey::new(&sha(42), "sigs-v1", "policy-a").expect("key");
    assert_eq!(store.cached_verdict(&key).expect("lookup"), None);
    let report = serde_json::json!({
        "findings": (0..2000).map(|i| serde_json::json!({"code": "pickle/unsafe-global", "n": i})).collect::<Vec<_>>()
    })
    .to_string();
    let stored = store
        .cache_verdict(
            &key,
            &CacheEntry::new(Verdict::Deny, r#"["pickle/unsafe-global"]"#)
                .with_report(report.clone()),
        )
        .expect("cache");
    assert_eq!(stored.verdict, Verdict::Deny);
    assert_eq!(stored.report.as_deref(), Some(report.as_str()));
    let hit = store.cached_verdict(&key).expect("lookup").expect("hit");
    assert_eq!(hit, stored);
    // The same artifact under another signature database or policy is a miss.
    for other in [
        CacheKey::new(&sha(42), "sigs-v2", "policy-a"),
        CacheKey::new(&sha(42), "sigs-v1", "policy-b"),
        CacheKey::new(&sha(43), "sigs-v1", "policy-a"),
    ] {
        assert_eq!(
            store.cached_verdict(&other.expect("key")).expect("lookup"),
            None
        );
    }
    // The key's sha256 is case-insensitive.
    let upper = CacheKey::new(&sha(42).to_uppercase(), "sigs-v1", "policy-a").expect("key");
    assert_eq!(
        store.cached_verdict(&upper).expect("lookup"),
        Some(stored.clone())
    );
    // The first writer wins; a later insert succeeds and reads back the first row.
    let again = store
        .cache_verdict(&key, &CacheEntry::new(Verdict::Admit, "[]"))
        .expect("cache again");
    assert_eq!(again, stored);
    // `error` is never cached; an oversized report is refused and nothing is stored.
    let fresh = CacheKey::new(&sha(44), "sigs-v1", "policy-a").expect("key");
    assert_eq!(
        store
            .cache_verdict(&fresh, &CacheEntry::new(Verdict::Error, "[]"))
            .err(),
        Some(StoreError::ErrorVerdictNotCacheable)
    );
    let huge = CacheEntry::new(Verdict::Admit, "[]").with_report(" ".repeat(MAX_REPORT_BYTES + 1));
    assert!(matches!(
        store.cache_verdict(&fresh, &huge),
        Err(StoreError::ReportTooLarge { .. })
    ));
    assert_eq!(store.cached_verdict(&fresh).expect("lookup"), None);
    // Without a report.
    let plain = store
        .cache_verdict(&fresh, &CacheEntry::new(Verdict::Admit, "[]"))
        .expect("cache");
    assert_eq!(plain.report, None);
    assert_eq!(t.count("SELECT COUNT(*) FROM verdict_cache"), 2);
}

fn racing_cache_inserts(t: &Target) {
    let handles: Vec<Store> = (0..3).map(|_| t.open()).collect();
    for round in 0..5u64 {
        let key = CacheKey::new(&sha(round), "sigs", "policy").expect("key");
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8usize)
            .map(|i| {
                let store = handles[i % handles.len()].clone();
                let key = key.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let verdict = if i % 2 == 0 {
                        Verdict::Admit
                    } else {
                        Verdict::Deny
                    };
                    barrier.wait();
                    store
                        .cache_verdict(&key, &CacheEntry::new(verdict, &format!("[{i}]")))
                        .expect("every racer succeeds")
                })
            })
            .collect();
        let results: Vec<_> = threads
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        let first = &results[0];
        assert!(results.iter().all(|r| r == first), "{results:?}");
        for h in &handles {
            assert_eq!(
                h.cached_verdict(&key).expect("lookup").as_ref(),
                Some(first)
            );
        }
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM verdict_cache"), 5);
}

fn two_handles_see_each_other(t: &Target) {
    // Two replicas: separate stores (connections, worker threads) on one database.
    let a = t.open();
    let b = t.open();
    let ida = a.record_decision(decision(1, Utc::now())).expect("record");
    let idb = b.record_decision(decision(2, Utc::now())).expect("record");
    for store in [&a, &b] {
        let ids: BTreeSet<i64> = all_decisions(store, &DecisionQuery::default(), 10)
            .into_iter()
            .collect();
        assert_eq!(ids, BTreeSet::from([ida, idb]));
    }
    let key = CacheKey::new(&sha(9), "sigs", "policy").expect("key");
    let stored = b
        .cache_verdict(&key, &CacheEntry::new(Verdict::Admit, r#"["clean"]"#))
        .expect("cache");
    assert_eq!(a.cached_verdict(&key).expect("lookup"), Some(stored));
    let key2 = CacheKey::new(&sha(10), "sigs", "policy").expect("key");
    a.cache_verdict(&key2, &CacheEntry::new(Verdict::Deny, "[]"))
        .expect("cache");
    assert_eq!(
        b.cached_verdict(&key2).expect("lookup").map(|c| c.verdict),
        Some(Verdict::Deny)
    );
}

fn close_loses_no_accepted_row(t: &Target) {
    let store = t.open();
    let writers: Vec<_> = (0..4u64)
        .map(|k| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut accepted = Vec::new();
                for n in 0.. {
                    match store.record_decision(decision(k * 100_000 + n, Utc::now())) {
                        Ok(id) => accepted.push(id),
                        Err(StoreError::Closed) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                accepted
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    store.flush().expect("flush");
    store.close().expect("close");
    assert_eq!(store.ping(), Err(StoreError::Closed));
    assert_eq!(store.close(), Ok(()));
    let accepted: BTreeSet<i64> = writers
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    assert!(!accepted.is_empty());
    let reopened = t.open();
    let stored: BTreeSet<i64> = all_decisions(&reopened, &DecisionQuery::default(), MAX_PAGE_LIMIT)
        .into_iter()
        .collect();
    assert_eq!(stored, accepted, "every accepted row, and only those");
}

/// The batch audit's tables: a batch commits stamps, verdicts and progress together; stamps are
/// replaced by (device, inode) and keep full 64-bit device and inode numbers; progress is per run
/// and forgotten when the run finishes; an invalid row fails the whole batch.
fn audit_tables(t: &Target) {
    let store = t.open();
    let stamp = |inode: u64, size: u64, n: u64| StampRow {
        device: u64::MAX - 1,
        inode,
        size,
        mtime_ns: 1_700_000_000_123_456_789,
        ctime_ns: -5,
        sha256: sha(n),
    };
    let key = CacheKey::new(&sha(1), "sigs", "policy").unwrap();
    let batch = AuditBatch {
        run_key: "run-a".into(),
        stamps: vec![stamp(u64::MAX, 10, 1), stamp(7, 20, 2)],
        verdicts: vec![(
            key.clone(),
            CacheEntry::new(Verdict::Deny, "[]").with_report("{\"findings\":[]}".into()),
        )],
        progress: vec![ProgressRow {
            identity: "hf://org/m@r/model.bin".into(),
            sha256: sha(1),
            cache_digest: "policy".into(),
        }],
    };
    store.commit_audit_batch(&batch).unwrap();
    // Committing the same batch again changes nothing (a resumed run redoing a batch).
    store.commit_audit_batch(&batch).unwrap();
    let got = store
        .file_stamps(vec![(u64::MAX - 1, u64::MAX), (u64::MAX - 1, 7), (1, 1)])
        .unwrap();
    assert_eq!(got[0], Some(stamp(u64::MAX, 10, 1)));
    assert_eq!(got[1], Some(stamp(7, 20, 2)));
    assert_eq!(got[2], None);
    let hit = store.cached_verdicts(vec![key.clone()]).unwrap();
    assert_eq!(hit[0].as_ref().map(|h| h.verdict), Some(Verdict::Deny));
    assert_eq!(
        hit[0].as_ref().and_then(|h| h.report.as_deref()),
        Some("{\"findings\":[]}")
    );
    assert_eq!(store.audit_progress("run-a").unwrap(), batch.progress);
    assert!(store.audit_progress("run-b").unwrap().is_empty());
    // A file that changed: its stamp is replaced, not added.
    let newer = AuditBatch {
        run_key: "run-a".into(),
        stamps: vec![stamp(7, 21, 3)],
        ..AuditBatch::default()
    };
    store.commit_audit_batch(&newer).unwrap();
    assert_eq!(
        store.file_stamps(vec![(u64::MAX - 1, 7)]).unwrap()[0],
        Some(stamp(7, 21, 3))
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM file_stamps"), 2);
    // All or nothing: a bad sha256 in one row commits none of the batch.
    let bad = AuditBatch {
        run_key: "run-a".into(),
        stamps: vec![
            stamp(8, 1, 4),
            StampRow {
                sha256: "nothex".into(),
                ..stamp(9, 1, 5)
            },
        ],
        ..AuditBatch::default()
    };
    assert!(store.commit_audit_batch(&bad).is_err());
    assert_eq!(store.file_stamps(vec![(u64::MAX - 1, 8)]).unwrap()[0], None);
    store.finish_audit_run("run-a").unwrap();
    assert!(store.audit_progress("run-a").unwrap().is_empty());
    // Stamps are looked up many inodes per query: more than one query's worth, on two devices,
    // asked in any order and more than once, each answered as its own row.
    let many: Vec<StampRow> = (100..300)
        .map(|i| StampRow {
            device: i % 2,
            ..stamp(i, i, i)
        })
        .collect();
    store
        .commit_audit_batch(&AuditBatch {
            run_key: "run-c".into(),
            stamps: many.clone(),
            ..AuditBatch::default()
        })
        .unwrap();
    let mut asked: Vec<(u64, u64)> = many.iter().rev().map(|s| (s.device, s.inode)).collect();
    asked.push((0, 100));
    asked.push((1, 100));
    asked.push((0, 5_000));
    let got = store.file_stamps(asked).unwrap();
    let want: Vec<Option<StampRow>> = many
        .iter()
        .rev()
        .cloned()
        .map(Some)
        .chain([Some(many[0].clone()), None, None])
        .collect();
    assert_eq!(got, want);
    // A tree's directory listings: stored, replaced, kept per root.
    assert_eq!(store.dir_listing("/srv/models").unwrap(), None);
    store.put_dir_listing("/srv/models", vec![1, 2, 3]).unwrap();
    store.put_dir_listing("/srv/other", vec![9]).unwrap();
    store.put_dir_listing("/srv/models", vec![0, 255]).unwrap();
    assert_eq!(
        store.dir_listing("/srv/models").unwrap(),
        Some(vec![0, 255])
    );
    assert_eq!(store.dir_listing("/srv/other").unwrap(), Some(vec![9]));
    store.close().unwrap();
}

fn webhook_deliveries_are_seen_once(t: &Target) {
    // Two replicas, and replicas racing on one id: exactly one records it as new.
    let a = t.open();
    let b = t.open();
    let now = Utc::now();
    let long_ago = now - Duration::days(30);
    assert!(a
        .record_delivery("mlflow", "d-1", now, long_ago)
        .expect("record"));
    assert!(!b
        .record_delivery("mlflow", "d-1", now, long_ago)
        .expect("record"));
    // Another source's ids are its own.
    assert!(b
        .record_delivery("other", "d-1", now, long_ago)
        .expect("record"));
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                store
                    .record_delivery("mlflow", "d-race", Utc::now(), long_ago)
                    .expect("record")
            })
        })
        .collect();
    let new = racers
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .filter(|n| *n)
        .count();
    assert_eq!(new, 1);
    a.close().expect("close");
    b.close().expect("close");
    // Durable across a restart; forgotten once older than the caller's window.
    let c = t.open();
    assert!(!c
        .record_delivery("mlflow", "d-1", Utc::now(), long_ago)
        .expect("record"));
    let later = now + Duration::days(2);
    assert!(c
        .record_delivery("mlflow", "d-2", later, now + Duration::days(1))
        .expect("record"));
    assert!(c
        .record_delivery("mlflow", "d-1", later, now + Duration::days(1))
        .expect("record"));
    assert_eq!(
        t.count("SELECT COUNT(*) FROM webhook_deliveries WHERE delivery_id = 'd-race'"),
        0
    );
    assert!(c
        .record_delivery("mlflow", &"x".repeat(2000), later, now)
        .is_err());
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        /// Every case on a SQLite file, one test each.
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    super::$case(&super::Target::sqlite());
                }
            )*
        }

        const CASES: &[(&str, fn(&Target))] = &[$((stringify!($case), $case)),*];
    };
}

suite!(
    migrates_from_empty_and_reopens,
    refuses_a_newer_schema,
    decisions_round_trip,
    filters,
    pagination_survives_concurrent_inserts,
    many_writers_on_threads,
    many_writers_in_a_tokio_runtime,
    cache_key_semantics,
    racing_cache_inserts,
    two_handles_see_each_other,
    close_loses_no_accepted_row,
    audit_tables,
    webhook_deliveries_are_seen_once,
);

/// Every case on a real PostgreSQL server: one server for the suite (started here, stopped when
/// the test ends), one fresh database per case. A failing case does not stop the others; the
/// test fails with the names of all that failed.
#[test]
fn postgres() {
    let Some(bin) = common::pgserver::available() else {
        return;
    };
    let server = Postgres::start(&bin);
    let mut failed = Vec::new();
    for (name, case) in CASES {
        let target = Target::postgres(&server);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&target)));
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reconnects_after_the_connection_is_dropped(&server);
    }))
    .is_err()
    {
        failed.push("reconnects_after_the_connection_is_dropped");
    }
    drop(server);
    assert!(failed.is_empty(), "failed on PostgreSQL: {failed:?}");
}

/// PostgreSQL only: the server ends the store's connection (as a restart or failover would); the
/// next reads and writes go through on a new connection.
fn reconnects_after_the_connection_is_dropped(server: &Postgres) {
    let url = server.create_database();
    let store = Store::open(&url).expect("open");
    store
        .record_decision(decision(1, Utc::now()))
        .expect("record");
    let admin = server.url("postgres");
    let drop_connections = || {
        Postgres::execute(
            &admin,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'modelgate'",
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Postgres::query_i64(
            &admin,
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'modelgate'",
        ) > 0
        {
            assert!(std::time::Instant::now() < deadline, "connections linger");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    drop_connections();
    store.ping().expect("ping on a new connection");
    drop_connections();
    store
        .record_decision(decision(2, Utc::now()))
        .expect("record on a new connection");
    drop_connections();
    let key = CacheKey::new(&sha(1), "sigs", "policy").expect("key");
    assert_eq!(store.cached_verdict(&key).expect("lookup"), None);
    assert_eq!(
        Postgres::query_i64(&url, "SELECT COUNT(*) FROM decisions"),
        2
    );
}

#[test]
fn unknown_schemes_are_typed_errors() {
    assert_eq!(
        Store::open("mysql://root@localhost/modelgate").err(),
        Some(StoreError::UnsupportedScheme {
            scheme: "mysql".into()
        })
    );
}
