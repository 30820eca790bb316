//! The symbolic pickle VM (conversion) on arbitrary bytes: never panics, hangs or allocates
//! unboundedly; with joblib semantics on, so inline arrays and nested pickles are exercised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelgate::pickle::vm::{run_bytes, VmLimits, VmOptions};

fuzz_target!(|data: &[u8]| {
    let opts = VmOptions {
        limits: VmLimits {
            max_input: data.len() as u64,
            max_ops: 1_000_000,
            max_nodes: 1_000_000,
            ..VmLimits::default()
        },
        joblib: true,
    };
    let _ = run_bytes(data, opts);
});
