//! Property tests for the parsers that decide how a loader reads bytes: the tar header check
//! (`format::tar_header_ok`) and zip name decoding (`walk::decode_name`) are compared with
//! Python's own `tarfile` and `zipfile` on generated inputs, and the tarfile-faithful header walk
//! never panics.

mod common;

use proptest::prelude::*;

/// A valid ustar header for `name` with `size`, as the starting point for mutations.
fn header(name: &[u8], size: u64) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    for (d, s) in b.iter_mut().zip(name.iter().take(100)) {
        *d = *s;
    }
    let fields: [(usize, Vec<u8>); 4] = [
        (100, b"0000644\0".to_vec()),
        (124, format!("{size:011o}\0").into_bytes()),
        (257, b"ustar\0".to_vec()),
        (148, b"        ".to_vec()),
    ];
    for (at, v) in fields {
        for (i, c) in v.into_iter().enumerate() {
            if let Some(d) = b.get_mut(at + i) {
                *d = c;
            }
        }
    }
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    for (i, c) in format!("{sum:06o}\0 ").into_bytes().into_iter().enumerate() {
        if let Some(d) = b.get_mut(148 + i) {
            *d = c;
        }
    }
    b
}

/// Asks Python, once for many inputs: one hex input per line in, one answer per line out.
fn ask_python(script: &str, inputs: &[Vec<u8>]) -> Option<Vec<String>> {
    let py = common::venv_python();
    if !common::require(py.is_some(), "the test venv (tests/setup.sh)") {
        return None;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.txt");
    let lines: Vec<String> = inputs.iter().map(hex::encode).collect();
    std::fs::write(&input, lines.join("\n")).expect("write");
    let out = common::run_python(
        &py?,
        &["-c".as_ref(), script.as_ref(), input.as_ref()],
        None,
    );
    Some(out.lines().map(str::to_owned).collect())
}

/// The header's checksum with the checksum field counted as spaces, over unsigned or signed bytes.
fn checksum(h: &[u8], signed: bool) -> i64 {
    h.iter()
        .enumerate()
        .map(|(j, &c)| match ((148..156).contains(&j), signed) {
            (true, _) => 32,
            (false, false) => i64::from(c),
            (false, true) => i64::from(c as i8),
        })
        .sum()
}

/// Writes `text` into the checksum field, NUL-padded to 8 bytes.
fn set_checksum(h: &mut [u8], text: &str) {
    let mut v = text.as_bytes().to_vec();
    v.resize(8, 0);
    h[148..156].copy_from_slice(&v);
}

/// Deterministic mutations of a valid header: checksum field spellings, whitespace, signs,
/// base-256, magic removed, random bytes.
fn mutated_headers() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..400u64 {
        let mut h = header(format!("m{i}.pkl").as_bytes(), i * 7);
        match i % 8 {
            0 => {}
            // No ustar magic (v7): checksum recomputed.
            1 => {
                for b in &mut h[257..265] {
                    *b = 0;
                }
                let sum = checksum(&h, false);
                set_checksum(&mut h, &format!("{sum:o}"));
            }
            // Leading spaces and a plus sign in the checksum field.
            2 => {
                let sum = checksum(&h, false);
                set_checksum(&mut h, &format!(" +{sum:o}"));
            }
            // A flipped byte somewhere.
            3 => {
                let at = (next() % 512) as usize;
                h[at] ^= 1 << (next() % 8);
            }
            // Random bytes in the checksum field.
            4 => {
                for b in &mut h[148..156] {
                    *b = (next() % 256) as u8;
                }
            }
            // Underscores in the checksum digits.
            5 => {
                let s = format!("{:o}", checksum(&h, false));
                let (a, b) = s.split_at(1);
                set_checksum(&mut h, &format!("{a}_{b}"));
            }
            // High bytes (signed checksum differs from unsigned).
            6 => {
                h[200] = 0xff;
                h[201] = 0x80;
                let sum = checksum(&h, true);
                set_checksum(&mut h, &format!("{sum:o}"));
            }
            // Entirely random block.
            _ => {
                for b in &mut h {
                    *b = (next() % 256) as u8;
                }
            }
        }
        out.push(h);
    }
    out
}

#[test]
fn tar_header_check_agrees_with_tarfile() {
    let headers = mutated_headers();
    let Some(answers) = ask_python(
        r#"
import sys, tarfile
for line in open(sys.argv[1]):
    buf = bytes.fromhex(line.strip())
    try:
        tarfile.TarInfo.frombuf(buf, "utf-8", "surrogateescape")
        print("1")
    except tarfile.HeaderError:
        print("0")
"#,
        &headers,
    ) else {
        return;
    };
    assert_eq!(answers.len(), headers.len());
    let mut accepted = 0;
    for (h, a) in headers.iter().zip(&answers) {
        let ours = modelgate::sniff::tar_header_ok(h);
        assert_eq!(ours, a == "1", "header {}", hex::encode(&h[148..156]));
        accepted += usize::from(ours);
    }
    // The mutations must exercise both answers.
    assert!(accepted > 100 && accepted < headers.len(), "{accepted}");
}

#[test]
fn zip_names_decode_as_zipfile_decodes_them() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let names: Vec<Vec<u8>> = (0..300)
        .map(|i| {
            let len = 1 + (i % 40);
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly printable, some NULs and high bytes.
                    match x % 10 {
                        0 => 0,
                        1..=3 => 0x80 + (x >> 8) as u8 % 0x80,
                        _ => b'a' + (x >> 8) as u8 % 26,
                    }
                })
                .collect()
        })
        .collect();
    let Some(answers) = ask_python(
        r#"
import sys
for line in open(sys.argv[1]):
    raw = bytes.fromhex(line.strip())
    name = raw.decode("cp437")
    nul = name.find("\0")
    print((name[:nul] if nul >= 0 else name).encode("utf-8").hex())
"#,
        &names,
    ) else {
        return;
    };
    for (raw, a) in names.iter().zip(&answers) {
        let (ours, _) = modelgate::walk::decode_name(raw, 0);
        assert_eq!(hex::encode(ours.as_bytes()), *a, "{}", hex::encode(raw));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn tarfile_walk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let c = modelgate::Content::from_vec(bytes);
        let _ = modelgate::walk::tarfile::members(&c, 1000);
    }

    #[test]
    fn tarfile_walk_survives_mutated_archives(pos in 0usize..2048, val in any::<u8>(), cut in 0usize..2048) {
        let mut t = header(b"a.pkl", 3);
        t.extend_from_slice(b"N.\n");
        t.resize(1024, 0);
        t.extend(header(b"d/", 0));
        t.resize(2048, 0);
        if let Some(b) = t.get_mut(pos) { *b = val; }
        t.truncate(cut.max(1));
        let m = modelgate::walk::tarfile::members(&modelgate::Content::from_vec(t), 1000)
            .expect("in memory");
        prop_assert!(m.len() <= 4);
    }
}
