//! Shared test helpers: locating resources prepared by tests/setup.sh, an OCI image-layout writer (layers built with `tar` + `flate2`/`zstd`),
//! exports to the other image shapes, and the "real component or notice" gate. `registry` starts
//! a real OCI registry, `pgserver` a real PostgreSQL server, `slurm` a real one-node Slurm
//! cluster, `audit_tree` a generated model registry for audits.
#![allow(
    dead_code,
    clippy::missing_panics_doc,
    clippy::print_stderr,
    clippy::format_push_string
)]

pub mod audit_tree;
pub mod gate;
pub mod pgserver;
pub mod registry;
pub mod slurm;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

/// Returns `true` when a test may run with `what`; prints a notice and returns `false` when it is
/// missing, unless `CI` is set, in which case the test fails.
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is required in CI but is not available"
    );
    eprintln!("notice: skipping: {what} is not available");
    false
}

/// A helper process a test started (an HTTP index, a token server), stopped when dropped.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        // Stop exactly the process this guard started.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` and waits until it accepts connections on 127.0.0.1:`port` and `ready()` holds.
pub fn start_server(mut cmd: std::process::Command, port: u16, ready: impl Fn() -> bool) -> Server {
    let what = format!("{cmd:?}");
    let server = Server(
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}")),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    server
}

/// The address a `modelgate serve` child announces on stderr ("listening on …"); stderr is
/// drained afterwards so the gate never blocks on a full pipe.
pub fn gate_address(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("the gate's stderr is piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the gate exited before listening")
            .expect("stderr line");
        if let Some(a) = line.strip_prefix("modelgate serve: listening on ") {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    addr
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A finished command's stdout followed by its stderr, for assertions and failure messages.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd`, panics with its output unless it succeeds, and returns that output.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = output_text(&out);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The test venv's Python (prepared by tests/setup.sh), if there is one.
pub fn venv_python() -> Option<PathBuf> {
    let py = resource("MODELGATE_VENV", "venv")?.join("bin/python");
    py.is_file().then_some(py)
}

/// Runs `python` with `args` (in `cwd` when given) and returns its stdout; panics with its output
/// when it fails. The real loaders are the tests' oracle, and a failing oracle is a failing test.
pub fn run_python(python: &Path, args: &[&std::ffi::OsStr], cwd: Option<&Path>) -> String {
    let mut cmd = std::process::Command::new(python);
    cmd.args(args);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let out = cmd.output().expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    })
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// One entry of a layer.
#[derive(Clone)]
pub enum Entry {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
}

pub fn file(name: &str, data: &[u8]) -> Entry {
    Entry::File(name.to_owned(), data.to_vec())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone)]
pub struct Layer {
    pub entries: Vec<Entry>,
    pub comp: Comp,
    /// A raw single-file layer (oras style): these bytes are the blob, with a title annotation.
    pub raw: Option<(String, Vec<u8>)>,
}

pub fn layer(comp: Comp, entries: Vec<Entry>) -> Layer {
    Layer {
        entries,
        comp,
        raw: None,
    }
}

/// A deterministic tar of `entries` (mtime 0, root-owned).
pub fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::File(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                b.append_data(&mut h, name, &data[..]).expect("tar file");
            }
            Entry::Dir(name) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o755);
                b.append_data(&mut h, name, std::io::empty())
                    .expect("tar dir");
            }
            Entry::Symlink(name, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, name, target).expect("tar link");
            }
        }
    }
    b.into_inner().expect("tar")
}

pub fn compress(raw: &[u8], comp: Comp) -> Vec<u8> {
    match comp {
        Comp::None => raw.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::fast());
            e.write_all(raw).expect("gzip");
            e.finish().expect("gzip")
        }
        Comp::Zstd => zstd::encode_all(raw, 3).expect("zstd"),
    }
}

/// One platform image.
#[derive(Clone)]
pub struct Image {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    pub layers: Vec<Layer>,
}

