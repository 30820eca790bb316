//! Which Python files are *model-side code*: files that a framework imports by itself when the
//! model is loaded, because a config shipped with the model names them.
//!
//! * Hugging Face `auto_map` / `custom_pipelines` (`config.json`, `tokenizer_config.json`,
//!   processor configs): `module.Class` is `module.py` next to the config, imported with
//!   `trust_remote_code=True`;
//! * sentence-transformers `modules.json`: an entry whose `type` is not a
//!   `sentence_transformers.*` class is resolved by `get_class_from_dynamic_module` from the
//!   model directory whenever the model path exists locally, *without* `trust_remote_code`
//!   (`SentenceTransformer._load_module_class_from_ref`), and falls back to importing any
//!   installed module of that name;
//! * MLflow: `model_code_path` ("models from code") is executed on load, `loader_module` is
//!   imported from the model's `code` directory, and everything under `code/` (or listed in
//!   `code_paths`) is put on `sys.path` before the model's pickle is loaded;
//! * TorchServe `no-archive` model directories (`torch-model-archiver --archive-format
//!   no-archive`): the directory holding `MAR-INF/MANIFEST.json` is the model directory the
//!   worker puts on `sys.path` before importing the handler, so every Python file in it (and in
//!   its packages) is importable model-side code, as inside a `.mar`.
//!
//! Only configs on disk next to the file are consulted (inside archives the relation is not
//! known, and the file keeps the severity of ordinary shipped code).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::path::{Component, Path};

use serde_json::Value;

use super::lenient;

/// Configs larger than this are not consulted.
const MAX_CONFIG: u64 = 8 * 1024 * 1024;

/// Hugging Face configs that may carry `auto_map`.
const HF_CONFIGS: &[&str] = &[
    "config.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
    "video_preprocessor_config.json",
];

fn read_small(p: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(p).ok()?;
    if !meta.is_file() || meta.len() > MAX_CONFIG {
        return None;
    }
    std::fs::read(p).ok()
}

/// `module.Class` (optionally `repo--module.Class`) → `module` as a relative path without `.py`.
pub fn module_of_ref(r: &str) -> Option<String> {
    let local = r.rsplit_once("--").map_or(r, |(_, m)| m);
    let (module, _class) = local.rsplit_once('.')?;
    (!module.is_empty()).then(|| module.replace('.', "/"))
}

/// The custom (non-sentence-transformers) `type` entries of a `modules.json` value.
pub fn custom_module_types(v: &Value) -> Vec<(usize, String)> {
    let Some(items) = v.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let t = lenient::strings_of(m.get("type")?).into_iter().next()?;
            (!t.starts_with("sentence_transformers.")).then_some((i, t))
        })
        .take(64)
        .collect()
}

/// Whether `v` looks like a sentence-transformers `modules.json` (a list of `{type, path}`).
pub fn is_modules_json(v: &Value) -> bool {
    v.as_array().is_some_and(|xs| {
        !xs.is_empty()
            && xs.iter().all(|x| {
                x.get("type").is_some() && (x.get("path").is_some() || x.get("idx").is_some())
            })
    })
}

