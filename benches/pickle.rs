//! Pickle walker throughput on an opcode-dense ~4 MB pickle (millions of small opcodes), the
//! shape that makes other scanners take tens of seconds: a list of small dicts with memoized
//! keys, short strings, ints and floats, protocol 4 with frames.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use modelgate::pickle::{analyse_stream, Policy, WalkLimits};

/// Builds `[{'id': i, 'name': 'item', 'score': 0.5, 'tags': ['a', 'b']} for i in range(n)]` the
/// way CPython's pickler writes it: every container memoized, repeated keys fetched with BINGET,
/// APPENDS/SETITEMS in batches of 1000.
pub fn dense_pickle(target: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(target + 1024);
    let mut memo: u32 = 0;
    let mut known: std::collections::HashMap<&'static str, u32> = std::collections::HashMap::new();
    let mut key = |body: &mut Vec<u8>, memo: &mut u32, s: &'static str| {
        if let Some(&i) = known.get(s) {
            body.extend_from_slice(&[b'h', i as u8]);
        } else {
            body.extend_from_slice(&[0x8c, s.len() as u8]);
            body.extend_from_slice(s.as_bytes());
            body.push(0x94);
            known.insert(s, *memo);
            *memo += 1;
        }
    };
    body.extend_from_slice(&[0x80, 4, b']', 0x94]);
    memo += 1;
    let mut i: i32 = 0;
    while body.len() < target {
        body.push(b'(');
        for _ in 0..1000 {
            body.extend_from_slice(&[b'}', 0x94, b'(']);
            memo += 1;
            key(&mut body, &mut memo, "id");
            body.push(b'J');
            body.extend_from_slice(&i.to_le_bytes());
            key(&mut body, &mut memo, "name");
            body.extend_from_slice(&[0x8c, 4]);
            body.extend_from_slice(b"item");
            key(&mut body, &mut memo, "score");
            body.push(b'G');
            body.extend_from_slice(&0.5f64.to_be_bytes());
            key(&mut body, &mut memo, "tags");
            body.extend_from_slice(&[b']', 0x94, b'(']);
            memo += 1;
            key(&mut body, &mut memo, "a");
            key(&mut body, &mut memo, "b");
            body.extend_from_slice(b"eu");
            i += 1;
        }
        body.push(b'e');
    }
    body.push(b'.');
    body
}

fn bench_dense(c: &mut Criterion) {
    let db = modelgate::SignatureDb::embedded().expect("signatures");
    let policy = Policy::compile(&db).expect("policy");
    let data = dense_pickle(4 * 1024 * 1024);
    let probe = analyse_stream(&data[..], &policy, WalkLimits::default());
    assert!(probe.complete, "{:?}", probe.issues);
    assert!(
        probe.issues.is_empty(),
        "{:?}",
        &probe.issues[..probe.issues.len().min(3)]
    );
    let mut g = c.benchmark_group("pickle");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.bench_function(format!("dense_4mb_{}_ops", probe.opcodes), |b| {
        b.iter(|| analyse_stream(&data[..], &policy, WalkLimits::default()));
    });
    g.bench_function("reader_only_dense_4mb", |b| {
        b.iter(|| {
            let mut r = modelgate::pickle::Reader::new(&data[..]);
            let mut n = 0u64;
            while let Ok(Some(_)) = r.next_op() {
                n += 1;
            }
            n
        });
    });
    g.finish();
}

/// `pickle.dump([(i, str(i)) for i in range(n)], f, protocol=4)` without frames: plain data
/// far past the walker's plain-data budget (issue 10, principle 8: summarised, not retained).
pub fn plain_tuples(n: u32) -> Vec<u8> {
    let mut body = vec![0x80, 4, b']', 0x94];
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        body.push(b'(');
        for &i in chunk {
            body.push(b'J');
            body.extend_from_slice(&i.to_le_bytes());
            let s = i.to_string();
            body.extend_from_slice(&[0x8c, s.len() as u8]);
            body.extend_from_slice(s.as_bytes());
            body.extend_from_slice(&[0x94, 0x86, 0x94]);
        }
        body.push(b'e');
    }
    body.push(b'.');
    body
}

fn bench_plain(c: &mut Criterion) {
    let db = modelgate::SignatureDb::embedded().expect("signatures");
    let policy = Policy::compile(&db).expect("policy");
    let data = plain_tuples(2_000_000);
    let probe = analyse_stream(&data[..], &policy, WalkLimits::default());
    assert!(probe.complete, "{:?}", probe.issues);
    let mut g = c.benchmark_group("pickle");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("plain_tuples_2m", |b| {
        b.iter(|| analyse_stream(&data[..], &policy, WalkLimits::default()));
    });
    g.finish();
}

criterion_group!(benches, bench_dense, bench_plain);
criterion_main!(benches);
