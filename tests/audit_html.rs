//! The audit's HTML report in a real browser: Debian's headless Chromium driven over WebDriver
//! by Debian's chromedriver (both installed by tests/setup.sh), through a small WebDriver client
//! below (the W3C protocol is JSON over HTTP).
//!
//! The report comes from the real binary (`modelgate audit --format html`) over a tree with a
//! malicious pickle, benign files and a file whose path, and a pickle whose finding message,
//! carry `<script>` markup. In the page: no console errors (Chromium's own browser log, checked
//! against a page that does throw, so the check can fail), the counts of the JSON report of the
//! same audit, sorting by clicking a column heading, filtering by typing and by choosing a
//! severity, the hostile markup shown as text and never run. A screenshot is written to the
//! target directory for review.
#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};

/// The text a hostile path and a hostile pickle global carry: run, it would set a global.
const PAYLOAD: &str = "<script>window.__pwned=1</script>";

fn chromium() -> Option<PathBuf> {
    common::which("chromium").or_else(|| common::which("chromium-browser"))
}

/// A chromedriver process and one browser session, both ended when dropped.
struct Browser {
    _driver: common::Server,
    base: String,
    session: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Browser {
    fn start(chromium: &Path) -> Browser {
        let port = common::free_port();
        let mut cmd = Command::new(common::which("chromedriver").expect("chromedriver"));
        cmd.arg(format!("--port={port}"));
        let driver = common::start_server(cmd, port, || true);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut b = Browser {
            _driver: driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            rt,
            http: reqwest::Client::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // Root in a container: no user namespaces for Chromium's sandbox.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1800"]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let v = b.call("POST", "/session", &caps);
        v["sessionId"]
            .as_str()
            .expect("session id")
            .clone_into(&mut b.session);
        b
    }

    /// One WebDriver command; panics with the driver's error.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        };
        let text = self.rt.block_on(async {
            let resp = req.send().await.expect("webdriver request");
            resp.text().await.expect("webdriver response")
        });
        let v: Value = serde_json::from_str(&text).expect("webdriver JSON");
        assert!(
            v["value"]["error"].is_null(),
            "{method} {path}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: &Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn open(&self, page: &Path) {
        let url = format!("file://{}", page.display());
        self.session_call("POST", "/url", &json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page and returns its result.
    fn js(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            &json!({"script": script, "args": []}),
        )
    }

    fn element(&self, css: &str) -> String {
        let v = self.session_call(
            "POST",
            "/element",
            &json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/click"), &json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            &json!({ "text": text }),
        );
    }

    fn clear(&self, css: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/clear"), &json!({}));
    }

    /// Chromium's browser log since the last call: console messages and uncaught errors.
    fn console(&self) -> Vec<Value> {
        self.session_call("POST", "/se/log", &json!({"type": "browser"}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn errors(&self) -> Vec<Value> {
        self.console()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect()
    }

    fn screenshot(&self) -> Vec<u8> {
        let b64 = self.session_call("GET", "/screenshot", &json!({}));
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64"))
            .expect("png")
    }

    /// The texts of column `col` (1-based) of the visible rows of table `id`.
    fn column(&self, id: &str, col: usize) -> Vec<String> {
        let v = self.js(&format!(
            "return Array.from(document.querySelectorAll('#{id} tbody tr'))\
             .filter(r => !r.hidden).map(r => r.cells[{}].textContent);",
            col - 1
        ));
        serde_json::from_value(v).expect("texts")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let http = self.http.clone();
            let _ = self
                .rt
                .block_on(async move { http.delete(url).send().await });
        }
    }
}

/// A small registry: a malicious pickle, benign files, and hostile markup in a directory name
/// (the `/` of `</script>` makes it a directory) and in a pickle's global.
fn tree(root: &Path) {
    let write = |rel: &str, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    };
    // Protocol 0: os.system('id'), the textbook payload.
    write("z-team/model.pkl", b"cos\nsystem\n(S'id'\ntR.");
    // The same payload under a path that is markup.
    write(
        "y-team/<script>window.__pwned=1</script>.pkl",
        b"cos\nsystem\n(S'id'\ntR.",
    );
    // A pickle importing a "module" whose name is markup (quoted in the finding's message).
    let mut hostile = b"c".to_vec();
    hostile.extend_from_slice(PAYLOAD.as_bytes());
    hostile.extend_from_slice(b"\nx\n(tR.");
    write("x-team/odd.pkl", &hostile);
    // Not inspectable: a broken link (listed as skipped with the reason, never clean).
    std::os::unix::fs::symlink("gone.pkl", root.join("x-team/broken.pkl")).expect("symlink");
    // Benign: plain pickled data, a list of ints.
    for i in 0..5 {
        write(&format!("a-team/data-{i}.pkl"), b"(lp0\nI1\naI2\na.");
    }
}

fn audit(tree: &Path, dir: &Path, format: &str, out: &str) -> PathBuf {
    let path = dir.join(out);
    let run = Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .arg("audit")
        .arg(tree)
        .arg("--cache")
        .arg(dir.join("cache.db"))
        .args(["--quiet", "--format", format, "--output"])
        .arg(&path)
        .output()
        .expect("run modelgate audit");
    // Exit 1: findings at or above the threshold; anything else is a failure here.
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "audit failed: {}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    path
}

#[test]
fn the_html_report_works_in_headless_chromium() {
    let (Some(chromium), Some(_)) = (chromium(), common::which("chromedriver")) else {
        common::require(
            false,
            "chromium and chromedriver (apt-get install chromium chromium-driver)",
        );
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let models = work.path().join("models");
    tree(&models);
    let json_path = audit(&models, work.path(), "json", "audit.json");
    let html_path = audit(&models, work.path(), "html", "audit.html");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json")).expect("json");
    let html = std::fs::read_to_string(&html_path).expect("html");
    assert!(!html.contains(PAYLOAD), "hostile markup must be escaped");
    assert!(!html.contains(" src="), "nothing is loaded");
    assert!(
        html.match_indices("href=\"")
            .all(|(i, _)| html[i + 6..].starts_with('#')),
        "links stay in the page"
    );

    let browser = Browser::start(&chromium);

    // The console check can fail: a page that throws is seen.
    let broken = work.path().join("broken.html");
    std::fs::write(
        &broken,
        "<!DOCTYPE html><script>throw new Error('seen')</script>",
    )
    .expect("write");
    browser.open(&broken);
    assert!(
        browser
            .errors()
            .iter()
            .any(|e| e["message"].as_str().unwrap_or("").contains("seen")),
        "the browser log must show an uncaught error"
    );

    // A clean audit's page (no finding tables) runs without errors too.
    let clean = work.path().join("clean");
    std::fs::create_dir_all(&clean).expect("mkdir");
    std::fs::write(clean.join("data.pkl"), b"(lp0\nI1\na.").expect("write");
    let clean_page = audit(&clean, work.path(), "html", "clean.html");
    browser.open(&clean_page);
    let errors = browser.errors();
    assert!(
        errors.is_empty(),
        "console errors on a clean page: {errors:#?}"
    );
    let verdict = browser.js("return document.querySelector('.verdict').textContent;");
    assert!(
        verdict
            .as_str()
            .is_some_and(|v| v.starts_with("No findings")),
        "{verdict}"
    );

    browser.open(&html_path);
    let errors = browser.errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    assert_eq!(
        browser.js("return typeof window.__pwned;"),
        json!("undefined")
    );
    assert_eq!(
        browser.js("return performance.getEntriesByType('resource').length;"),
        json!(0),
        "the page fetched nothing"
    );
    let text = browser.js("return document.body.innerText;");
    let text = text.as_str().expect("text");
    assert!(
        text.contains(PAYLOAD),
        "the hostile names are shown as text"
    );

    // The page as a reviewer first sees it, kept for review.
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 10_000,
        "a screenshot of a page, {} bytes",
        png.len()
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-report.png");
    std::fs::write(&shot, &png).expect("write screenshot");
    std::fs::copy(&html_path, shot.with_extension("html")).expect("keep the page");
    eprintln!("screenshot: {}", shot.display());

    // The counts of the JSON report of the same audit.
    let total = report["summary"]["total_findings"].as_u64().expect("total");
    assert!(total >= 3, "{total}");
    let card = |id: &str| {
        browser.js(&format!(
            "return document.querySelector('[data-count={id}] .num').textContent;"
        ))
    };
    assert_eq!(card("findings"), json!(total.to_string()));
    assert_eq!(
        card("artifacts"),
        json!(report["audit"]["artifacts"]
            .as_u64()
            .expect("artifacts")
            .to_string())
    );
    assert_eq!(browser.column("finding-table", 2).len() as u64, total);
    assert_eq!(card("unscanned"), json!("1"));
    let reasons = browser.column("unscanned-table", 3);
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("broken symbolic link"), "{reasons:?}");
    for (sev, n) in report["audit"]["counts"]["by_severity"]
        .as_object()
        .expect("by_severity")
    {
        let bar = browser.js(&format!(
            "return document.querySelector('g.bar[data-severity={sev}] text.value').textContent;"
        ));
        assert_eq!(bar, json!(n.to_string()), "chart bar {sev}");
    }

    // Sorting: the file table starts worst first; clicking "Path" sorts by path, again reverses.
    let initial = browser.column("artifact-table", 1);
    assert_eq!(initial.len(), 9, "{initial:?}");
    browser.click("#artifact-table thead th:nth-child(1)");
    let ascending = browser.column("artifact-table", 1);
    let mut sorted = initial.clone();
    sorted.sort_by_key(|s| s.to_lowercase());
    assert_eq!(ascending, sorted);
    assert_ne!(ascending, initial, "the order changed");
    browser.click("#artifact-table thead th:nth-child(1)");
    let descending = browser.column("artifact-table", 1);
    assert_eq!(descending, sorted.iter().rev().cloned().collect::<Vec<_>>());
    // Numeric columns sort as numbers: findings per file.
    browser.click("#artifact-table thead th:nth-child(5)");
    let counts: Vec<u64> = browser
        .column("artifact-table", 5)
        .iter()
        .map(|c| c.parse().expect("number"))
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");

    // Filtering by text, then by severity.
    browser.type_into(".filters[data-table=finding-table] input", "z-team");
    let rows = browser.column("finding-table", 3);
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.contains("z-team")),
        "{rows:?}"
    );
    let shown = browser.js(
        "return document.querySelector('.filters[data-table=finding-table] .shown').textContent;",
    );
    assert_eq!(shown, json!(format!("{} of {total} shown", rows.len())));
    browser.clear(".filters[data-table=finding-table] input");
    assert_eq!(browser.column("finding-table", 3).len() as u64, total);
    browser.click(".filters[data-table=finding-table] select option[value='5']");
    let critical = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "critical")
        .count();
    assert_eq!(browser.column("finding-table", 1).len(), critical);
    assert!(browser
        .column("finding-table", 1)
        .iter()
        .all(|s| s == "critical"));

    // Filtering the file table by status.
    browser.click(
        ".filters[data-table=artifact-table] select[data-filter=status] option[value='skipped']",
    );
    let skipped = browser.column("artifact-table", 1);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].ends_with("x-team/broken.pkl"), "{skipped:?}");
    assert_eq!(
        browser.column("artifact-table", 6),
        ["not inspected"],
        "a file that was not inspected does not read as clean"
    );
    browser
        .click(".filters[data-table=artifact-table] select[data-filter=status] option[value='']");
    assert_eq!(browser.column("artifact-table", 1).len(), 9);

    // A file's details open from its link.
    browser.click("#artifact-table tbody tr a");
    assert_eq!(
        browser.js("return document.querySelectorAll('details.file[open]').length;"),
        json!(1)
    );
    // And from a finding's location (the finding table shows critical findings only now).
    let target = browser.js(
        "return document.querySelector('#finding-table tbody tr:not([hidden]) a')\
         .getAttribute('href').slice(1);",
    );
    let target = target.as_str().expect("a link to a file's details");
    browser.click("#finding-table tbody tr:not([hidden]) a");
    assert_eq!(
        browser.js(&format!("return document.getElementById('{target}').open;")),
        json!(true)
    );

    let errors = browser.errors();
    assert!(
        errors.is_empty(),
        "console errors after interaction: {errors:#?}"
    );
}
