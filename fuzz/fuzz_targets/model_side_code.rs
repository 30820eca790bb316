//! Code that travels with models: Python files, JSON configs, YAML/Hydra configs, MLmodel and
//! requirements files.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static ENGINE: OnceLock<modelgate::Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let e = ENGINE.get_or_init(|| modelgate::Engine::with_defaults().expect("engine"));
    for name in ["modeling.py", "tokenizer_config.json", "model_config.yaml", "MLmodel", "requirements.txt"] {
        let _ = e.scan_bytes(name, data.to_vec());
    }
});
