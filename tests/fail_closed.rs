//! Fail closed: every interpretation a loader can take is read (`src/readings.rs`), members are
//! named and listed the way Python's `zipfile` and `tarfile` list them, and what cannot be
//! inspected is a high finding. Files are written, and where it matters checked, by Python's own
//! `zipfile`/`tarfile`/`pickle` from the test venv: the loaders are the oracle.

mod common;

use std::path::Path;

use modelgate::{Engine, Report, Severity};

/// Runs `script` with the venv's Python in `dir`; returns stdout. `None` (after a notice, or a
/// failure in CI) when there is no venv.
fn py(dir: &Path, script: &str) -> Option<String> {
    let py = common::venv_python();
    if !common::require(py.is_some(), "the test venv (tests/setup.sh)") {
        return None;
    }
    Some(common::run_python(
        &py?,
        &["-c".as_ref(), script.as_ref()],
        Some(dir),
    ))
}

fn scan(path: &Path) -> Report {
    Engine::with_defaults()
        .expect("engine")
        .scan_paths(&[path.to_path_buf()])
        .expect("scan")
}

fn codes(r: &Report) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

fn max(r: &Report) -> Option<Severity> {
    r.findings.iter().map(|f| f.severity).max()
}

/// A protocol-0 pickle that calls `os.system` (never loaded here).
const PAYLOAD: &str = r#"b"cos\nsystem\n(S'echo pwned'\ntR.""#;

#[test]
fn tar_member_hidden_after_a_directory_header_is_found() {
    let dir = tempfile::tempdir().expect("tmp");
    // A directory header that claims 1024 bytes: tarfile reads the next header right after it
    // and extracts the hidden member; readers that skip "directory data" do not.
    let Some(out) = py(
        dir.path(),
        &format!(
            r#"
import io, tarfile
payload = {PAYLOAD}
def hdr(name, kind, size):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.size = size
    return ti.tobuf(format=tarfile.USTAR_FORMAT)
hidden = hdr("hidden.pkl", tarfile.REGTYPE, len(payload)) + payload.ljust(512, b"\0")
data = hdr("d/", tarfile.DIRTYPE, len(hidden)) + hidden + b"\0" * 1024
open("m.tar", "wb").write(data)
print(tarfile.open("m.tar").getnames())
"#
        ),
    ) else {
        return;
    };
    assert!(
        out.contains("hidden.pkl"),
        "tarfile lists the member: {out}"
    );
    let r = scan(&dir.path().join("m.tar"));
    assert!(
        codes(&r).contains(&"archive/tar-differential"),
        "{:?}",
        codes(&r)
    );
    assert!(
        codes(&r).contains(&"pickle/unsafe-global"),
        "{:?}",
        codes(&r)
    );
}

#[test]
fn tar_without_ustar_magic_and_unknown_types_are_expanded() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(out) = py(
        dir.path(),
        &format!(
            r#"
import io, tarfile
payload = {PAYLOAD}
with tarfile.open("v7.tar", "w", format=tarfile.GNU_FORMAT) as t:
    ti = tarfile.TarInfo("model.pkl"); ti.size = len(payload)
    t.addfile(ti, io.BytesIO(payload))
raw = bytearray(open("v7.tar", "rb").read())
raw[257:265] = b"\0" * 8          # no magic: a v7 header
raw[156:157] = b"Q"               # a type flag tarfile does not know: a regular file to it
raw[148:156] = b" " * 8
raw[148:156] = (b"%06o\0 " % sum(raw[:512]))
open("v7.tar", "wb").write(bytes(raw))
t = tarfile.open("v7.tar")
print(t.getnames(), t.extractfile("model.pkl").read() == payload)
"#
        ),
    ) else {
        return;
    };
    assert!(out.contains("True"), "tarfile extracts it: {out}");
    let r = scan(&dir.path().join("v7.tar"));
    assert!(
        codes(&r).contains(&"pickle/unsafe-global"),
        "{:?}",
        codes(&r)
    );
}

#[test]
fn zip_names_are_read_as_zipfile_reads_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(out) = py(
        dir.path(),
        &format!(
            r#"
import zipfile
payload = {PAYLOAD}
with zipfile.ZipFile("m.zip", "w") as z:
    z.writestr("data.pkl#.txt", payload)
# zipfile itself cuts names at NUL when writing, so the NUL is patched into both headers.
raw = open("m.zip", "rb").read().replace(b"data.pkl#.txt", b"data.pkl\0.txt")
open("m.zip", "wb").write(raw)
print(zipfile.ZipFile("m.zip").namelist())
"#
        ),
    ) else {
        return;
    };
    assert!(out.contains("'data.pkl'"), "zipfile cuts at the NUL: {out}");
    let r = scan(&dir.path().join("m.zip"));
    assert!(codes(&r).contains(&"archive/name-nul"), "{:?}", codes(&r));
    assert!(
        codes(&r).contains(&"pickle/unsafe-global"),
        "{:?}",
        codes(&r)
    );
    assert!(r
        .artifacts
        .iter()
        .any(|a| a.location.inner.last().map(String::as_str) == Some("data.pkl")));
}

