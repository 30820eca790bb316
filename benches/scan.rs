//! Criterion benchmarks for the engine and the archive walker (pickle, format and signing benches
//! live in their own files). Peer comparisons are in benches/compare_peers.sh.
use std::io::Write;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench_sniff(c: &mut Criterion) {
    let head = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00";
    c.bench_function("sniff", |b| {
        b.iter(|| modelgate::sniff::sniff(head, "x.pkl"));
    });
}

/// A torch-style zip with `n` stored storages of `size` bytes each.
fn torch_zip(n: usize, size: usize) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("archive/data.pkl", opts).expect("zip");
    z.write_all(b"\x80\x02}q\x00.").expect("zip");
    let blob = vec![0u8; size];
    for i in 0..n {
        z.start_file(format!("archive/data/{i}"), opts)
            .expect("zip");
        z.write_all(&blob).expect("zip");
    }
    z.finish().expect("zip").into_inner()
}

fn bench_walker(c: &mut Criterion) {
    let engine = modelgate::Engine::with_defaults().expect("engine");
    let mut g = c.benchmark_group("torch_zip");
    for (n, size) in [(16usize, 1usize << 10), (256, 1 << 10), (16, 1 << 20)] {
        let z = torch_zip(n, size);
        g.throughput(Throughput::Bytes(z.len() as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{n}x{size}")),
            &z,
            |b, z| {
                b.iter(|| engine.scan_bytes("m.pt", z.clone()));
            },
        );
    }
    g.finish();

    let dir = tempfile::tempdir().expect("tmp");
    for i in 0..200 {
        std::fs::write(dir.path().join(format!("m{i}.pt")), torch_zip(3, 64)).expect("write");
    }
    c.bench_function("directory_200_small_zips", |b| {
        b.iter(|| {
            engine
                .scan_paths(&[dir.path().to_path_buf()])
                .expect("scan")
        });
    });
}

criterion_group!(benches, bench_sniff, bench_walker);
criterion_main!(benches);
