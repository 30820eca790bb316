//! Integration tests for the pickle family (raw pickles, joblib, legacy and zip PyTorch, legacy
//! tar, npy/npz): one test per bypass class asserting the specific code and global, benign files
//! that must stay quiet, and an insta snapshot of every fixture's findings.
//!
//! Fixtures are written by `testdata/generate/pickle.py`.

use std::path::{Path, PathBuf};

use modelgate::{Engine, Report, Severity};

fn engine() -> Engine {
    Engine::with_defaults().expect("engine")
}

fn scan(rel: &str) -> Report {
    let p = PathBuf::from("testdata/pickle").join(rel);
    assert!(
        p.exists(),
        "fixture {} is missing; run testdata/generate/pickle.py",
        p.display()
    );
    engine().scan_paths(&[p]).expect("scan")
}

fn has(r: &Report, code: &str, global: Option<&str>) -> bool {
    r.findings.iter().any(|f| {
        f.code == code
            && global.is_none_or(|g| {
                f.global
                    .as_ref()
                    .is_some_and(|x| format!("{}.{}", x.module, x.name) == g)
            })
    })
}

macro_rules! detects {
    ($name:ident, $file:literal, $code:literal) => {
        #[test]
        fn $name() {
            let r = scan($file);
            assert!(
                has(&r, $code, None),
                "{} not reported for {}:\n{}",
                $code,
                $file,
                r.to_json()
            );
            assert_eq!(r.exit_code(Severity::Low), 1);
        }
    };
    ($name:ident, $file:literal, $code:literal, $global:literal) => {
        #[test]
        fn $name() {
            let r = scan($file);
            assert!(
                has(&r, $code, Some($global)),
                "{} {} not reported for {}:\n{}",
                $code,
                $global,
                $file,
                r.to_json()
            );
            assert_eq!(r.exit_code(Severity::Low), 1);
        }
    };
}

