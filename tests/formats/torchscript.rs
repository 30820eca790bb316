//! TorchScript archives: the `code/` sources the TorchScript compiler runs, file-mapping and
//! custom ops, weights disguised as TorchScript (testdata/torchscript, written by
//! testdata/generate/keras_hdf5_tf_torchscript.py). Pickle-based PyTorch checkpoints are in tests/pickle.rs.

use modelgate::scanners::code::pytokens;
use proptest::prelude::*;

use super::{check_area, default_bound, scan_quickly, stored_zip};

#[test]
fn fixtures() {
    check_area("torchscript", default_bound);
}

/// silero-vad's TorchScript model (tests/real_models/fetch_formats_b.sh) passes the default gate.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = super::real_models() else {
        return;
    };
    super::assert_real_clean(
        &dir.join("silero-vad/silero_vad/data/silero_vad.jit"),
        "torchscript",
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn python_tokenizer_never_panics(text in "\\PC{0,400}") {
        let code = pytokens::code_only(&text);
        prop_assert_eq!(code.lines().count() <= text.lines().count() + 1, true);
        let _ = pytokens::find_token(&code, "eval(", true);
    }

    #[test]
    fn code_never_panics(code in "\\PC{0,400}") {
        let zip = stored_zip(&[
            ("archive/constants.pkl", b"\x80\x02)."),
            ("archive/data.pkl", b"\x80\x02)."),
            ("archive/code/__torch__.py", code.as_bytes()),
        ]);
        scan_quickly("model.jit", zip);
    }
}
