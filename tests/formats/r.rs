//! R serialized objects (`.rds`, `.rda`/`.RData`; testdata/r, written by testdata/generate/r.py,
//! the benign and most malicious ones by R itself): promises and active bindings that run on
//! access, closures, calls and byte code naming dangerous functions, the compressions `saveRDS`
//! and `save` use, text and XDR encodings, streams R refuses, the AI-BOM's framework, and
//! never-panics property tests for the stream reader.

use std::io::Cursor;

use modelgate::formats::rds::{parse, CodeKind};
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{assert_bom_framework, check_area, default_bound, scan, scan_quickly, testdata};

#[test]
fn r_fixtures() {
    check_area("r", default_bound);
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("r").join(kind).join(name))
}

/// Whether `r` has finding `code` at `sev` whose message contains `text`, anywhere.
fn has(r: &Report, code: &str, sev: Severity, text: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.code == code && f.severity == sev && f.message.contains(text))
}

#[test]
fn real_models_carry_code_but_nothing_dangerous() {
    let r = fixture("benign", "lm.rds");
    assert!(
        has(&r, "r/object", Severity::Info, "written by R 4.2.2"),
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings.iter().all(|f| f.severity == Severity::Info),
        "{:#?}",
        r.findings
    );
    // The object sits inside saveRDS's gzip stream.
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "r/object" && !f.location.inner.is_empty()));
    assert_bom_framework(&r, "r-serialized", "r");
    let r = fixture("benign", "glm-binomial.rds");
    assert!(
        has(&r, "r/code", Severity::Info, "closure"),
        "{:#?}",
        r.findings
    );
    // The family's closures call stats' registered routines (`.Call(C_logit_link, mu)`): R
    // finds them in the installed namespace, so they are info, with the routines as evidence.
    let calls: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "r/dangerous-call")
        .collect();
    assert_eq!(calls.len(), 8, "{calls:#?}");
    assert!(
        calls.iter().all(|f| f.severity == Severity::Info
            && f.evidence.get("function").map(String::as_str) == Some(".Call")),
        "{calls:#?}"
    );
    for routine in [
        "stats::C_logit_link",
        "stats::C_logit_linkinv",
        "stats::C_logit_mu_eta",
        "stats::C_binomial_dev_resids",
    ] {
        assert!(
            calls
                .iter()
                .any(|f| f.evidence.get("routines").map(String::as_str) == Some(routine)),
            "{routine}: {calls:#?}"
        );
    }
    assert!(
        r.findings.iter().all(|f| f.severity == Severity::Info),
        "{:#?}",
        r.findings
    );
    assert!(
        has(&r, "r/namespace", Severity::Info, "stats"),
        "{:#?}",
        r.findings
    );
    let r = fixture("benign", "data-frame-ascii.rds");
    assert!(
        has(&r, "r/object", Severity::Info, "ascii"),
        "{:#?}",
        r.findings
    );
    let r = fixture("benign", "workspace.RData");
    assert!(
        has(&r, "r/object", Severity::Info, "workspace"),
        "{:#?}",
        r.findings
    );
}