// Opcode families and protocols.
detects!(
    proto0_global_reduce,
    "malicious/proto0_os_system.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    proto4_stack_global_frame,
    "malicious/proto4_posix_system.pkl",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    py2_builtin_mapped,
    "malicious/proto2_builtin_eval.pkl",
    "pickle/unsafe-global",
    "builtins.eval"
);
detects!(
    py2_commands_alias,
    "malicious/proto1_py2_aliases.pkl",
    "pickle/unsafe-global",
    "subprocess.getoutput"
);
detects!(
    py2_urllib2_alias,
    "malicious/proto1_py2_aliases.pkl",
    "pickle/unsafe-global",
    "urllib.request.urlopen"
);
// Parser differentials (scanners.md §4B).
detects!(
    b1_memo_indirection,
    "malicious/memo_indirection.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b2_string_operands,
    "malicious/string_operands.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b3_stack_global_offset2,
    "malicious/stack_global_offset2.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b4_missing_memo_keeps_payload,
    "malicious/missing_memo_after_payload.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b4_missing_memo_unresolved,
    "malicious/missing_memo_after_payload.pkl",
    "pickle/unresolved-global"
);
detects!(
    b4_type_confusion,
    "malicious/memo_type_confusion.pkl",
    "pickle/unresolved-global"
);
detects!(
    b5_dotted_pathlib,
    "malicious/dotted_pathlib_os_system.pkl",
    "pickle/unsafe-global",
    "pathlib.os.system"
);
detects!(
    b5_dotted_trace,
    "malicious/dotted_trace_runctx.pkl",
    "pickle/unsafe-global",
    "trace.Trace.runctx"
);
detects!(
    a13_dunder,
    "malicious/dunder_builtins.pkl",
    "pickle/dunder-attribute",
    "numpy.__builtins__"
);
detects!(
    b5_dunder_chain,
    "malicious/dunder_subclasses.pkl",
    "pickle/dunder-attribute"
);
detects!(
    b6_ext,
    "malicious/ext_code.pkl",
    "pickle/extension-registry"
);
detects!(
    b7_obj_pop,
    "malicious/obj_pop_smtplib.pkl",
    "pickle/unsafe-global",
    "smtplib.SMTP"
);
detects!(
    b8_frame_straddle,
    "malicious/frame_straddle.pkl",
    "pickle/frame-violation"
);
detects!(
    b8_frame_straddle_payload,
    "malicious/frame_straddle.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b8_frame_nested,
    "malicious/frame_nested.pkl",
    "pickle/frame-violation"
);
detects!(
    frame_first,
    "malicious/frame_first.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b9_payload_then_garbage,
    "malicious/payload_then_garbage.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b9_benign_then_malicious,
    "malicious/benign_then_malicious.pkl",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    b16_poison_trailer,
    "malicious/poison_trailer.pkl",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    setstate_on_module,
    "malicious/setstate_on_module.pkl",
    "pickle/setstate-on-global"
);
// Nested loaders and encoded blobs.
detects!(
    nested_loads,
    "malicious/nested_pickle_loads.pkl",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    nested_cpickle_codecs,
    "malicious/nested_cpickle_proto2.pkl",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    base64_blob,
    "malicious/base64_blob.pkl",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    base64_chain,
    "malicious/base64_loads_chain.pkl",
    "pickle/unsafe-global",
    "os.system"
);
// Denylist gadgets (§4A).
detects!(
    a1_pip,
    "malicious/gadget_pip_main.pkl",
    "pickle/unsafe-global",
    "pip.main"
);
detects!(
    a2_torch_load,
    "malicious/gadget_torch_load.pkl",
    "pickle/unsafe-global",
    "torch.serialization.load"
);
detects!(
    a2_torch_hub,
    "malicious/gadget_torch_hub_load.pkl",
    "pickle/unsafe-global",
    "torch.hub.load"
);
detects!(
    a3_timeit,
    "malicious/gadget_timeit.pkl",
    "pickle/unsafe-global",
    "timeit.timeit"
);
detects!(
    a3_numpy_runstring,
    "malicious/gadget_numpy_runstring.pkl",
    "pickle/unsafe-global",
    "numpy.testing._private.utils.runstring"
);
detects!(
    a3_ssl,
    "malicious/gadget_ssl_cert.pkl",
    "pickle/unsafe-global",
    "ssl.get_server_certificate"
);
detects!(
    a6_asyncio_submodule,
    "malicious/gadget_asyncio_subprocess.pkl",
    "pickle/unsafe-global",
    "asyncio.unix_events._UnixSubprocessTransport._start"
);
detects!(
    a8_resolve_name,
    "malicious/gadget_pkgutil_resolve_name.pkl",
    "pickle/unsafe-global",
    "pkgutil.resolve_name"
);
detects!(
    a9_underscore_module,
    "malicious/gadget_osx_support.pkl",
    "pickle/unsafe-global",
    "_osx_support._read_output"
);
detects!(
    a10_importlib,
    "malicious/gadget_importlib.pkl",
    "pickle/unsafe-global",
    "importlib.import_module"
);
detects!(
    a10_marshal,
    "malicious/gadget_marshal_loads.pkl",
    "pickle/unsafe-global",
    "marshal.loads"
);
detects!(
    a11_transformers,
    "malicious/gadget_transformers_dynamic.pkl",
    "pickle/unsafe-global",
    "transformers.dynamic_module_utils.get_class_from_dynamic_module"
);
detects!(
    a15_distutils,
    "malicious/gadget_distutils_spawn.pkl",
    "pickle/unsafe-global",
    "distutils.spawn.spawn"
);
detects!(
    a17_http_client,
    "malicious/http_client_proto3.pkl",
    "pickle/unsafe-global",
    "http.client.HTTPSConnection"
);
detects!(
    b14_scanner_tampering,
    "malicious/gadget_scanner_tampering.pkl",
    "pickle/unsafe-global",
    "fickling.always_check_safety"
);
detects!(
    partial_combinator,
    "malicious/gadget_functools_partial.pkl",
    "pickle/unsafe-global",
    "functools.partial"
);
// Legacy PyTorch (B10, B11, C5, C7).
detects!(
    b10_later_stacked_pickle,
    "malicious/torch_legacy_payload_in_sys_info.pt",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    b10_keys_pickle,
    "malicious/torch_legacy_payload_in_keys.pt",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b10_after_trailer,
    "malicious/torch_legacy_payload_after_trailer.pt",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    b11_computed_magic,
    "malicious/torch_legacy_computed_magic.pt",
    "pickle/torch-magic-computed"
);
detects!(
    b11_text_magic,
    "malicious/torch_legacy_text_magic.pt",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    c5_raw_bin,
    "malicious/raw_payload.bin",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    c7_legacy_tar,
    "malicious/legacy_checkpoint.tar",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    c7_legacy_tar_storages,
    "malicious/legacy_checkpoint_storages.tar",
    "pickle/unsafe-global",
    "posix.system"
);
// joblib (B12) and compression.
detects!(
    b12_tail_aligned,
    "malicious/joblib_tail_aligned.joblib",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b12_tail_unaligned,
    "malicious/joblib_tail_unaligned.joblib",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    b12_object_nested,
    "malicious/joblib_object_nested.joblib",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    joblib_differential,
    "malicious/joblib_differential.joblib",
    "pickle/joblib-differential"
);
detects!(
    joblib_zlib,
    "malicious/joblib_tail.joblib.z",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    joblib_gzip,
    "malicious/joblib_tail.joblib.gz",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    joblib_bz2,
    "malicious/joblib_tail.joblib.bz2",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    joblib_xz,
    "malicious/joblib_tail.joblib.xz",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    joblib_lzma,
    "malicious/joblib_tail.joblib.lzma",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    joblib_lz4,
    "malicious/joblib_tail.joblib.lz4",
    "pickle/unsafe-global",
    "os.system"
);
// Unknown extensions (C1, C6).
detects!(
    ext_model,
    "malicious/raw_payload.model",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    ext_sav,
    "malicious/raw_payload.sav",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    ext_dat,
    "malicious/raw_payload.dat",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    ext_pt,
    "malicious/raw_payload.pt",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    ext_pkl_gz,
    "malicious/raw_payload.pkl.gz",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    ext_none,
    "malicious/raw_payload_noext",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    ext_txt,
    "malicious/data.txt",
    "pickle/unsafe-global",
    "os.system"
);
// numpy.
detects!(
    npy_object_payload,
    "malicious/object_payload.npy",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    npz_object_payload,
    "malicious/object_payload.npz",
    "pickle/unsafe-global",
    "posix.system"
);
detects!(
    npy_structured_object,
    "malicious/structured_object_payload.npy",
    "pickle/unsafe-global",
    "os.system"
);
// Torch zip and container tricks (C2-C4, C9).
detects!(
    torch_zip_payload,
    "malicious/torch_zip_payload.pt",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    c4_crc,
    "malicious/torch_zip_crc_mismatch.pt",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    c3_flags,
    "malicious/torch_zip_flag_bits.pt",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    c2_local_name,
    "malicious/torch_zip_local_name.pt",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    c9_nested_zip,
    "malicious/nested_zip_in_zip.zip",
    "pickle/unsafe-global",
    "os.system"
);
detects!(
    targz_pickle,
    "malicious/pickle_in_targz.tar.gz",
    "pickle/unsafe-global",
    "posix.system"
);
// Malformed input keeps what it found and says what broke.
detects!(
    malformed_truncated,
    "malformed/truncated.pkl",
    "pickle/malformed"
);
detects!(
    malformed_invalid_opcode,
    "malformed/invalid_opcode.pkl",
    "pickle/malformed"
);
detects!(
    malformed_npy_header,
    "malformed/bad_header.npy",
    "numpy/malformed"
);
detects!(
    malformed_npy_short,
    "malformed/short_data.npy",
    "numpy/size-mismatch"
);
detects!(
    malformed_legacy_trailer,
    "malformed/torch_legacy_truncated_trailer.pt",
    "pickle/torch-legacy-structure"
);

