//! Conversion throughput: a 64 MiB float32 torch zip checkpoint streamed to safetensors (to a
//! sink), and the symbolic VM + sklearn→ONNX on a joblib fixture. The 1 GB wall-time/RSS
//! comparison with `cp` is benches/compare_convert.sh.

use std::io::Write;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use modelgate::convert::{convert_file, ConvertOptions, Target};

fn binunicode(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A protocol-2 `OrderedDict` of `n` float32 `[rows, 1024]` tensors on storages "0".."n-1".
fn state_dict_pickle(n: usize, rows: u32) -> Vec<u8> {
    let mut p = b"\x80\x02ccollections\nOrderedDict\n)R(".to_vec();
    for i in 0..n {
        binunicode(&mut p, &format!("layer{i}.weight"));
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        binunicode(&mut p, "storage");
        p.extend_from_slice(b"ctorch\nFloatStorage\n");
        binunicode(&mut p, &i.to_string());
        binunicode(&mut p, "cpu");
        p.push(b'J');
        p.extend_from_slice(&(rows * 1024).to_le_bytes());
        p.extend_from_slice(b"tQK\x00(J");
        p.extend_from_slice(&rows.to_le_bytes());
        p.extend_from_slice(
            b"J\x00\x04\x00\x00t(J\x00\x04\x00\x00K\x01t\x89ccollections\nOrderedDict\n)RtR",
        );
    }
    p.extend_from_slice(b"u.");
    p
}

fn write_checkpoint(path: &Path, n: usize, rows: u32) {
    let f = std::fs::File::create(path).expect("create");
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    z.start_file("ckpt/data.pkl", opts).expect("zip");
    z.write_all(&state_dict_pickle(n, rows)).expect("write");
    let block: Vec<u8> = (0..4096u32)
        .flat_map(|x| (x as f32).to_le_bytes())
        .collect();
    for i in 0..n {
        z.start_file(format!("ckpt/data/{i}"), opts).expect("zip");
        for _ in 0..(rows * 1024 * 4) as usize / block.len() {
            z.write_all(&block).expect("write");
        }
    }
    z.finish().expect("finish");
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let ckpt = dir.path().join("ckpt.pt");
    let (n, rows) = (4usize, 4096u32); // 4 × 16 MiB
    write_checkpoint(&ckpt, n, rows);
    let bytes = n as u64 * u64::from(rows) * 4096;
    let opts = ConvertOptions {
        source_sha256: Some("0".repeat(64)),
        ..ConvertOptions::default()
    };
    let mut g = c.benchmark_group("convert");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("torch_zip_64MiB_to_safetensors", |b| {
        b.iter(|| {
            convert_file(&ckpt, Target::Safetensors, std::io::sink(), &opts).expect("convert")
        });
    });
    let gb =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/convert/benign/gb_clf_multi.joblib");
    g.throughput(Throughput::Bytes(
        std::fs::metadata(&gb).map_or(0, |m| m.len()),
    ));
    g.bench_function("sklearn_gb_joblib_to_onnx", |b| {
        b.iter(|| convert_file(&gb, Target::Onnx, std::io::sink(), &opts).expect("convert"));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
