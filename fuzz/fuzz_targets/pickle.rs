//! Fuzzes the pickle opcode reader and the scanning walker (including joblib skips and nested
//! blob extraction): no input may panic, hang or allocate without bound.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::pickle::{analyse_stream, Policy, Reader, WalkLimits};

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        Policy::compile(&modelgate::SignatureDb::embedded().expect("signatures")).expect("policy")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    while let Ok(Some(_)) = r.next_op() {}
    let limits = WalkLimits {
        max_ops: 1_000_000,
        ..WalkLimits::default()
    };
    let _ = analyse_stream(data, policy(), limits);
});
