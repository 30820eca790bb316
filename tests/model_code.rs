//! Model-side code and the configs that name it, through the real binary: every fixture under
//! testdata/model_code (written by testdata/generate/model_code.py) is scanned with
//! `modelgate scan -f json`, snapshotted, and held to verdict-level assertions: each alias or
//! resolution form reaches its dangerous target, code that runs on load is critical, benign
//! real-world shapes stay below high, odd configs do not hide their code keys.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/model_code")
}

/// `modelgate scan -q -f json <path>`: (exit code, findings with paths relative to the root).
fn scan(p: &Path) -> (i32, Vec<Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["scan", "-q", "-f", "json"])
        .arg(p)
        .output()
        .expect("run modelgate");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report on stdout");
    let base = format!("{}/", root().display());
    let findings = report["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut f| {
            if let Some(s) = f["location"]["path"].as_str() {
                f["location"]["path"] = Value::String(s.replace(&base, ""));
            }
            f
        })
        .collect();
    (out.status.code().unwrap_or(-1), findings)
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(kind))
        .expect("fixture directory (run testdata/generate/model_code.py)")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

const ORDER: [&str; 5] = ["info", "low", "medium", "high", "critical"];

fn rank(sev: &str) -> usize {
    ORDER.iter().position(|s| *s == sev).unwrap_or(0)
}

fn max_rank(fs: &[Value]) -> usize {
    fs.iter()
        .map(|f| rank(f["severity"].as_str().unwrap_or("")))
        .max()
        .unwrap_or(0)
}

/// The findings of `code` whose path ends with `file`.
fn of<'a>(fs: &'a [Value], code: &str, file: &str) -> Vec<&'a Value> {
    fs.iter()
        .filter(|f| {
            f["code"] == code
                && f["location"]["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(file))
        })
        .collect()
}

#[test]
fn snapshots() {
    for kind in ["benign", "malicious"] {
        for p in fixtures(kind) {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let (_, findings) = scan(&p);
            insta::assert_json_snapshot!(format!("model_code__{kind}__{name}"), findings);
        }
    }
}

/// Benign shapes stay below high. Code shipped to run on load (auto_map, MLflow models from
/// code) is medium by design, whatever the code does; everything else passes the default gate.
#[test]
fn benign_fixtures_stay_below_high() {
    for p in fixtures("benign") {
        let (code, fs) = scan(&p);
        assert!(max_rank(&fs) < rank("high"), "{}: {fs:#?}", p.display());
        let by_design = p.ends_with("hf_modeling") || p.ends_with("mlflow_from_code");
        if by_design {
            assert_eq!(max_rank(&fs), rank("medium"), "{}", p.display());
        } else {
            assert_eq!(code, 0, "{}: {fs:#?}", p.display());
        }
        assert!(
            fs.iter().all(|f| f["code"] != "code/dangerous-call"),
            "{}: {fs:#?}",
            p.display()
        );
    }
}

#[test]
fn malicious_fixtures_fail_the_gate() {
    for p in fixtures("malicious") {
        let (code, fs) = scan(&p);
        assert!(max_rank(&fs) >= rank("high"), "{}: {fs:#?}", p.display());
        assert_eq!(code, 1, "{}", p.display());
    }
}

/// Each alias or resolution form, at module level, resolves to its target and is critical.
#[test]
fn every_alias_form_resolves() {
    let (_, fs) = scan(&root().join("malicious/py_forms"));
    for (file, target) in [
        ("import_as.py", "os.system"),
        ("from_import_as.py", "os.system"),
        ("posix_module.py", "os.system"),
        ("nt_module.py", "os.spawnv"),
        ("sys_modules.py", "os.system"),
        ("getattr_builtins.py", "builtins.exec"),
        ("getattr_dunder_import.py", "os.system"),
        ("concat_names.py", "os.system"),
        ("join_reverse.py", "os.system"),
        ("base64_name.py", "os.system"),
        ("importlib_module.py", "subprocess.run"),
        ("spawn_family.py", "os.spawnlp"),
        ("spawn_family.py", "os.execvp"),
        ("spawn_family.py", "os.posix_spawnp"),
        ("subprocess_star.py", "subprocess.check_output"),
        ("pty_spawn.py", "pty.spawn"),
        ("ctypes_libc.py", "ctypes.CDLL"),
        ("cffi_dlopen.py", "cffi.FFI"),
        ("marshal_exec.py", "marshal.loads"),
        ("eval_compile.py", "builtins.eval"),
        ("exec_constant_string.py", "os.system"),
        ("default_arg.py", "os.system"),
        ("builtins_dict.py", "builtins.eval"),
    ] {
        let hit = of(&fs, "code/dangerous-call", &format!("/{file}"))
            .into_iter()
            .find(|f| f["evidence"]["pattern"] == target);
        let hit = hit.unwrap_or_else(|| panic!("{file}: no {target} in {fs:#?}"));
        assert_eq!(hit["severity"], "critical", "{file}: {hit:#?}");
        assert_eq!(hit["evidence"]["context"], "module level (runs on import)");
    }
    for (file, target, sev) in [
        ("pickle_loads.py", "pickle.loads", "medium"),
        ("requests_download.py", "requests.get", "medium"),
        ("socket_download.py", "urllib.request.urlretrieve", "medium"),
        ("rmtree.py", "shutil.rmtree", "medium"),
        (
            "write_outside.py",
            "open(\"/etc/cron.d/job\", \"w\")",
            "high",
        ),
    ] {
        let hit = of(&fs, "code/dangerous-call", &format!("/{file}"))
            .into_iter()
            .find(|f| f["evidence"]["pattern"] == target)
            .unwrap_or_else(|| panic!("{file}: no {target}"));
        assert_eq!(hit["severity"], sev, "{file}");
    }
}