#[test]
fn promises_run_on_access_and_are_flagged() {
    for name in [
        "promise-in-environment.rds",
        "toplevel-promise.rds",
        "promise-in-list.rds",
        "workspace-promise.RData",
    ] {
        let r = fixture("malicious", name);
        assert!(
            has(&r, "r/promise", Severity::High, "unevaluated promise"),
            "{name}: {:#?}",
            r.findings
        );
        assert!(
            has(
                &r,
                "r/dangerous-call",
                Severity::Critical,
                "on first access"
            ),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn code_naming_system_is_critical_whatever_carries_it() {
    for (name, what) in [
        ("active-binding.rds", "active binding (byte"),
        ("closure-in-model.rds", "closure"),
        ("byte-code-closure.rds", "closure"),
        ("lm-call-replaced.rds", "language object"),
        ("do-call-by-name.rds", "names by string system"),
    ] {
        let r = fixture("malicious", name);
        assert!(
            has(&r, "r/dangerous-call", Severity::Critical, what),
            "{name}: {:#?}",
            r.findings
        );
    }
    let r = fixture("malicious", "active-binding.rds");
    assert!(has(&r, "r/active-binding", Severity::High, "every access"));
}

/// Native calls whose routine is not provably a registered routine of R's own packages keep the
/// policy's severity (testdata/r/native, written by R): named by string (R looks it up in every
/// loaded library), not registered by stats, bound by the file's own environments, found through
/// the global environment, passed as an argument, assigned locally, or byte code of another
/// shape. Each differs from the glm's info closures in that one respect.
#[test]
fn native_calls_not_provably_registered_stay_low() {
    let dir = testdata().join("r/native");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("r/native") {
        let path = entry.expect("entry").path();
        n += 1;
        let r = scan(&path);
        let name = path.display();
        let calls: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.code == "r/dangerous-call")
            .collect();
        assert!(!calls.is_empty(), "{name}: {:#?}", r.findings);
        assert!(
            calls
                .iter()
                .all(|f| f.severity == Severity::Low && !f.evidence.contains_key("routines")),
            "{name}: {calls:#?}"
        );
    }
    assert_eq!(n, 8, "fixtures in {}", dir.display());
}

/// Models and results of R's stats package, written by R itself
/// (testdata/generate/r_stats_models.R): nls models (their closures `eval` the model formula and
/// `mget` parameters), glms of every family and link (inverse.gaussian's `simulate` calls
/// `requireNamespace("SuppDists")`), lm, loess, smoothing splines, ppr, arima, StructTS, PCA,
/// k-means, hclust, ecdf, splinefun/approxfun/stepfun closures, density, nlm/optim results and
/// ksmooth carry nothing above info, in XDR and in text encoding (`nls-ascii.rds`,
/// `glm-inverse.gaussian-ascii.rds`). The closures that name denied functions are listed in
/// signatures/r.toml (`r-known-closure`) and reported at info with the listing as evidence.
#[test]
fn stats_models_written_by_r_are_info() {
    let dir = testdata().join("r/stats");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("r/stats") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        // A self-starting nls keeps an unforced promise (its `initial` call): still high.
        if path.is_dir() || name == "nls-selfstart.rds" {
            continue;
        }
        n += 1;
        let r = scan(&path);
        assert!(
            r.findings.iter().all(|f| f.severity == Severity::Info),
            "{name}: {:#?}",
            r.findings
        );
    }
    assert!(n >= 40, "fixtures in {}: {n}", dir.display());
    for (name, function) in [
        ("nls.rds", "eval"),
        ("nls.rds", "mget"),
        ("glm-inverse.gaussian.rds", "requireNamespace"),
    ] {
        let r = fixture("stats", name);
        assert!(
            r.findings.iter().any(|f| f.code == "r/dangerous-call"
                && f.evidence.get("function").map(String::as_str) == Some(function)
                && f.evidence
                    .get("known-closure")
                    .is_some_and(|k| k.contains("R 4.2.2"))
                && f.message.contains("R's own")),
            "{name}: {:#?}",
            r.findings
        );
    }
}

/// The same objects with one thing changed (testdata/r/stats/variants, written by R): a
/// `system()` call added to the body, a symbol or the formals changed (the digest no longer
/// matches: flagged as today), a formula in the nls model's environment that calls `system`
/// (the known closure evaluates it: the formula is judged on its own), and a known closure
/// whose environment binds the denied name it calls (R would call the file's function, so the
/// listing does not apply).
#[test]
fn changed_stats_closures_are_flagged() {
    for (name, function, sev) in [
        ("simulate-calls-system.rds", "system", Severity::Critical),
        (
            "simulate-calls-system.rds",
            "requireNamespace",
            Severity::High,
        ),
        (
            "simulate-symbol-changed.rds",
            "requireNamespace",
            Severity::High,
        ),
        (
            "simulate-formals-changed.rds",
            "requireNamespace",
            Severity::High,
        ),
        (
            "simulate-environment-binds-requireNamespace.rds",
            "requireNamespace",
            Severity::High,
        ),
        ("nls-form-calls-system.rds", "system", Severity::Critical),
        ("nls-environment-binds-eval.rds", "eval", Severity::High),
    ] {
        let r = fixture("stats/variants", name);
        assert!(
            r.findings.iter().any(|f| f.code == "r/dangerous-call"
                && f.severity == sev
                && f.evidence.get("function").map(String::as_str) == Some(function)
                && !f.evidence.contains_key("known-closure")),
            "{name}: {function} at {sev:?}: {:#?}",
            r.findings
        );
    }
}

/// A closure's digest covers its formals and body wherever it sits in the stream (the same
/// `simulate` closure is written twice in a glm: in the family and in the model's
/// environment), and any change to either changes it.
#[test]
fn closure_digests_are_canonical_and_change_with_the_code() {
    let digests = |path: &std::path::Path| -> Vec<Option<String>> {
        let raw = std::fs::read(path).expect("read");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut bytes)
            .expect("gzip");
        let p = parse(Cursor::new(&bytes), bytes.len() as u64);
        assert_eq!(p.error, None, "{}", path.display());
        p.stream
            .code
            .iter()
            .filter(|c| c.kind == CodeKind::Closure && c.symbols.contains("requireNamespace"))
            .map(|c| c.digest.clone())
            .collect()
    };
    let dir = testdata().join("r/stats");
    let known = digests(&dir.join("glm-inverse.gaussian.rds"));
    assert_eq!(known.len(), 2, "{known:?}");
    assert!(known[0].is_some() && known[0] == known[1], "{known:?}");
    for variant in [
        "simulate-calls-system.rds",
        "simulate-symbol-changed.rds",
        "simulate-formals-changed.rds",
    ] {
        let d = digests(&dir.join("variants").join(variant));
        assert!(
            d.iter().any(|d| d.is_some() && *d != known[0]),
            "{variant}: {d:?}"
        );
    }
}

