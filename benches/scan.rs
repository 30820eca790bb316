//! Criterion benchmarks for the scan engine.
use criterion::{criterion_group, criterion_main, Criterion};

fn bench_sniff(c: &mut Criterion) {
    let head = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00";
    c.bench_function("sniff", |b| {
        b.iter(|| modelgate::format::sniff(head, "x.pkl"));
    });
}

criterion_group!(benches, bench_sniff);
criterion_main!(benches);
