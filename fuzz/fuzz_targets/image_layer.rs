//! A layer blob: compression sniffing, decompression, tar header walk and whiteout application.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelgate::image::layer;

fuzz_target!(|data: &[u8]| {
    let Ok(ing) = layer::ingest(&mut &data[..], "sha256", Some(data.len() as u64), 64 << 20) else {
        return;
    };
    let mut view = modelgate::packages::FsView::default();
    let _ = layer::apply_to_view(
        ing.file.as_file(),
        &modelgate::finding::Location::file("fuzz"),
        &mut view,
    );
});