pub fn image(layers: Vec<Layer>) -> Image {
    Image {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: None,
        layers,
    }
}

/// What a written layout contains.
#[derive(Debug, Default, Clone)]
pub struct Written {
    /// Per image: (manifest digest, config digest, layer digests, diff_ids).
    pub manifests: Vec<(String, String, Vec<String>, Vec<String>)>,
    pub index_digest: Option<String>,
}

fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let hex = sha256_hex(bytes);
    let p = dir.join("blobs/sha256");
    std::fs::create_dir_all(&p).expect("blobs dir");
    std::fs::write(p.join(&hex), bytes).expect("blob");
    format!("sha256:{hex}")
}

/// Writes an OCI image layout at `dir`. One image → `index.json` points at its manifest; several
/// → at an image index holding them (multi-platform), tagged `tag`.
pub fn write_layout(dir: &Path, images: &[Image], tag: &str) -> Written {
    std::fs::create_dir_all(dir).expect("layout dir");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    let mut w = Written::default();
    let mut descs = Vec::new();
    for img in images {
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        let mut layer_digests = Vec::new();
        for l in &img.layers {
            if let Some((title, bytes)) = &l.raw {
                let d = put_blob(dir, bytes);
                diff_ids.push(d.clone());
                layer_digests.push(d.clone());
                layer_descs.push(json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": d, "size": bytes.len(),
                    "annotations": {"org.opencontainers.image.title": title}
                }));
                continue;
            }
            let raw = tar_bytes(&l.entries);
            diff_ids.push(format!("sha256:{}", sha256_hex(&raw)));
            let blob = compress(&raw, l.comp);
            let d = put_blob(dir, &blob);
            layer_digests.push(d.clone());
            let mt = match l.comp {
                Comp::None => "application/vnd.oci.image.layer.v1.tar",
                Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            };
            layer_descs.push(json!({"mediaType": mt, "digest": d, "size": blob.len()}));
        }
        let mut cfg = json!({
            "architecture": img.arch, "os": img.os,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {}
        });
        if let Some(v) = &img.variant {
            cfg["variant"] = json!(v);
        }
        let cfg_bytes = serde_json::to_vec(&cfg).expect("config");
        let cfg_d = put_blob(dir, &cfg_bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg_bytes.len()},
            "layers": layer_descs
        });
        let m_bytes = serde_json::to_vec(&manifest).expect("manifest");
        let m_d = put_blob(dir, &m_bytes);
        let mut platform = json!({"os": img.os, "architecture": img.arch});
        if let Some(v) = &img.variant {
            platform["variant"] = json!(v);
        }
        descs.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m_d, "size": m_bytes.len(), "platform": platform
        }));
        w.manifests.push((m_d, cfg_d, layer_digests, diff_ids));
    }
    let top = if descs.len() == 1 {
        let mut d = descs.remove(0);
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        d
    } else {
        let idx = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": descs
        });
        let b = serde_json::to_vec(&idx).expect("index");
        let d = put_blob(dir, &b);
        w.index_digest = Some(d.clone());
        json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": d, "size": b.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}
        })
    };
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [top]});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("index.json"),
    )
    .expect("index.json");
    w
}

/// Tars a directory (members relative to it, sorted) into `out`. With `extra`, also adds files.
pub fn tar_dir(dir: &Path, out: &Path, extra: &[(&str, Vec<u8>)]) {
    let mut b = tar::Builder::new(std::fs::File::create(out).expect("tar out"));
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    files.sort();
    for f in files {
        let rel = f.strip_prefix(dir).expect("rel");
        b.append_path_with_name(&f, rel).expect("append");
    }
    for (name, data) in extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, name, &data[..]).expect("extra");
    }
    b.finish().expect("tar finish");
}

