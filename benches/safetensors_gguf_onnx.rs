//! Benchmarks for the safetensors, GGUF, ONNX, TFLite, ORT, TorchServe, NeMo, skops, R, Paddle,
//! Torch7, executable, XGBoost, LightGBM, CatBoost, Flax, MXNet, PMML, OpenVINO IR, TensorRT,
//! Core ML and ExecuTorch scanners and the chat-template linter:
//! per-format throughput on the committed fixtures, and 1 GB sparse safetensors / GGUF files that
//! must scan from their headers in milliseconds.
//!
//! `CARGO_TARGET_DIR=… cargo bench --bench safetensors_gguf_onnx`
use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use modelgate::Engine;

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn bench_formats(c: &mut Criterion) {
    let engine = Engine::with_defaults().expect("engine");
    let mut g = c.benchmark_group("safetensors_gguf_onnx");
    for (name, rel) in [
        (
            "safetensors",
            "safetensors/benign/numpy-mixed-dtypes.safetensors",
        ),
        ("gguf", "gguf/benign/tiny-llama-3.1-tools.gguf"),
        ("onnx", "onnx/benign/if-subgraph.onnx"),
        ("tflite", "tflite/benign/with-associated-files.tflite"),
        ("ort", "ort/benign/mlp.ort"),
        ("torchserve", "torchserve/benign/custom-handler.mar"),
        ("rar", "rar/benign/rars-v5-stored.rar"),
        ("nemo", "nemo/benign/asr-ctc-bpe.nemo"),
        ("skops", "skops/benign/random-forest.skops"),
        ("r", "r/benign/glm-binomial.rds"),
        ("paddle", "paddle/benign/inference.pdmodel"),
        ("torch7", "torch7/benign/sequential-ascii.t7"),
        ("executable", "executable/malicious/gemma.llamafile"),
        ("xgboost", "xgboost/benign/model.ubj"),
        ("lightgbm", "lightgbm/benign/model.txt"),
        ("catboost", "catboost/benign/categorical.cbm"),
        ("flax", "flax/benign/flax_model.msgpack"),
        ("mxnet", "mxnet/benign/net-0000.params"),
        ("pmml", "pmml/benign/decision-tree-nyoka.pmml"),
        ("openvino", "openvino/benign/mlp/model.xml"),
        ("tensorrt", "tensorrt/benign/ultralytics-yolo.engine"),
        ("coreml", "coreml/malicious/custom-layer-in-branch.mlmodel"),
        ("executorch", "executorch/benign/xnnpack-delegate.pte"),
    ] {
        let bytes = fixture(rel);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| engine.scan_bytes(black_box(rel), bytes.clone()));
        });
    }
    let tpl =
        String::from_utf8(fixture("gguf/templates/benign/llama-3.1-tools.jinja")).expect("utf8");
    g.throughput(Throughput::Bytes(tpl.len() as u64));
    g.bench_function("chat_template_lint", |b| {
        b.iter(|| modelgate::scanners::template::lint(black_box(&tpl)));
    });
    g.finish();
}

/// Writes a 1 GB sparse GGUF and safetensors file (header + `set_len`).
fn sparse_files(dir: &Path) -> (PathBuf, PathBuf) {
    const GB: u64 = 1 << 30;
    let gguf = dir.join("big.gguf");
    let mut h = b"GGUF".to_vec();
    h.extend(3u32.to_le_bytes());
    h.extend(1u64.to_le_bytes());
    h.extend(1u64.to_le_bytes());
    let key = b"tokenizer.chat_template";
    h.extend((key.len() as u64).to_le_bytes());
    h.extend(key);
    h.extend(8u32.to_le_bytes());
    let tpl = fixture("gguf/templates/benign/llama-3.1-tools.jinja");
    h.extend((tpl.len() as u64).to_le_bytes());
    h.extend(&tpl);
    h.extend(1u64.to_le_bytes());
    h.push(b'w');
    h.extend(1u32.to_le_bytes());
    h.extend((GB / 4).to_le_bytes());
    h.extend(0u32.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    while !h.len().is_multiple_of(32) {
        h.push(0);
    }
    let f = std::fs::File::create(&gguf).expect("create");
    std::io::Write::write_all(&mut &f, &h).expect("write");
    f.set_len(h.len() as u64 + GB).expect("set_len");

    let st = dir.join("big.safetensors");
    let header = format!(
        "{{\"__metadata__\":{{\"format\":\"pt\"}},\"w\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[0,{GB}]}}}}",
        GB / 4
    );
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    let f = std::fs::File::create(&st).expect("create");
    std::io::Write::write_all(&mut &f, &b).expect("write");
    f.set_len(b.len() as u64 + GB).expect("set_len");
    (gguf, st)
}

fn bench_large(c: &mut Criterion) {
    let engine = Engine::with_defaults().expect("engine");
    let dir = tempfile::tempdir().expect("tempdir");
    let (gguf, st) = sparse_files(dir.path());
    let mut g = c.benchmark_group("safetensors_gguf_onnx_1gb");
    g.sample_size(20);
    for (name, p) in [("gguf_1gb", gguf), ("safetensors_1gb", st)] {
        let rep = engine.scan_paths(std::slice::from_ref(&p)).expect("scan");
        assert!(rep.findings.is_empty(), "{name}: {:?}", rep.findings);
        g.bench_function(name, |b| {
            b.iter(|| {
                engine
                    .scan_paths(std::slice::from_ref(black_box(&p)))
                    .expect("scan")
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_formats, bench_large);
criterion_main!(benches);
