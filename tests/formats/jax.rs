//! JAX/Flax checkpoints written with `pickle` (testdata/jax, written by testdata/generate/jax.py):
//! a pytree of `jax.Array`s pickles each array as `jax._src.array._reconstruct_array(fun, args,
//! arr_state, aval_state)`. The reconstructor is allowed (it calls `fun`, which the pickle imports
//! and the policy checks on its own), so Flax params and optax states scan clean, while a `fun`
//! or argument that runs code is still caught.

use modelgate::Severity;

use super::{check_area, default_bound, scan, testdata};

#[test]
fn jax_fixtures() {
    check_area("jax", default_bound);
}

#[test]
fn flax_params_are_clean_and_payloads_are_not() {
    for name in [
        "flax-params.pkl",
        "flax-params-protocol2.pkl",
        "optax-state.pkl",
    ] {
        let r = scan(&testdata().join("jax/benign").join(name));
        assert!(
            r.findings.iter().all(|f| f.severity <= Severity::Info),
            "{name}: {:#?}",
            r.findings
        );
    }
    let r = scan(&testdata().join("jax/malicious/reconstruct-calls-system.pkl"));
    assert!(
        r.findings.iter().any(|f| f.severity == Severity::Critical
            && f.global.as_ref().is_some_and(|g| g.name == "system")),
        "{:#?}",
        r.findings
    );
}