/// Writes the Docker ≥ 25 `docker save` shape: the OCI layout plus Docker's `manifest.json`
/// (Config and Layers as `blobs/sha256/<hex>` paths).
pub fn docker25_tar(layout: &Path, written: &Written, out: &Path, repo_tag: &str) {
    let (_, cfg, layers, _) = written.manifests.first().expect("one image");
    let path = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let m = json!([{
        "Config": path(cfg),
        "RepoTags": [repo_tag],
        "Layers": layers.iter().map(|l| path(l)).collect::<Vec<_>>()
    }]);
    tar_dir(
        layout,
        out,
        &[("manifest.json", serde_json::to_vec(&m).expect("m"))],
    );
}

/// Installs a wheel into `prefix` the way pip does (files extracted, INSTALLER added to RECORD).
pub fn install_wheel(wheel: &Path, prefix: &str) -> Vec<Entry> {
    let f = std::fs::File::open(wheel).expect("wheel");
    let mut z = zip::ZipArchive::new(f).expect("wheel zip");
    let mut out = Vec::new();
    let mut record_name = String::new();
    let mut record = Vec::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).expect("member");
        if e.is_dir() {
            continue;
        }
        let name = e.name().to_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        if name.ends_with(".dist-info/RECORD") {
            record_name = name;
            record = data;
            continue;
        }
        out.push(Entry::File(format!("{prefix}/{name}"), data));
    }
    let info = record_name.trim_end_matches("/RECORD").to_owned();
    out.push(Entry::File(
        format!("{prefix}/{info}/INSTALLER"),
        b"pip\n".to_vec(),
    ));
    let installer_hash = base64_nopad(&Sha256::digest(b"pip\n"));
    let mut rec = String::from_utf8(record).expect("record");
    if !rec.ends_with('\n') {
        rec.push('\n');
    }
    rec.push_str(&format!("{info}/INSTALLER,sha256={installer_hash},4\n"));
    out.push(Entry::File(
        format!("{prefix}/{record_name}"),
        rec.into_bytes(),
    ));
    out
}

pub fn base64_nopad(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A minimal installed distribution (METADATA + RECORD, optional direct_url.json).
pub fn fake_dist(prefix: &str, name: &str, version: &str, direct_url: Option<&str>) -> Vec<Entry> {
    let info = format!("{}-{version}.dist-info", name.replace('-', "_"));
    let module = format!("{}/__init__.py", name.replace('-', "_"));
    let code = format!("# {name}\n").into_bytes();
    let metadata =
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n").into_bytes();
    let mut record = format!(
        "{module},sha256={},{}\n{info}/METADATA,sha256={},{}\n",
        base64_nopad(&Sha256::digest(&code)),
        code.len(),
        base64_nopad(&Sha256::digest(&metadata)),
        metadata.len()
    );
    let mut out = vec![
        Entry::File(format!("{prefix}/{module}"), code),
        Entry::File(format!("{prefix}/{info}/METADATA"), metadata),
        Entry::File(format!("{prefix}/{info}/INSTALLER"), b"pip\n".to_vec()),
    ];
    if let Some(url) = direct_url {
        let j = format!("{{\"url\": \"{url}\", \"dir_info\": {{}}}}").into_bytes();
        record.push_str(&format!("{info}/direct_url.json,,\n"));
        out.push(Entry::File(format!("{prefix}/{info}/direct_url.json"), j));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    out.push(Entry::File(
        format!("{prefix}/{info}/RECORD"),
        record.into_bytes(),
    ));
    out
}

/// The wheels directory prepared by tests/real_models/fetch_wheels.sh.
pub fn wheels_dir() -> Option<PathBuf> {
    std::env::var_os("MODELGATE_WHEELS")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
}

pub fn find_wheel(dir: &Path, project: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("wheels dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{project}-")) && n.ends_with(".whl"))
        })
        .unwrap_or_else(|| panic!("no {project} wheel in {}", dir.display()))
}

