//! Property tests: the archive walker and format sniffing never panic, hang or fail to return on
//! arbitrary or mutated containers. Runs in plain `cargo test`.

use std::io::Write;

use proptest::prelude::*;

/// One engine per test binary: building it parses and compiles the whole signature database.
fn engine() -> &'static modelgate::Engine {
    static E: std::sync::OnceLock<modelgate::Engine> = std::sync::OnceLock::new();
    E.get_or_init(|| modelgate::Engine::with_defaults().expect("engine"))
}

fn sample_zip() -> Vec<u8> {
    stored_zip(&[
        ("archive/data.pkl", b"\x80\x02}q\x00."),
        ("archive/data/0", &[0u8; 32]),
        ("archive/version", b"3\n"),
    ])
}

/// A minimal stored-zip writer, so the test does not depend on the reader it is testing.
fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = out.len() as u32;
        let n = name.len() as u16;
        let len = data.len() as u32;
        out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        central.extend_from_slice(&crc.sum().to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&n.to_le_bytes());
        central.extend_from_slice(&[0u8; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let count = members.len() as u16;
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn sample_tar_gz() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_cksum();
    tar.append_data(&mut h, "m/data.pkl", &b"\x80\x02N.xx"[..])
        .expect("append");
    let raw = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gz");
    gz.finish().expect("gz")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), name in "[a-z]{1,8}\\.(pt|zip|tar|gz|pkl|bin|7z|xz|npy)") {
        let _ = modelgate::sniff::sniff(&bytes, &name);
        let _ = engine().scan_bytes(&name, bytes);
    }

    #[test]
    fn mutated_zip_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let mut z = sample_zip();
        for (i, b) in flips {
            let at = i.index(z.len());
            z[at] = b;
        }
        if truncate {
            let at = cut.index(z.len());
            z.truncate(at);
        }
        let _ = engine().scan_bytes("m.pt", z);
    }

    #[test]
    fn mutated_tar_gz_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut t = sample_tar_gz();
        for (i, b) in flips {
            let at = i.index(t.len());
            t[at] = b;
        }
        let _ = engine().scan_bytes("m.tar.gz", t);
    }
}

#[test]
fn the_sample_zip_is_valid() {
    let r = engine().scan_bytes("m.pt", sample_zip());
    assert_eq!(r.summary.failed, 0, "{:?}", r.artifacts);
    assert!(r
        .artifacts
        .iter()
        .any(|a| a.location.inner == ["archive/data.pkl"]));
}
