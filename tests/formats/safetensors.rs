//! safetensors: header JSON, offsets and dtypes, read as the safetensors crate and Python's
//! loader read them (testdata/safetensors, written by testdata/generate/safetensors_gguf_onnx.py).

use proptest::prelude::*;

use super::{check_area, default_bound, engine, real_models, scan_quickly};

#[test]
fn fixtures() {
    check_area("safetensors", default_bound);
}

/// silero-vad's safetensors files (tests/real_models/fetch_formats_a.sh) scan clean.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = real_models() else { return };
    super::assert_real_clean_dir(&dir.join("silero-vad"), "safetensors", 1);
}

/// A valid safetensors file whose tensor data is 1 GiB scans from its header alone.
#[test]
fn large_sparse_file_scans_from_its_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = dir.path().join("big.safetensors");
    let header = format!(
        "{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[0,{}]}}}}",
        1u64 << 28,
        1u64 << 30
    );
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    let f = std::fs::File::create(&st).expect("create");
    std::io::Write::write_all(&mut &f, &b).expect("write");
    f.set_len(b.len() as u64 + (1u64 << 30)).expect("set_len");
    let rep = engine().scan_paths(&[st]).expect("scan");
    assert!(rep.findings.is_empty(), "{:#?}", rep.findings);
    assert_eq!(rep.summary.scanned, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics(n in 0u64..600, header in "\\{[ -~]{0,300}", tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut b = n.to_le_bytes().to_vec();
        b.extend(header.as_bytes());
        b.extend(tail);
        scan_quickly("f.safetensors", b);
    }
}