/// Code that a config names is model-side: critical even in a helper function, with the reason.
#[test]
fn model_side_code_is_escalated() {
    let (_, fs) = scan(&root().join("malicious/hf_auto_map_helper"));
    let hit = of(&fs, "code/dangerous-call", "modeling_h.py");
    let hit = hit.first().expect("os.popen in a helper");
    assert_eq!(hit["severity"], "critical");
    assert!(hit["evidence"]["model-side"]
        .as_str()
        .is_some_and(|r| r.contains("auto_map")));

    let (_, fs) = scan(&root().join("malicious/st_custom_module"));
    let hit = of(&fs, "code/dangerous-call", "custom_st.py");
    let hit = hit.first().expect("os.system in custom_st.py");
    assert_eq!(hit["severity"], "critical");
    assert!(hit["evidence"]["model-side"]
        .as_str()
        .is_some_and(|r| r.contains("modules.json")));

    let (_, fs) = scan(&root().join("malicious/mlflow_from_code"));
    let hit = of(&fs, "code/dangerous-call", "model.py");
    assert_eq!(
        hit.first().expect("subprocess in load_context")["severity"],
        "critical"
    );
    assert!(!of(&fs, "code/mlflow-loader", "MLmodel").is_empty());

    // Only under `if __name__ == "__main__":` and in no config: high, not critical.
    let (_, fs) = scan(&root().join("malicious/script_main_guard"));
    let hit = of(&fs, "code/dangerous-call", "convert.py");
    assert_eq!(hit.first().expect("subprocess.run")["severity"], "high");
}

/// Configs that a strict parser rejects still have their code keys checked.
#[test]
fn odd_configs_do_not_hide_code_keys() {
    let (_, fs) = scan(&root().join("malicious/lenient_json_target"));
    assert!(of(&fs, "code/hydra-target", "config.json")
        .iter()
        .any(|f| f["global"]["module"] == "subprocess"));
    let (_, fs) = scan(&root().join("malicious/broken_json_target"));
    assert!(!of(&fs, "code/malformed-config", "config.json").is_empty());
    assert!(of(&fs, "code/hydra-target", "config.json")
        .iter()
        .any(|f| f["global"]["module"] == "os"));
    let (_, fs) = scan(&root().join("malicious/json_duplicate_target"));
    assert!(of(&fs, "code/malformed-config", "config.json")
        .iter()
        .any(|f| f["evidence"]["reason"] == "duplicate keys"));
    assert!(of(&fs, "code/hydra-target", "config.json")
        .iter()
        .any(|f| f["global"]["module"] == "os"));
    let (_, fs) = scan(&root().join("malicious/hydra_odd_types"));
    for m in ["os", "builtins"] {
        assert!(
            of(&fs, "code/hydra-target", "model_config.yaml")
                .iter()
                .any(|f| f["global"]["module"] == m),
            "{m}"
        );
    }
    let (_, fs) = scan(&root().join("malicious/mlflow_dup_keys"));
    assert_eq!(
        of(&fs, "code/malformed-config", "MLmodel")
            .first()
            .expect("dup")["severity"],
        "medium"
    );
    assert!(of(&fs, "code/mlflow-loader", "MLmodel")
        .iter()
        .any(|f| f["message"]
            .as_str()
            .is_some_and(|m| m.contains("evil_loader"))));
}

