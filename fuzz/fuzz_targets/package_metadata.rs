//! Installed-package metadata, lockfiles, index pages and names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelgate::packages::{allowlist, lockfiles, metadata, names};

fuzz_target!(|data: &[u8]| {
    let _ = metadata::parse_core_metadata(data);
    let _ = metadata::parse_record(data);
    let _ = metadata::parse_direct_url(data);
    let _ = metadata::parse_conda_meta(data);
    let s = String::from_utf8_lossy(data);
    let _ = metadata::parse_dist_filename(&s);
    let _ = allowlist::anchors(&s);
    let _ = lockfiles::parse_requirements(&s);
    let _ = lockfiles::parse_pylock(&s);
    let _ = lockfiles::parse_uv_lock(&s);
    let n = names::normalize(&s);
    let _ = names::confusable(&n, "requests");
});
