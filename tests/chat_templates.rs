//! Chat templates that travel in Hugging Face model directories (`tokenizer_config.json`'s
//! `chat_template`, standalone `chat_template.jinja`) go through the same SSTI linter as GGUF
//! metadata: the real benign corpus stays quiet, every malicious variant is caught.

mod common;

use std::path::PathBuf;

fn engine() -> &'static modelgate::Engine {
    static E: std::sync::OnceLock<modelgate::Engine> = std::sync::OnceLock::new();
    E.get_or_init(|| modelgate::Engine::with_defaults().expect("engine"))
}

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = common::testdata("gguf/templates").join(kind);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "jinja" || e == "j2" || e == "txt")
        })
        .collect();
    v.sort();
    assert!(v.len() >= 10, "{kind} corpus too small: {}", v.len());
    v
}

fn scan_both_ways(template: &str) -> (modelgate::Report, modelgate::Report) {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("tokenizer_config.json");
    std::fs::write(
        &cfg,
        serde_json::json!({ "chat_template": template, "eos_token": "</s>" }).to_string(),
    )
    .expect("write");
    let jinja = dir.path().join("chat_template.jinja");
    std::fs::write(&jinja, template).expect("write");
    (
        engine().scan_paths(&[cfg]).expect("scan"),
        engine().scan_paths(&[jinja]).expect("scan"),
    )
}

#[test]
fn benign_chat_templates_are_clean_in_model_directories() {
    for p in corpus("benign") {
        let t = std::fs::read_to_string(&p).expect("read");
        let (cfg, jinja) = scan_both_ways(&t);
        for r in [&cfg, &jinja] {
            let worst = r.findings.iter().map(|f| f.severity).max();
            assert!(
                worst <= Some(modelgate::Severity::Info),
                "{}: {:#?}",
                p.display(),
                r.findings
            );
            assert_eq!(r.summary.scanned, 1);
        }
    }
}

#[test]
fn malicious_chat_templates_are_caught_in_model_directories() {
    for p in corpus("malicious") {
        let t = std::fs::read_to_string(&p).expect("read");
        let (cfg, jinja) = scan_both_ways(&t);
        for r in [&cfg, &jinja] {
            assert!(
                r.findings
                    .iter()
                    .any(|f| f.code.starts_with("template/")
                        && f.severity >= modelgate::Severity::High),
                "{} not caught: {:#?}",
                p.display(),
                r.findings
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Every named template, through the real binary: GGUF `tokenizer.chat_template.<name>`,
// tokenizer_config.json lists and objects, chat_template.json, standalone .jinja files.

/// A minimal GGUF v3 file with no tensors and the given string metadata.
fn gguf(kvs: &[(&str, &str)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((kvs.len() as u64 + 1).to_le_bytes());
    let mut kv = |k: &str, v: &str| {
        b.extend((k.len() as u64).to_le_bytes());
        b.extend(k.as_bytes());
        b.extend(8u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        b.extend(v.as_bytes());
    };
    kv("general.architecture", "llama");
    for (k, v) in kvs {
        kv(k, v);
    }
    b
}

/// Every container a chat template travels in, with `payload` as a named (non-default) template
/// next to a benign default, and once as the default. Returns (label, file name, bytes).
fn containers(benign: &str, payload: &str) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let json = |v: serde_json::Value| v.to_string().into_bytes();
    vec![
        (
            "gguf default",
            "model.gguf",
            gguf(&[("tokenizer.chat_template", payload)]),
        ),
        (
            "gguf named",
            "model.gguf",
            gguf(&[
                ("tokenizer.chat_template", benign),
                ("tokenizer.chat_template.tool_use", payload),
            ]),
        ),
        (
            "tokenizer_config list",
            "tokenizer_config.json",
            json(serde_json::json!({"chat_template": [
                {"name": "default", "template": benign},
                {"name": "tool_use", "template": payload},
            ]})),
        ),
        (
            "tokenizer_config object",
            "tokenizer_config.json",
            json(serde_json::json!({"chat_template": {"default": benign, "rag": payload}})),
        ),
        (
            "chat_template.json",
            "chat_template.json",
            json(serde_json::json!({ "chat_template": payload })),
        ),
        (
            "chat_template.jinja",
            "chat_template.jinja",
            payload.as_bytes().to_vec(),
        ),
        (
            "additional template",
            "tool_use.jinja",
            payload.as_bytes().to_vec(),
        ),
    ]
}

/// Runs `modelgate scan -f json` on one file; returns the exit code and (severity, code) pairs.
fn scan_bin(name: &str, bytes: &[u8]) -> (i32, Vec<(String, String, String)>) {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).expect("write");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .args(["scan", "-f", "json"])
        .arg(&p)
        .output()
        .expect("run modelgate");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let findings = v["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    (
                        f["severity"].as_str().unwrap_or_default().to_owned(),
                        f["code"].as_str().unwrap_or_default().to_owned(),
                        f["message"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (out.status.code().unwrap_or(-1), findings)
}

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).expect("read")
}

fn computed_fixtures() -> Vec<PathBuf> {
    let v: Vec<PathBuf> = corpus("malicious")
        .into_iter()
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().contains("computed") || n.to_string_lossy().contains("deep")
            })
        })
        .collect();
    assert!(v.len() >= 20, "computed-key fixtures missing: {}", v.len());
    v
}