/// `rel` (a path relative to the model directory, without `.py`) as normalised components.
fn rel_key(p: &Path) -> String {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Why the Python file at `py` is model-side code, or `None`.
pub fn reason(py: &Path) -> Option<String> {
    let dir = py.parent()?;
    let stem_path = py.with_extension("");
    let stem = rel_key(stem_path.strip_prefix(dir).ok()?);
    for cfg in HF_CONFIGS {
        let Some(bytes) = read_small(&dir.join(cfg)) else {
            continue;
        };
        let Ok((v, _)) = lenient::parse_json(&bytes) else {
            continue;
        };
        for (_, key, val) in lenient::find_keys(&v, &["auto_map", "custom_pipelines"]) {
            for r in lenient::strings_of(val) {
                if module_of_ref(&r).as_deref() == Some(stem.as_str()) {
                    return Some(format!("{cfg} {key} names {r}, imported on load"));
                }
            }
        }
    }
    if let Some(bytes) = read_small(&dir.join("modules.json")) {
        if let Ok((v, _)) = lenient::parse_json(&bytes) {
            for (i, t) in custom_module_types(&v) {
                if module_of_ref(&t).as_deref() == Some(stem.as_str()) {
                    return Some(format!(
                        "modules.json entry {i} has type {t}, which sentence-transformers imports from the model directory on load"
                    ));
                }
            }
        }
    }
    // MLflow: the MLmodel is in this directory or up to two levels above (`code/`, `code/pkg/`);
    // TorchServe: `MAR-INF/MANIFEST.json` in this directory or up to two levels above (a
    // package inside the model directory).
    let mut base = Some(dir);
    for up in 0..3 {
        let Some(b) = base else { break };
        if let Some(r) = mlflow_reason(b, py) {
            return Some(r);
        }
        if b.join("MAR-INF").join("MANIFEST.json").is_file() {
            // Relative to the file, so that a report says the same wherever the tree sits.
            return Some(format!(
                "in a TorchServe model directory ({}MAR-INF/MANIFEST.json): the worker puts the directory on its Python path and imports the handler from it when the model is registered",
                "../".repeat(up)
            ));
        }
        base = b.parent();
    }
    None
}

fn mlflow_reason(model_dir: &Path, py: &Path) -> Option<String> {
    let bytes = read_small(&model_dir.join("MLmodel"))?;
    let docs = super::yaml_documents(&bytes).ok();
    let pairs: Vec<(String, String)> = match &docs {
        Some(docs) => docs
            .iter()
            .flat_map(|d| {
                lenient::find_keys(d, lenient::CODE_KEYS)
                    .into_iter()
                    .chain(lenient::find_keys(d, &["code"]))
                    .flat_map(|(_, k, v)| {
                        lenient::strings_of(v)
                            .into_iter()
                            .map(move |s| (k.clone(), s))
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
        None => lenient::raw_key_values(
            &String::from_utf8_lossy(&bytes),
            &["model_code_path", "code_paths", "loader_module", "code"],
        ),
    };
    let rel = py.strip_prefix(model_dir).ok()?;
    let rel_s = rel_key(rel);
    let stem = rel_key(&rel.with_extension(""));
    let file_name = py.file_name()?.to_string_lossy().into_owned();
    for (k, v) in &pairs {
        let v_rel = rel_key(Path::new(v));
        let hit = match k.as_str() {
            "model_code_path" => {
                v_rel == rel_s || v_rel.ends_with(&format!("/{file_name}")) || *v == file_name
            }
            "code_paths" => {
                v_rel == rel_s
                    || rel_s.starts_with(&format!("{v_rel}/"))
                    || Path::new(v)
                        .file_name()
                        .is_some_and(|f| f.to_string_lossy() == file_name)
            }
            "code" => !v_rel.is_empty() && rel_s.starts_with(&format!("{v_rel}/")),
            "loader_module" => {
                let m = v.replace('.', "/");
                stem == m || stem.ends_with(&format!("/{m}"))
            }
            _ => false,
        };
        if hit {
            return Some(format!(
                "the MLflow model's {k} ({v}) makes MLflow import or run this file on load"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(
            module_of_ref("modeling_x.XModel").as_deref(),
            Some("modeling_x")
        );
        assert_eq!(
            module_of_ref("org/repo--pkg.mod.C").as_deref(),
            Some("pkg/mod")
        );
        assert_eq!(module_of_ref("C"), None);
    }

    #[test]
    fn modules_json_types() {
        let v = serde_json::json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "custom_st.Pool"},
            {"idx": 2, "name": "2", "path": "2", "type": ["weird.List"]}
        ]);
        assert!(is_modules_json(&v));
        assert_eq!(
            custom_module_types(&v),
            vec![
                (1, "custom_st.Pool".to_owned()),
                (2, "weird.List".to_owned())
            ]
        );
    }

    #[test]
    fn sibling_configs_make_files_model_side() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path();
        std::fs::write(
            p.join("modules.json"),
            br#"[{"idx":0,"path":"","type":"custom_st.Pool"}]"#,
        )
        .expect("w");
        std::fs::write(
            p.join("config.json"),
            b"\xef\xbb\xbf{\"auto_map\": {\"AutoModel\": \"modeling_x.M\",},}",
        )
        .expect("w");
        std::fs::create_dir_all(p.join("code")).expect("d");
        std::fs::write(p.join("MLmodel"), b"flavors:\n  python_function:\n    loader_module: my_loader\n    code: code\n    model_code_path: model.py\n").expect("w");
        assert!(reason(&p.join("custom_st.py")).is_some_and(|r| r.contains("modules.json")));
        assert!(reason(&p.join("modeling_x.py")).is_some_and(|r| r.contains("auto_map")));
        assert!(reason(&p.join("model.py")).is_some_and(|r| r.contains("model_code_path")));
        assert!(reason(&p.join("code/my_loader.py")).is_some());
        assert!(reason(&p.join("code/helpers.py")).is_some_and(|r| r.contains("code")));
        assert!(reason(&p.join("train.py")).is_none());
    }
}