/// Builds a local PEP 503 mirror from wheel files: `<root>/files/*.whl` and
/// `<root>/simple/<project>/index.html` with `#sha256=` fragments.
pub fn build_mirror(root: &Path, wheels: &[PathBuf]) -> PathBuf {
    let files = root.join("files");
    std::fs::create_dir_all(&files).expect("files");
    let mut by_project: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for w in wheels {
        let name = w
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let bytes = std::fs::read(w).expect("wheel bytes");
        std::fs::write(files.join(&name), &bytes).expect("copy wheel");
        let project =
            modelgate::packages::names::normalize(name.split('-').next().expect("project"));
        by_project
            .entry(project)
            .or_default()
            .push((name, sha256_hex(&bytes)));
    }
    let simple = root.join("simple");
    let mut root_html = String::from("<!DOCTYPE html><html><body>\n");
    for (project, files) in &by_project {
        let d = simple.join(project);
        std::fs::create_dir_all(&d).expect("project dir");
        let mut html = String::from("<!DOCTYPE html><html><body>\n");
        for (f, sha) in files {
            html.push_str(&format!(
                "<a href=\"../../files/{f}#sha256={sha}\">{f}</a><br/>\n"
            ));
        }
        html.push_str("</body></html>\n");
        std::fs::write(d.join("index.html"), html).expect("index");
        // The same page in PEP 691 JSON, for servers that negotiate it (tests/pep691_server.py).
        let json_files: Vec<serde_json::Value> = files
            .iter()
            .map(|(f, sha)| {
                json!({"filename": f, "url": format!("../../files/{f}"), "hashes": {"sha256": sha}})
            })
            .collect();
        let page = json!({"meta": {"api-version": "1.1"}, "name": project, "files": json_files});
        std::fs::write(d.join("index.json"), page.to_string()).expect("json index");
        root_html.push_str(&format!("<a href=\"{project}/\">{project}</a>\n"));
    }
    root_html.push_str("</body></html>\n");
    std::fs::write(simple.join("index.html"), root_html).expect("root index");
    let projects: Vec<serde_json::Value> = by_project.keys().map(|p| json!({"name": p})).collect();
    let root_json = json!({"meta": {"api-version": "1.1"}, "projects": projects});
    std::fs::write(simple.join("index.json"), root_json.to_string()).expect("root json index");
    simple
}

/// Findings as (code, severity, location chain without the temp path), sorted.
pub fn findings_summary(report: &modelgate::Report) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.code.clone(),
                f.severity.to_string(),
                f.location.inner.join(" > "),
            )
        })
        .collect();
    v.sort();
    v
}

pub fn has(report: &modelgate::Report, code: &str) -> bool {
    report.findings.iter().any(|f| f.code == code)
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory named by `var`, or `default` under the test-resources directory. Returns `None`
/// (after printing a notice) when it does not exist — except under CI, where a missing resource is
/// a failure, so a missing install step can never turn into a silently green run.
pub fn resource(var: &str, default: &str) -> Option<PathBuf> {
    let base = std::env::var_os("MODELGATE_RESOURCES")
        .map_or_else(|| root().join("target/test-resources"), PathBuf::from);
    let path = std::env::var_os(var).map_or_else(|| base.join(default), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "test resource {} ({var}) is missing; tests/setup.sh prepares it",
        path.display()
    );
    eprintln!(
        "notice: {} missing ({var}); run tests/setup.sh. Skipping.",
        path.display()
    );
    None
}

/// A fixture under testdata/.
pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

/// A valid NumPy `.npy` file: two little-endian float32 values, every byte of them `fill` (so
/// each caller's array can have bytes of its own).
pub fn npy(fill: u8) -> Vec<u8> {
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut h = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".to_vec();
    while !(h.len() + 11).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    npy.extend_from_slice(&u16::try_from(h.len()).expect("len").to_le_bytes());
    npy.extend_from_slice(&h);
    npy.extend_from_slice(&[fill; 8]);
    npy
}