#[test]
fn computed_attribute_names_are_caught_in_every_container() {
    let benign = read(&common::testdata("gguf/templates/benign/chatml.jinja"));
    for p in computed_fixtures() {
        let payload = read(&p);
        for (label, name, bytes) in containers(&benign, &payload) {
            let (code, findings) = scan_bin(name, &bytes);
            assert_eq!(code, 1, "{} in {label}: {findings:#?}", p.display());
            assert!(
                findings.iter().any(|(sev, c, _)| c.starts_with("template/")
                    && (sev == "high" || sev == "critical")),
                "{} in {label} not caught: {findings:#?}",
                p.display()
            );
        }
    }
}

#[test]
fn benign_and_deep_templates_pass_in_every_container() {
    let chatml = read(&common::testdata("gguf/templates/benign/chatml.jinja"));
    let mut all = corpus("benign");
    let deep_dir = common::testdata("gguf/templates/deep");
    let mut deep: Vec<PathBuf> = std::fs::read_dir(&deep_dir)
        .expect("deep dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jinja"))
        .collect();
    deep.sort();
    assert!(deep.len() >= 4);
    all.extend(deep);
    for p in all {
        let t = read(&p);
        for (label, name, bytes) in containers(&chatml, &t) {
            let (code, findings) = scan_bin(name, &bytes);
            assert!(
                findings.iter().all(|(sev, _, _)| sev == "info"),
                "{} in {label}: {findings:#?}",
                p.display()
            );
            assert_eq!(code, 0, "{} in {label}: {findings:#?}", p.display());
        }
    }
    // The template the parser cannot take whole still gets a clear verdict.
    let deep = read(&deep_dir.join("nested-ifs-160.jinja"));
    let (_, findings) = scan_bin("chat_template.jinja", deep.as_bytes());
    assert!(
        findings
            .iter()
            .any(|(sev, c, _)| sev == "info" && c == "template/too-deep"),
        "{findings:#?}"
    );
}

/// Templates Python Jinja2 itself refuses to compile (too many nested blocks): kept as linter
/// fixtures, not renderable by the oracle.
const BEYOND_JINJA2: &[&str] = &["nested-ifs-160.jinja"];

/// The loader as oracle: the real Python Jinja2 (non-sandboxed) renders each computed-key
/// fixture's twin (a canary `messages` whose dangerous callables only record the call) and
/// must reach a dunder or a dangerous callable, and renders every benign template.
#[test]
fn jinja2_oracle_confirms_the_reach() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let py = venv.join("bin/python");
    let has_jinja = std::process::Command::new(&py)
        .args(["-c", "import jinja2"])
        .status()
        .is_ok_and(|s| s.success());
    if !common::require(
        has_jinja,
        "jinja2 in the test venv (tests/requirements.txt)",
    ) {
        return;
    }
    let t = common::testdata("gguf/templates");
    let out = std::process::Command::new(&py)
        .arg(common::root().join("tests/templates/oracle.py"))
        .arg(t.join("malicious"))
        .arg("computed")
        .arg(t.join("benign"))
        .arg(t.join("deep"))
        .output()
        .expect("run oracle");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("oracle json");
    let twins = v["twins"].as_object().expect("twins");
    assert!(twins.len() >= 20, "{}", twins.len());
    for (name, r) in twins {
        let reached = r["reached"].as_array().expect("reached");
        assert!(
            !reached.is_empty(),
            "{name}: Jinja2 did not reach anything: {r}"
        );
        // What the loader reached, the linter reports at high or critical.
        let src = read(&t.join("malicious").join(name));
        let (code, findings) = scan_bin("chat_template.jinja", src.as_bytes());
        assert_eq!(code, 1, "{name}: {findings:#?}");
    }
    for (name, r) in v["benign"].as_object().expect("benign") {
        let rendered = r["rendered"].as_bool() == Some(true);
        assert_eq!(
            rendered,
            !BEYOND_JINJA2.contains(&name.as_str()),
            "{name}: {r}"
        );
    }
}

/// Special tokens travel in the same tokenizer_config.json as the template and are passed to it
/// by `apply_chat_template`: a key built from them is as static as a literal.
#[test]
fn keys_built_from_special_tokens_are_folded() {
    let cfg = serde_json::json!({
        "eos_token": {"content": "__cla", "lstrip": false},
        "bos_token": "ss__",
        "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}{{ messages[eos_token ~ bos_token] }}",
    });
    let (code, findings) = scan_bin("tokenizer_config.json", cfg.to_string().as_bytes());
    assert_eq!(code, 1, "{findings:#?}");
    assert!(
        findings
            .iter()
            .any(|(sev, c, _)| sev == "critical" && c == "template/code-execution"),
        "{findings:#?}"
    );
    // The same template with ordinary tokens is clean.
    let cfg = serde_json::json!({
        "eos_token": "</s>",
        "bos_token": "<s>",
        "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['content'] ~ eos_token }}{% endfor %}",
    });
    let (code, findings) = scan_bin("tokenizer_config.json", cfg.to_string().as_bytes());
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
}