/// A Python file that does not parse is medium by itself and still token-scanned; a hiding
/// source encoding is decoded and reported.
#[test]
fn unparsable_and_encoded_python() {
    let (_, fs) = scan(&root().join("malicious/py_unparsable"));
    assert_eq!(
        of(&fs, "code/unparsable-python", "modeling_broken.py")
            .first()
            .expect("u")["severity"],
        "medium"
    );
    assert!(of(&fs, "code/dangerous-call", "modeling_broken.py")
        .iter()
        .any(|f| f["evidence"]["pattern"] == "os.system" && f["severity"] == "high"));
    let (_, fs) = scan(&root().join("malicious/py_utf7"));
    assert!(!of(&fs, "code/source-encoding", "modeling_utf7.py").is_empty());
    assert!(of(&fs, "code/dangerous-call", "modeling_utf7.py")
        .iter()
        .any(|f| f["evidence"]["pattern"] == "os.system" && f["severity"] == "critical"));
}

/// Keras configs that point layers or keras_hub tokenizers at host paths or URLs.
#[test]
fn keras_external_resources() {
    for (file, resource) in [
        ("keras_textvec_url.keras", "file:///etc/passwd"),
        ("keras_hub_tokenizer_proto.keras", "/etc/passwd"),
        ("keras_hub_bpe_paths.keras", "../../home/user/.ssh/id_rsa"),
        (
            "keras_hub_bpe_paths.keras",
            "https://example.invalid/merges.txt",
        ),
        ("keras_custom_layer_path.keras", "~/.aws/credentials"),
    ] {
        let (_, fs) = scan(&root().join("malicious").join(file));
        assert!(
            of(&fs, "keras/external-resource", file)
                .iter()
                .any(|f| f["evidence"]["resource"] == resource && f["severity"] == "high"),
            "{file}: {resource}: {fs:#?}"
        );
    }
    let (_, fs) = scan(&root().join("benign/keras_inline_vocab.keras"));
    assert!(of(&fs, "keras/external-resource", "keras_inline_vocab.keras").is_empty());
}

/// The `modules.json` entry itself is flagged: JSON arrays are routed to the config scanner.
#[test]
fn modules_json_custom_entries() {
    let (_, fs) = scan(&root().join("malicious/st_custom_module"));
    let entries = of(&fs, "code/custom-module", "modules.json");
    assert!(entries
        .iter()
        .any(|f| f["evidence"]["type"] == "custom_st.CustomPool" && f["severity"] == "medium"));
    assert!(entries.iter().any(|f| f["evidence"]["type"]
        == "joblib.numpy_pickle.NumpyArrayWrapper"
        && f["severity"] == "high"));
    let (_, fs) = scan(&root().join("benign/st_model"));
    assert!(of(&fs, "code/custom-module", "modules.json").is_empty());
}

/// The loader as oracle: every Python fixture is run by CPython (tests/oracle/model_code_canary.py)
/// with canaries in place of the dangerous callables. Whatever a canary records as reached at
/// import time, modelgate must report under that name (critical for process and code execution,
/// at least medium otherwise); files where no canary is reached and that are benign must stay
/// below high.
#[test]
fn canary_oracle_agrees() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let files: Vec<PathBuf> = walk_py(&root());
    let out = Command::new(venv.join("bin/python"))
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/model_code_canary.py"))
        .args(&files)
        .output()
        .expect("run the oracle");
    let reached: serde_json::Map<String, Value> =
        serde_json::from_slice(&out.stdout).expect("oracle JSON");
    let mut confirmed = 0usize;
    for f in &files {
        let key = f.to_string_lossy().into_owned();
        let (_, fs) = scan(f);
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        let calls = of(&fs, "code/dangerous-call", &format!("/{name}"));
        match reached.get(&key).and_then(Value::as_str) {
            Some(target) => {
                confirmed += 1;
                let hit = calls
                    .iter()
                    .find(|c| c["evidence"]["pattern"] == target)
                    .unwrap_or_else(|| {
                        panic!("{key}: CPython reached {target}, modelgate: {fs:#?}")
                    });
                let exec_class = [
                    "os.",
                    "subprocess.",
                    "builtins.",
                    "ctypes.",
                    "cffi.",
                    "pty.",
                    "marshal.",
                ]
                .iter()
                .any(|p| target.starts_with(p));
                let want = if exec_class {
                    rank("critical")
                } else {
                    rank("medium")
                };
                assert!(
                    rank(hit["severity"].as_str().unwrap_or("")) >= want,
                    "{key}: {target}: {hit:#?}"
                );
            }
            None if key.contains("/benign/") => {
                assert!(max_rank(&fs) < rank("high"), "{key}: {fs:#?}");
            }
            None => {}
        }
    }
    assert!(
        confirmed >= 25,
        "only {confirmed} variants confirmed by CPython"
    );
}

fn walk_py(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "py") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