#[test]
fn zip_members_in_every_zipfile_method_are_decoded() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(_) = py(
        dir.path(),
        &format!(
            r#"
import zipfile
payload = {PAYLOAD}
for name, method in [("lzma", zipfile.ZIP_LZMA), ("bzip2", zipfile.ZIP_BZIP2), ("deflate", zipfile.ZIP_DEFLATED)]:
    with zipfile.ZipFile(name + ".zip", "w", compression=method) as z:
        z.writestr("model.pkl", payload)
    assert zipfile.ZipFile(name + ".zip").read("model.pkl") == payload
"#
        ),
    ) else {
        return;
    };
    for name in ["lzma", "bzip2", "deflate"] {
        let r = scan(&dir.path().join(format!("{name}.zip")));
        assert!(
            codes(&r).contains(&"pickle/unsafe-global"),
            "{name}: {:?}",
            codes(&r)
        );
    }
}

#[test]
fn undecodable_zip_members_are_uninspectable() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(_) = py(
        dir.path(),
        &format!(
            r#"
import zipfile
payload = {PAYLOAD}
with zipfile.ZipFile("m.zip", "w") as z:
    z.writestr("model.pkl", payload)
raw = bytearray(open("m.zip", "rb").read())
# Method 6 (Implode) in the local header and the central directory: no decoder exists here.
raw[8:10] = (6).to_bytes(2, "little")
cd = raw.rfind(b"PK\x01\x02")
raw[cd + 10:cd + 12] = (6).to_bytes(2, "little")
open("m.zip", "wb").write(bytes(raw))
"#
        ),
    ) else {
        return;
    };
    let r = scan(&dir.path().join("m.zip"));
    assert!(
        codes(&r).contains(&"engine/uninspectable"),
        "{:?}",
        codes(&r)
    );
    assert!(max(&r) >= Some(Severity::High));
}

#[test]
fn text_is_not_a_pickle_but_text_opcode_pickles_are() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, body) in [
        ("labels.txt", &b"cat\ndog\nbird\n"[..]),
        ("data.csv", b"c,1,2\nd,3,4\n"),
        (
            "README.md",
            b"N.B. this model was trained on public data.\n",
        ),
        ("LICENSE", b"(c) 2026 the authors\n"),
    ] {
        std::fs::write(dir.path().join(name), body).expect("write");
        let r = scan(&dir.path().join(name));
        assert!(
            max(&r).is_none_or(|s| s <= Severity::Info),
            "{name}: {:?}",
            r.findings
        );
    }
    // The same letters that do make a pickle a loader runs: flagged, whatever the name.
    std::fs::write(
        dir.path().join("notes.txt"),
        b"cos\nsystem\n(S'echo pwned'\ntR.",
    )
    .expect("write");
    let r = scan(&dir.path().join("notes.txt"));
    assert_eq!(max(&r), Some(Severity::Critical), "{:?}", r.findings);
    // A protocol-0 data pickle is recognised as a pickle (scanned, clean).
    std::fs::write(dir.path().join("d.pkl"), b"(dp0\nS'a'\np1\nI1\ns.").expect("write");
    let r = scan(&dir.path().join("d.pkl"));
    assert_eq!(r.summary.scanned, 1, "{:?}", r.artifacts);
    assert_eq!(r.exit_code(Severity::Low), 0);
}

#[test]
fn a_pickle_with_a_zip_appended_is_read_both_ways() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(_) = py(
        dir.path(),
        &format!(
            r#"
import io, pickle, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("config.pkl", {PAYLOAD})
open("m.pkl", "wb").write(pickle.dumps({{"weights": [1, 2, 3]}}, protocol=4) + buf.getvalue())
assert zipfile.is_zipfile("m.pkl")
"#
        ),
    ) else {
        return;
    };
    let r = scan(&dir.path().join("m.pkl"));
    assert!(
        codes(&r).contains(&"engine/alternate-reading"),
        "{:?}",
        codes(&r)
    );
    assert!(
        codes(&r).contains(&"pickle/unsafe-global"),
        "{:?}",
        codes(&r)
    );
}

#[test]
fn model_named_files_nothing_reads_are_uninspectable() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("model.pt"),
        [0xde, 0xad, 0xbe, 0xef, 0, 1, 2],
    )
    .expect("write");
    let r = scan(&dir.path().join("model.pt"));
    assert!(
        codes(&r).contains(&"engine/uninspectable"),
        "{:?}",
        codes(&r)
    );
    // The same bytes under a name no loader is pointed at are only unsupported.
    std::fs::write(
        dir.path().join("blob.dat"),
        [0xde, 0xad, 0xbe, 0xef, 0, 1, 2],
    )
    .expect("write");
    let r = scan(&dir.path().join("blob.dat"));
    assert!(
        max(&r).is_none_or(|s| s <= Severity::Info),
        "{:?}",
        r.findings
    );
    assert_eq!(r.exit_code(Severity::Low), 3);
}

