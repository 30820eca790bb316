//! Bounded under hostile input (issue 11, in progress): decompression bombs and declared sizes
//! that would drive allocations end in a finding, never in an abort or an unbounded buffer.
//! Sizes here are what CI affords; `benches/` holds the full-size runs.

mod common;

use std::io::Write;

use modelgate::engine::{EngineOptions, Limits};
use modelgate::{Engine, Report, Severity, SignatureDb};

fn engine(limits: Limits) -> Engine {
    Engine::new(
        SignatureDb::embedded().expect("db"),
        EngineOptions {
            limits,
            ..EngineOptions::default()
        },
    )
    .expect("engine")
}

fn codes(r: &Report) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

/// `n` bytes of zeros, xz-compressed by the `xz` tool (installed by tests/setup.sh).
fn xz_zeros(n: usize) -> Option<Vec<u8>> {
    let xz = common::which("xz");
    if !common::require(xz.is_some(), "xz") {
        return None;
    }
    let mut child = std::process::Command::new(xz?)
        .args(["-1", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("xz");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let block = vec![0u8; 1 << 20];
        let mut left = n;
        while left > 0 {
            let k = left.min(block.len());
            stdin.write_all(&block[..k]).expect("write");
            left -= k;
        }
    });
    let out = child.wait_with_output().expect("xz output");
    writer.join().expect("writer");
    Some(out.stdout)
}

#[test]
fn xz_bomb_stops_at_the_ratio_limit_with_a_finding() {
    // 256 MiB of zeros is about 40 KB of xz; with a ratio limit of 100 the walker stops at the
    // 16 MiB floor. Before, xz was decoded whole into memory before any check.
    let Some(xz) = xz_zeros(256 << 20) else {
        return;
    };
    let limits = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let r = engine(limits).scan_bytes("zeros.pkl.xz", xz);
    assert!(
        codes(&r).contains(&"archive/compression-bomb"),
        "{:?}",
        codes(&r)
    );
    assert!(r.findings.iter().any(|f| f.severity >= Severity::High));
}

#[test]
fn lzma_dictionary_over_the_memory_limit_is_refused_before_allocation() {
    // An .lzma header declaring a 2 GiB dictionary (a valid size, `5d 00 00 00 80`): refused by
    // the decoder's memory limit and reported, not allocated.
    let mut lzma = vec![0x5d];
    lzma.extend_from_slice(&0x8000_0000u32.to_le_bytes());
    lzma.extend_from_slice(&u64::MAX.to_le_bytes());
    lzma.extend_from_slice(&[0u8; 64]);
    let r = engine(Limits::default()).scan_bytes("model.lzma", lzma);
    assert!(
        r.findings.iter().any(|f| f.severity >= Severity::High),
        "{:?}",
        r.findings
    );
}

#[test]
fn zip_member_holding_other_than_it_declares_is_a_finding() {
    use std::io::Write as _;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("data.bin", zip::write::SimpleFileOptions::default())
            .expect("member");
        z.write_all(&[7u8; 39]).expect("write");
        z.finish().expect("finish");
    }
    let mut bytes = buf.into_inner();
    // The central directory entry's uncompressed size (offset 24) now declares 10,000,000 bytes.
    let cd = bytes
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("central directory");
    bytes[cd + 24..cd + 28].copy_from_slice(&10_000_000u32.to_le_bytes());
    let r = engine(Limits::default()).scan_bytes("m.zip", bytes);
    assert!(
        codes(&r).contains(&"archive/size-mismatch"),
        "{:?}",
        codes(&r)
    );
}

#[test]
fn seven_zip_headers_that_drive_allocations_end_in_a_finding() {
    // Inputs from a fuzzing run: header counts that made the 7z decoder allocate 27 PB (abort)
    // or 6-24 GB. The decoder's header and dictionary memory limits refuse them up front.
    let dir = common::testdata("archives/malformed/7z-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let r = engine(Limits::default())
            .scan_paths(std::slice::from_ref(&path))
            .expect("scan");
        assert!(
            r.findings.iter().any(|f| f.severity >= Severity::High),
            "{}: {:?}",
            path.display(),
            r.findings
        );
        n += 1;
    }
    assert_eq!(n, 4);
}

#[test]
fn a_bomb_finding_names_the_limit_that_fired() {
    use std::io::Write as _;
    // 4 MiB of zeros in gzip: under the 16 MiB ratio floor, over a 1 MiB run budget.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&vec![0u8; 4 << 20]).expect("gzip");
    let gz = e.finish().expect("finish");
    let limits = Limits {
        max_total_uncompressed: 1 << 20,
        ..Limits::default()
    };
    let r = engine(limits).scan_bytes("zeros.bin.gz", gz);
    let bomb = r
        .findings
        .iter()
        .find(|f| f.code == "archive/compression-bomb")
        .expect("bomb finding");
    assert_eq!(
        bomb.evidence.get("limit").map(String::as_str),
        Some("max-total-uncompressed")
    );
    assert!(bomb.message.contains("run's budget"), "{}", bomb.message);
}
