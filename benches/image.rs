//! Criterion benchmarks for image layers and package names: layer ingestion (digest, gzip,
//! diff_id, spool) plus the whiteout/view pass, and typosquat comparison.
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use modelgate::finding::Location;
use modelgate::image::layer;
use modelgate::packages::{names, FsView};

fn layer_bytes() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut seed: u32 = 7;
    for i in 0..256 {
        let data: Vec<u8> = (0..32 * 1024)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"abcdefghij klmnop\n"[(seed >> 16) as usize % 18]
            })
            .collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("usr/share/f{i}.txt"), &data[..])
            .expect("append");
    }
    let raw = b.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gz");
    gz.finish().expect("gz")
}

fn bench_layer(c: &mut Criterion) {
    let blob = layer_bytes();
    let mut g = c.benchmark_group("image-layer");
    g.throughput(Throughput::Bytes(8 * 1024 * 1024));
    g.sample_size(10);
    g.bench_function("ingest+view 8MiB gzip", |b| {
        b.iter(|| {
            let ing = layer::ingest(&mut &blob[..], "sha256", Some(blob.len() as u64), u64::MAX)
                .expect("ingest");
            let mut view = FsView::default();
            layer::apply_to_view(ing.file.as_file(), &Location::file("b"), &mut view)
                .expect("view");
            view.files.len()
        });
    });
    g.finish();
}

fn bench_names(c: &mut Criterion) {
    let vetted: Vec<String> = (0..2000).map(|i| format!("package-number-{i}")).collect();
    c.bench_function("lookalike vs 2000 names", |b| {
        b.iter(|| {
            vetted
                .iter()
                .filter(|v| names::confusable("reqeusts", v).is_some())
                .count()
        });
    });
}

criterion_group!(benches, bench_layer, bench_names);
criterion_main!(benches);