#[test]
fn joblib_compressed_pickles_under_pickle_names_are_not_mismatches() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(_) = py(
        dir.path(),
        r#"
import joblib
for c in ["zlib", "gzip", "bz2", "xz", "lzma"]:
    joblib.dump({"a": [1, 2, 3]}, f"m-{c}.joblib", compress=(c, 3))
    joblib.dump({"a": [1, 2, 3]}, f"m-{c}.pkl", compress=(c, 3))
"#,
    ) else {
        return;
    };
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let r = scan(&path);
        assert!(
            max(&r).is_none_or(|s| s <= Severity::Info),
            "{}: {:?}",
            path.display(),
            r.findings
        );
    }
}

/// PyTorch's reader takes the archive folder from the first central-directory entry (older
/// releases check nothing else) and reads `<folder>/data.pkl`, `constants.pkl` or
/// `bytecode.pkl`, compared case-insensitively (miniz). With a top-level `data.pkl` or
/// `constants.pkl` beside them, `data/<record>.pkl` and `constants/<record>.pkl` look like
/// tensor storages of an archive at the top; they are the pickles torch runs.
#[test]
fn torch_records_named_like_storages_of_another_prefix_are_scanned() {
    use std::io::Write;
    let payload = b"\x80\x02cposix\nsystem\nU\x04true\x85R.";
    let benign = b"\x80\x02}q\x00.";
    let dir = tempfile::tempdir().expect("tmp");
    let mut n = 0;
    for folder in ["data", "constants"] {
        for record in ["data.pkl", "constants.pkl", "bytecode.pkl", "DATA.PKL"] {
            for top in ["data.pkl", "constants.pkl"] {
                let path = dir.path().join(format!("m{n}.pt"));
                n += 1;
                let mut z = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored);
                for (name, data) in [
                    (format!("{folder}/{record}"), &payload[..]),
                    (format!("{folder}/version"), b"3\n"),
                    (top.to_owned(), &benign[..]),
                ] {
                    z.start_file(name, opts).expect("start");
                    z.write_all(data).expect("write");
                }
                z.finish().expect("finish");
                let r = scan(&path);
                assert!(
                    r.findings.iter().any(|f| f.severity == Severity::Critical
                        && f.global.as_ref().is_some_and(|g| g.name == "system")),
                    "{folder}/{record} beside {top}: {:?}",
                    codes(&r)
                );
            }
        }
    }
}

/// Python's `zipfile` reads a directory entry's or a link entry's data like any member's, and
/// `numpy.load` hands an `.npz` member that starts like an `.npy` to `read_array`, which
/// unpickles object arrays. Written and loaded by the venv's `zipfile` and `numpy` (a canary
/// twin per layout); every layout numpy runs must be flagged in its `posix.system` version.
#[test]
fn npz_directory_and_link_entries_with_data_are_scanned() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(out) = py(
        dir.path(),
        r#"
import io, struct, sys, types, zipfile
import numpy as np
hits = []
canary = types.ModuleType("mg_canary")
canary.reached = lambda *a: hits.append(a)
sys.modules["mg_canary"] = canary
def npy(mod, name):
    body = b"\x80\x02c" + mod + b"\n" + name + b"\nU\x04true\x85R."
    h = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    h = h.ljust(((len(h) + 11 + 63) // 64) * 64 - 11) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + body
layouts = {
    "dir": ("x/", 0o40755),
    "dir_plain": ("y/", None),
    "link": ("w.npy", 0o120777),
}
for name, (member, mode) in layouts.items():
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        for kind, target in (("twin", (b"mg_canary", b"reached")), ("payload", (b"posix", b"system"))):
            zi = zipfile.ZipInfo(member)
            zi.compress_type = method
            if mode is not None:
                zi.create_system = 3
                zi.external_attr = mode << 16
            with zipfile.ZipFile(f"{name}_{method}.{kind}.npz", "w") as z:
                z.writestr(zi, npy(*target))
        hits.clear()
        try:
            r = np.load(f"{name}_{method}.twin.npz", allow_pickle=True)
            [r[k] for k in r.files]
        except Exception as e:
            print("error", name, e, file=sys.stderr)
        if hits:
            print(f"{name}_{method}")
"#,
    ) else {
        return;
    };
    let reached: Vec<&str> = out.lines().collect();
    assert_eq!(reached.len(), 6, "numpy ran every layout: {reached:?}");
    for name in reached {
        let r = scan(&dir.path().join(format!("{name}.payload.npz")));
        assert!(
            r.findings.iter().any(|f| f.severity == Severity::Critical
                && f.global.as_ref().is_some_and(|g| g.name == "system")),
            "{name}: {:?}",
            codes(&r)
        );
    }
}
