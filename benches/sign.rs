//! Criterion benchmarks for signing: hashing throughput (the whole cost of sign and verify).
//! In-memory SHA-256 (SHA-NI when the CPU has it), one file read and hashed, and many files
//! hashed in parallel. `benches/compare_sign.sh` compares end to end against openssl and
//! model_signing on ~3 GB.
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use modelgate::hash::{self, Algorithm, Job};

const MIB: usize = 1 << 20;

fn bench_memory(c: &mut Criterion) {
    let data = vec![0x5au8; 16 * MIB];
    let mut g = c.benchmark_group("hash-memory");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for alg in [Algorithm::Sha256, Algorithm::Blake2b, Algorithm::Blake3] {
        g.bench_with_input(BenchmarkId::from_parameter(alg.name()), &data, |b, d| {
            b.iter(|| alg.digest(d));
        });
    }
    g.finish();
}

fn bench_files(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let files: Vec<PathBuf> = (0..8)
        .map(|i| {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, vec![i as u8; 32 * MIB]).expect("write");
            p
        })
        .collect();
    let mut g = c.benchmark_group("hash-files");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(32 * MIB as u64));
    g.bench_function("one-file-sha256", |b| {
        b.iter(|| hash::hash_file(Algorithm::Sha256, &files[0]).expect("hash"));
    });
    let jobs: Vec<Job> = files.iter().map(|p| Job::file(p.clone())).collect();
    g.throughput(Throughput::Bytes(8 * 32 * MIB as u64));
    g.bench_function("eight-files-parallel-sha256", |b| {
        b.iter(|| {
            hash::hash_many(Algorithm::Sha256, &jobs, hash::default_threads(), &|_| {})
                .expect("hash")
        });
    });
    g.finish();
}

criterion_group!(benches, bench_memory, bench_files);
criterion_main!(benches);