#[test]
fn benign_fixtures_are_quiet() {
    let dir = Path::new("testdata/pickle/benign");
    let r = engine().scan_paths(&[dir.to_path_buf()]).expect("scan");
    let loud: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .collect();
    assert!(
        loud.is_empty(),
        "benign fixtures raised findings: {loud:#?}"
    );
    assert_eq!(r.summary.failed, 0);
    assert_eq!(r.summary.skipped, 0, "{:#?}", r.artifacts);
    assert!(r.summary.scanned >= 20);
}

#[test]
fn strict_raises_unknown_globals() {
    let opts = modelgate::EngineOptions {
        strict: true,
        ..Default::default()
    };
    let e = Engine::new(modelgate::SignatureDb::embedded().unwrap(), opts).unwrap();
    let r = e.scan_bytes("x.pkl", b"\x80\x02cmylib.helpers\nfn\n)R.".to_vec());
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "pickle/unknown-global")
        .expect("unknown global reported");
    assert_eq!(f.severity, Severity::High);
    let r = engine().scan_bytes("x.pkl", b"\x80\x02cmylib.helpers\nfn\n)R.".to_vec());
    assert_eq!(r.findings[0].severity, Severity::Medium);
}

#[test]
fn user_signatures_override_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("local.toml"),
        "[meta]\narea='pickle'\n[[entry]]\nkind='pickle-global'\nmodule='mylib.helpers'\nname='fn'\naction='allow'\nreason='reviewed'\n",
    )
    .unwrap();
    let db = modelgate::SignatureDb::load(&[dir.path()]).unwrap();
    let e = Engine::new(db, modelgate::EngineOptions::default()).unwrap();
    let r = e.scan_bytes("x.pkl", b"\x80\x02cmylib.helpers\nfn\n)R.".to_vec());
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn every_call_site_is_in_evidence() {
    let mut p = b"\x80\x02cos\nsystem\nq\x00".to_vec();
    for _ in 0..3 {
        p.extend_from_slice(b"h\x00X\x04\x00\x00\x00true\x85R0");
    }
    p.extend_from_slice(b"N.");
    let r = engine().scan_bytes("x.pkl", p);
    let f = &r.findings[0];
    assert_eq!(f.evidence["calls"], "3");
    assert_eq!(f.evidence["call-sites"].split(' ').count(), 3);
}

#[test]
fn snapshots() {
    let mut files = Vec::new();
    for kind in ["benign", "malicious", "malformed"] {
        let mut v: Vec<_> = std::fs::read_dir(Path::new("testdata/pickle").join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        files.extend(v);
    }
    let e = engine();
    for f in files {
        let r = e.scan_paths(std::slice::from_ref(&f)).unwrap();
        let name = f
            .strip_prefix("testdata/pickle")
            .unwrap()
            .display()
            .to_string()
            .replace(['/', '.'], "_");
        insta::assert_json_snapshot!(format!("pickle_{name}"), r.findings);
    }
}