#[test]
fn streams_r_refuses_are_malformed() {
    for (name, text) in [
        ("truncated-vector.rds", "ends at byte"),
        ("unknown-type.rds", "unknown type 30"),
        ("version-4.rds", "version 4"),
        ("old-workspace.RData", "RDX1"),
        ("persistent-reference.rds", "persistent"),
    ] {
        let r = fixture("malformed", name);
        assert!(
            has(&r, "r/malformed", Severity::Medium, text),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn byte_code_constants_are_read() {
    let bytes = std::fs::read(testdata().join("r/malicious/byte-code-closure.rds")).expect("read");
    let p = parse(Cursor::new(&bytes), bytes.len() as u64);
    assert_eq!(p.error, None);
    let c = p
        .stream
        .code
        .iter()
        .find(|c| c.kind == CodeKind::Closure)
        .expect("closure");
    assert!(c.bytecode, "{c:?}");
    assert!(c.symbols.contains("system"), "{c:?}");
}

/// R's own library (Debian's r-base-core, which tests/setup.sh installs): every `.rds` (package
/// metadata: `Meta/*.rds`) and `.rdx` (lazy-load indexes, gzip-compressed serialized lists) is
/// read by the R scanner and clean. Found through `Rscript` (`.Library`).
#[test]
#[allow(clippy::print_stderr)] // the skip notice is the point
fn real_r_library_scans_clean() {
    let Ok(out) = std::process::Command::new("Rscript")
        .args(["-e", "cat(.Library)"])
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Rscript must be installed in CI (tests/setup.sh)"
        );
        eprintln!("notice: no Rscript; skipping R's own library");
        return;
    };
    let library = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).into_owned());
    let mut files = Vec::new();
    let mut dirs = vec![library.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("R library") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rds" || x == "rdx") {
                files.push(p);
            }
        }
    }
    assert!(
        files.len() >= 100,
        "{}: {} files",
        library.display(),
        files.len()
    );
    for p in &files {
        super::assert_real_clean(p, "r");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_reader_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..512), head in 0usize..4) {
        let prefix: &[u8] = [
            &b"X\n\0\0\0\x03\0\x04\x02\x02\0\x03\x05\0\0\0\0\x05UTF-8"[..],
            b"B\n\x03\0\0\0\x02\x02\x04\0\0\x05\x03\0\x05\0\0\0UTF-8",
            b"A\n3\n263170\n197888\n5\nUTF-8\n",
            b"RDX3\nX\n\0\0\0\x02\0\x04\x02\x02\0\x03\x05\0",
        ][head];
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&tail);
        let _ = parse(Cursor::new(&bytes), bytes.len() as u64);
        scan_quickly("model.rds", bytes);
    }

    #[test]
    fn random_items_after_a_header_scan_quickly(ints in proptest::collection::vec(any::<i32>(), 0..64)) {
        let mut bytes = b"X\n\0\0\0\x02\0\x04\x02\x02\0\x02\x03\0".to_vec();
        for i in ints {
            // Mostly small type codes, so the reader gets past the first item.
            let v = if i % 3 == 0 { i & 0x7ff } else { i };
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        scan_quickly("model.rds", bytes);
    }
}

