//! Fuzzes the tarfile-faithful header walk (`walk::tarfile::members`) and the tar header check
//! used by sniffing: no panic, no unbounded work, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = modelgate::sniff::tar_header_ok(data);
    let content = modelgate::Content::from_vec(data.to_vec());
    let _ = modelgate::walk::tarfile::members(&content, 10_000);
});
