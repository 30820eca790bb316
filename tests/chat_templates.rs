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