/// Prints the `r-known-closure` entries of `signatures/r.toml` for the closures that
/// `testdata/generate/r_known_closures.R` saved (one uncompressed `.rds` per closure, listed
/// with its package, R version and description in `index.tsv`): the digest of each closure's
/// formals and body as modelgate's own reader computes it. Only closures whose code names a
/// function the embedded R policy denies are printed (the others are info already), and none
/// that calls compiled code (`r-native-routine` entries judge those, routine by routine); closures
/// with the same digest are printed once, with every description. Not a check: run by hand to
/// regenerate the list for another R version:
/// `Rscript testdata/generate/r_known_closures.R DIR && MODELGATE_R_CLOSURES_DIR=DIR cargo test
/// --test formats r::known_closure_entries -- --ignored --nocapture`.
#[test]
#[ignore = "regenerates signatures/r.toml's r-known-closure entries; run by hand"]
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn known_closure_entries() -> Result<(), Box<dyn std::error::Error>> {
    use modelgate::formats::rds::{parse, CodeKind, NATIVE_INTERFACE, READ_STACK};
    use modelgate::scanners::rds::RPolicy;
    use modelgate::signatures::SignatureDb;
    use std::collections::BTreeMap;
    use std::io::Cursor;
    use std::path::PathBuf;

    let Some(dir) = std::env::var_os("MODELGATE_R_CLOSURES_DIR").map(PathBuf::from) else {
        return Err("set MODELGATE_R_CLOSURES_DIR to the directory the R script wrote".into());
    };
    let policy = RPolicy::new(&SignatureDb::embedded()?);
    // digest -> (package, R version, descriptions, denied names)
    let mut found: BTreeMap<String, (String, String, Vec<String>, Vec<String>)> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("index.tsv"))?.lines() {
        let mut cols = line.splitn(4, '\t');
        let (Some(file), Some(package), Some(version), Some(what)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return Err(format!("bad index line {line:?}").into());
        };
        let bytes = std::fs::read(dir.join(file))?;
        let len = u64::try_from(bytes.len())?;
        let parsed = std::thread::Builder::new()
            .stack_size(READ_STACK)
            .spawn(move || parse(Cursor::new(bytes), len))?
            .join()
            .map_err(|_| "reader thread failed")?;
        if let Some(e) = parsed.error {
            return Err(format!("{file}: {e}").into());
        }
        // The saved closure is the first code object of its stream.
        let top = parsed
            .stream
            .code
            .first()
            .filter(|c| c.kind == CodeKind::Closure)
            .ok_or_else(|| format!("{file}: not a closure"))?;
        let Some(digest) = &top.digest else {
            eprintln!("{file} ({what}): no digest (holds an environment, promise or closure)");
            continue;
        };
        let denied: Vec<String> = top
            .symbols
            .iter()
            .chain(&top.strings)
            .filter(|n| policy.denied(n).is_some())
            .cloned()
            .collect();
        let native = top
            .symbols
            .iter()
            .any(|n| NATIVE_INTERFACE.contains(&n.as_str()));
        if denied.is_empty() || native {
            continue;
        }
        let e = found
            .entry(digest.clone())
            .or_insert_with(|| (package.to_owned(), version.to_owned(), Vec::new(), denied));
        e.2.push(what.to_owned());
    }
    for (digest, (package, version, whats, denied)) in found {
        println!("[[entry]]");
        println!("kind = \"r-known-closure\"");
        println!("module = \"{package}\"");
        println!("name = \"{digest}\"");
        println!("action = \"allow\"");
        println!(
            "reason = \"{package} closure of {} (R {version}; calls {})\"",
            whats.join(", ").replace('\\', "\\\\").replace('"', "\\\""),
            denied.join(", ")
        );
        println!();
    }
    Ok(())
}
