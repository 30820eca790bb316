//! Manifests, indexes, configs and legacy docker-save manifest.json.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = modelgate::image::model::parse_manifest(data);
    let _ = modelgate::image::model::parse_config(data);
    let _ = modelgate::image::source::parse_legacy_manifest(data);
});
