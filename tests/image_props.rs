//! "Never panics, never hangs" properties for the image and package parsers.

use proptest::prelude::*;

use modelgate::finding::Location;
use modelgate::image::{layer, model, source};
use modelgate::packages::{allowlist, lockfiles, metadata, names, FsView};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn manifest_and_config_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = model::parse_manifest(&bytes);
        let _ = model::parse_config(&bytes);
        let _ = source::parse_legacy_manifest(&bytes);
    }

    #[test]
    fn manifest_like_json(s in r#"\{"schemaVersion":[0-9],"(manifests|layers|blobs)":\[\{"digest":"sha256:[0-9a-f]{0,70}","size":-?[0-9]{1,5}\}\]\}"#) {
        let _ = model::parse_manifest(s.as_bytes());
    }

    #[test]
    fn metadata_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = metadata::parse_core_metadata(&bytes);
        let _ = metadata::parse_record(&bytes);
        let _ = metadata::parse_direct_url(&bytes);
        let _ = metadata::parse_conda_meta(&bytes);
        let _ = metadata::parse_wheel_tags(&bytes);
        let s = String::from_utf8_lossy(&bytes);
        let _ = metadata::parse_dist_filename(&s);
        let _ = metadata::parse_info_dirname(&s);
        let _ = metadata::decode_record_digest(&s);
        let _ = allowlist::anchors(&s);
        let _ = lockfiles::parse_requirements(&s);
        let _ = lockfiles::parse_pylock(&s);
        let _ = lockfiles::parse_uv_lock(&s);
    }

    #[test]
    fn requirement_lines(s in r"([a-zA-Z0-9._\-\[\],;<>=!~@ #\\]{0,40}\n){0,8}") {
        let _ = lockfiles::parse_requirements(&s);
    }

    #[test]
    fn names(a in "\\PC{0,24}", b in "[a-z0-9\\-]{0,24}") {
        let n = names::normalize(&a);
        let _ = names::confusable(&n, &b);
        prop_assert_eq!(names::normalize(&n), n);
    }

    #[test]
    fn layer_ingest_and_view(bytes in proptest::collection::vec(any::<u8>(), 0..4096), gz in any::<bool>()) {
        let data = if gz {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut e, &bytes).expect("gz");
            e.finish().expect("gz")
        } else {
            bytes.clone()
        };
        let ing = layer::ingest(&mut &data[..], "sha256", Some(data.len() as u64), 1 << 20).expect("ingest");
        let mut view = FsView::default();
        let _ = layer::apply_to_view(ing.file.as_file(), &Location::file("x"), &mut view);
    }
}

/// Random tar-ish layers built from real headers with hostile names never panic the view pass.
#[test]
fn hostile_layer_names() {
    let names = [
        "../../etc/passwd",
        "/abs/x",
        ".wh..wh..opq",
        "a/.wh.",
        ".wh.",
        "./",
        "a//b/../../../c",
    ];
    let mut b = tar::Builder::new(Vec::new());
    for n in names {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        let raw = h.as_old_mut();
        let bytes = n.as_bytes();
        raw.name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        b.append(&h, &b"x"[..]).expect("append");
    }
    let tar = b.into_inner().expect("tar");
    let ing = layer::ingest(&mut &tar[..], "sha256", None, 1 << 20).expect("ingest");
    let mut view = FsView::default();
    layer::apply_to_view(ing.file.as_file(), &Location::file("x"), &mut view).expect("view");
    assert!(view
        .files
        .keys()
        .all(|k| !k.starts_with('/') && !k.contains("..")));
}
