//! CycloneDX 1.6 JSON output: an AI bill of materials of everything a run touched.
//!
//! Every [`ArtifactRecord`] becomes one component (flat list, named by its origin chain
//! `path:member:member`):
//!
//! - `type` is `machine-learning-model` for model formats (pickle, PyTorch, NumPy, safetensors,
//!   GGUF/GGML, ONNX, HDF5/Keras, TensorFlow, TFLite, ExecuTorch, R serialized objects, programs shipped as models) and for containers whose structure is a model
//!   (a PyTorch or TorchScript zip, a TorchServe `.mar`, a skops file, a NeMo `.nemo` tar, a Keras v3 archive,
//!   an `.npz`, a legacy PyTorch tar, a compressed stream holding a model); `data` for tensor storages the walker classified as
//!   [`Format::Data`]; `file` for everything else.
//! - `hashes` holds the SHA-256 of the artifact's bytes when the engine recorded it
//!   ([`crate::engine::EngineOptions::hash_artifacts`]).
//! - properties: `modelgate:format`, `modelgate:framework` (when the format, the container
//!   structure, the extension or an enclosing container says which), `modelgate:size`,
//!   `modelgate:verdict`, `modelgate:scanner` / `modelgate:skip-reason` / `modelgate:error`, and
//!   one `modelgate:finding` (`code severity message`) per finding located in the artifact.
//!
//! The verdict of an artifact is `findings` when a finding is located in it (or, for a container,
//! in anything it contains), else `failed` when its scan failed (or, for a container, a member's
//! did), else `skipped` when it was not scanned, else `clean`. Skipped members do not change their
//! container's verdict: they are components of their own with verdict `skipped`.
//!
//! Package inventory entries ([`Report::packages`]) become `library` components with a purl
//! (`pkg:pypi/name@version`, `pkg:conda/name@version`).
//!
//! Findings are written twice, on purpose. The `modelgate:finding` properties keep each
//! component's record self-contained for people and for tools that only read components. The
//! `vulnerabilities[]` array is the standard CycloneDX channel that security tooling (Dependency-
//! Track, SBOM scanners, policy engines) consumes: one entry per finding with `id` = finding code,
//! a `modelgate` rating of the finding's severity, the message as `description`, the code's
//! remediation as `recommendation`, and `affects` pointing at the component's `bom-ref`. A finding
//! whose location matches no component is attached to its closest enclosing artifact; one that has
//! none at all is listed in `metadata.properties`, so nothing is dropped.
//!
//! The document is a pure function of the [`Report`] and reproducible: no timestamp, components in
//! the report's sorted order, and a `serialNumber` derived from the document's own content (see
//! [`serial_number`]).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::finding::{ArtifactRecord, Finding, Location, Status};
use crate::format::Format;
use crate::packages::Package;
use crate::report::Report;

/// The CycloneDX specification version written.
pub const SPEC_VERSION: &str = "1.6";

/// Renders `r` as a CycloneDX 1.6 JSON document.
pub fn render(r: &Report) -> String {
    serde_json::to_string_pretty(&document(r)).unwrap_or_default()
}

/// The CycloneDX 1.6 document for `r` as a JSON value.
pub fn document(r: &Report) -> Value {
    let index = Index::new(&r.artifacts);
    let mut refs = unique_refs(
        r.artifacts
            .iter()
            .map(|a| a.location.display_chain())
            .chain(r.packages.iter().map(package_ref)),
    );
    let package_refs = refs.split_off(r.artifacts.len());
    let artifact_refs = refs;

    // Attribute every finding to the components it concerns.
    let mut own: Vec<Vec<usize>> = vec![Vec::new(); r.artifacts.len()];
    let mut pkg_own: Vec<Vec<usize>> = vec![Vec::new(); r.packages.len()];
    let mut affects: Vec<Vec<&str>> = vec![Vec::new(); r.findings.len()];
    let mut unattributed = Vec::new();
    let pkg_by_loc: HashMap<&Location, Vec<usize>> =
        r.packages
            .iter()
            .enumerate()
            .fold(HashMap::new(), |mut m, (i, p)| {
                m.entry(&p.location).or_insert_with(Vec::new).push(i);
                m
            });
    for (fi, f) in r.findings.iter().enumerate() {
        let loc = Location {
            offset: None,
            ..f.location.clone()
        };
        let targets = &mut affects[fi];
        if let Some(ps) = pkg_by_loc.get(&loc) {
            for &p in ps {
                pkg_own[p].push(fi);
                targets.push(&package_refs[p]);
            }
        } else if let Some(arts) = index.closest(&f.location.path, &f.location.inner) {
            for &a in arts {
                own[a].push(fi);
                targets.push(&artifact_refs[a]);
            }
        } else {
            unattributed.push(fi);
        }
    }
    // Containers inherit findings and failures from everything inside them.
    let mut has_findings = vec![false; r.artifacts.len()];
    let mut has_failure = vec![false; r.artifacts.len()];
    for (i, a) in r.artifacts.iter().enumerate() {
        let failed = matches!(a.status, Status::Failed { .. });
        for anc in index.self_and_ancestors(i, &r.artifacts) {
            has_findings[anc] |= !own[i].is_empty();
            has_failure[anc] |= failed;
        }
    }
    let frameworks = frameworks(&r.artifacts, &index);

    let mut components: Vec<Value> = Vec::with_capacity(r.artifacts.len() + r.packages.len());
    for (i, a) in r.artifacts.iter().enumerate() {
        let verdict = if has_findings[i] {
            "findings"
        } else if has_failure[i] {
            "failed"
        } else if matches!(a.status, Status::Skipped { .. }) {
            "skipped"
        } else {
            "clean"
        };
        let framework = frameworks[i].framework;
        let model = is_model_format(a.format) || frameworks[i].model_container;
        let kind = if a.format == Format::Data {
            "data"
        } else if model {
            "machine-learning-model"
        } else {
            "file"
        };
        let mut props = vec![
            prop("modelgate:format", a.format.name()),
            prop("modelgate:size", &a.size.to_string()),
            prop("modelgate:verdict", verdict),
        ];
        if let Some(fw) = framework {
            props.insert(1, prop("modelgate:framework", fw));
        }
        match &a.status {
            Status::Scanned { scanner } => props.push(prop("modelgate:scanner", scanner)),
            Status::Expanded => props.push(prop("modelgate:expanded", "true")),
            Status::Skipped { reason } => props.push(prop("modelgate:skip-reason", reason)),
            Status::Failed { error } => props.push(prop("modelgate:error", error)),
        }
        props.extend(own[i].iter().map(|&fi| finding_prop(&r.findings[fi])));
        let mut c = json!({
            "type": kind,
            "bom-ref": artifact_refs[i],
            "name": a.location.display_chain(),
        });
        if let Some(h) = &a.sha256 {
            c["hashes"] = json!([{ "alg": "SHA-256", "content": h }]);
        }
        c["properties"] = Value::Array(props);
        components.push(c);
    }
    for (i, p) in r.packages.iter().enumerate() {
        components.push(package_component(p, &package_refs[i], &pkg_own[i], r));
    }

    let vulnerabilities: Vec<Value> = r
        .findings
        .iter()
        .enumerate()
        .map(|(fi, f)| vulnerability(fi, f, &affects[fi]))
        .collect();

    let mut meta_props = vec![
        prop("modelgate:signatures-version", &r.signatures.version),
        prop("modelgate:signatures-digest", &r.signatures.digest),
    ];
    meta_props.extend(r.targets.iter().map(|t| prop("modelgate:target", t)));
    meta_props.extend(unattributed.iter().map(|&fi| finding_prop(&r.findings[fi])));

    let mut doc = Map::new();
    doc.insert("bomFormat".into(), json!("CycloneDX"));
    doc.insert("specVersion".into(), json!(SPEC_VERSION));
    doc.insert("version".into(), json!(1));
    doc.insert(
        "metadata".into(),
        json!({
            "tools": { "components": [{
                "type": "application",
                "bom-ref": "tool:modelgate",
                "name": r.tool,
                "version": r.version,
            }]},
            "properties": meta_props,
        }),
    );
    doc.insert("components".into(), Value::Array(components));
    if !vulnerabilities.is_empty() {
        doc.insert("vulnerabilities".into(), Value::Array(vulnerabilities));
    }
    let serial = serial_number(&Value::Object(doc.clone()));
    // Conventional key order: identity first.
    let mut out = Map::new();
    for (k, v) in doc {
        if k == "version" {
            out.insert("serialNumber".into(), json!(serial));
        }
        out.insert(k, v);
    }
    Value::Object(out)
}

/// The `serialNumber` of a document: `urn:uuid:` and a UUID built from the first 16 bytes of the
/// SHA-256 of the serialised document without its serial number (every component with its digest,
/// every finding and package, the tool version and the signature-database digest), with the
/// RFC 9562 version 8 ("custom") and variant bits set.
///
/// CycloneDX recommends a fresh serial per generated BOM; modelgate derives it from the content
/// instead so that output is reproducible: scanning identical bytes with the same modelgate and
/// signatures yields a byte-identical document (diffable, cacheable, signable), and any change in
/// the artifacts, their digests, the findings or the database yields a different serial. `version`
/// stays 1 because each distinct content is a distinct BOM rather than a revision of one.
pub fn serial_number(doc_without_serial: &Value) -> String {
    let bytes = serde_json::to_vec(doc_without_serial).unwrap_or_default();
    let d = crate::hash::sha256(&bytes);
    let mut u = [0u8; 16];
    for (dst, src) in u.iter_mut().zip(d.iter()) {
        *dst = *src;
    }
    u[6] = (u[6] & 0x0f) | 0x80; // version 8
    u[8] = (u[8] & 0x3f) | 0x80; // RFC 4122/9562 variant
    let h = hex::encode(u);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn prop(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}

fn finding_prop(f: &Finding) -> Value {
    prop(
        "modelgate:finding",
        &format!("{} {} {}", f.code, f.severity.as_str(), f.message),
    )
}

/// Makes every reference unique: the first keeps its name, later duplicates get the first free
/// `#2`, `#3`, … suffix (two archive members can share a name).
fn unique_refs(names: impl Iterator<Item = String>) -> Vec<String> {
    let names: Vec<String> = names.collect();
    let mut used: std::collections::HashSet<String> = names.iter().cloned().collect();
    let mut first: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for n in &names {
        if first.insert(n.as_str()) {
            out.push(n.clone());
            continue;
        }
        let mut k = 2u64;
        let mut candidate = format!("{n}#{k}");
        while used.contains(&candidate) {
            k = k.saturating_add(1);
            candidate = format!("{n}#{k}");
        }
        used.insert(candidate.clone());
        out.push(candidate);
    }
    out
}

fn package_ref(p: &Package) -> String {
    format!("{}#{}", purl(p), p.location.display_chain())
}

/// The package URL of an inventory entry. PyPI names are normalised as the purl spec requires
/// (lower case, `_` as `-`); name and version are percent-encoded (`+` in local versions).
pub fn purl(p: &Package) -> String {
    let (ty, name) = match p.ecosystem.as_str() {
        "pypi" => ("pypi", p.name.to_lowercase().replace('_', "-")),
        "conda" => ("conda", p.name.to_lowercase()),
        _ => ("generic", p.name.clone()),
    };
    format!("pkg:{ty}/{}@{}", pct(&name), pct(&p.version))
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn package_component(p: &Package, bom_ref: &str, own: &[usize], r: &Report) -> Value {
    let mut props = vec![
        prop("modelgate:location", &p.location.display_chain()),
        prop(
            "modelgate:package-kind",
            match p.kind {
                crate::packages::PackageKind::Installed => "installed",
                crate::packages::PackageKind::Declared => "declared",
            },
        ),
    ];
    for (k, v) in [
        ("modelgate:installer", &p.installer),
        ("modelgate:direct-url", &p.direct_url),
        ("modelgate:vetting", &p.vetting),
        ("modelgate:content", &p.content),
    ] {
        if let Some(v) = v {
            props.push(prop(k, v));
        }
    }
    props.push(prop(
        "modelgate:verdict",
        if own.is_empty() { "clean" } else { "findings" },
    ));
    props.extend(own.iter().map(|&fi| finding_prop(&r.findings[fi])));
    json!({
        "type": "library",
        "bom-ref": bom_ref,
        "name": p.name,
        "version": p.version,
        "purl": purl(p),
        "properties": props,
    })
}

fn vulnerability(i: usize, f: &Finding, affects: &[&str]) -> Value {
    let mut props = vec![prop("modelgate:location", &f.location.to_string())];
    if let Some(g) = &f.global {
        props.push(prop(
            "modelgate:global",
            &format!("{}.{}", g.module, g.name),
        ));
    }
    for (k, v) in &f.evidence {
        props.push(prop(&format!("modelgate:evidence:{k}"), v));
    }
    let mut v = json!({
        "bom-ref": format!("finding:{}", i + 1),
        "id": f.code,
        "source": { "name": "modelgate" },
        "ratings": [{
            "source": { "name": "modelgate" },
            "severity": f.severity.as_str(),
            "method": "other",
        }],
        "description": f.message,
    });
    if let Some(c) = crate::catalog::all().iter().find(|c| c.id == f.code) {
        v["detail"] = json!(c.detects);
        v["recommendation"] = json!(c.remediation);
    }
    if !affects.is_empty() {
        v["affects"] = Value::Array(affects.iter().map(|r| json!({ "ref": r })).collect());
    }
    v["properties"] = Value::Array(props);
    v
}

/// Formats whose bytes are (part of) a model: every format that implies a framework on its own
/// ([`format_framework`], an exhaustive match), plus pickles, HDF5 and programs shipped as models
/// (llamafile), whose framework comes from
/// names and contents.
fn is_model_format(f: Format) -> bool {
    format_framework(f).is_some() || matches!(f, Format::Pickle | Format::Hdf5 | Format::Executable)
}

/// Artifacts by origin chain, with parent/child relations.
struct Index<'a> {
    by_chain: HashMap<(&'a str, &'a [String]), Vec<usize>>,
    children: Vec<Vec<usize>>,
}

impl<'a> Index<'a> {
    fn new(arts: &'a [ArtifactRecord]) -> Self {
        let mut by_chain: HashMap<(&str, &[String]), Vec<usize>> = HashMap::new();
        for (i, a) in arts.iter().enumerate() {
            by_chain
                .entry((a.location.path.as_str(), a.location.inner.as_slice()))
                .or_default()
                .push(i);
        }
        let mut children = vec![Vec::new(); arts.len()];
        for (i, a) in arts.iter().enumerate() {
            if let Some((_, parent)) = a.location.inner.split_last() {
                if let Some(ps) = by_chain.get(&(a.location.path.as_str(), parent)) {
                    for &p in ps {
                        if p != i {
                            children[p].push(i);
                        }
                    }
                }
            }
        }
        Self { by_chain, children }
    }

    /// The artifacts at `inner` under `path`, or at its closest enclosing chain.
    fn closest(&self, path: &'a str, inner: &'a [String]) -> Option<&Vec<usize>> {
        let mut n = inner.len();
        loop {
            if let Some(v) = self.by_chain.get(&(path, &inner[..n])) {
                return Some(v);
            }
            n = n.checked_sub(1)?;
        }
    }

    /// `i` and every artifact whose chain is a prefix of `i`'s.
    fn self_and_ancestors(&self, i: usize, arts: &'a [ArtifactRecord]) -> Vec<usize> {
        let loc = &arts[i].location;
        let mut out = vec![i];
        for n in 0..loc.inner.len() {
            if let Some(v) = self.by_chain.get(&(loc.path.as_str(), &loc.inner[..n])) {
                out.extend(v.iter().copied().filter(|&j| j != i));
            }
        }
        out
    }
}

#[derive(Clone, Copy, Default)]
struct Framework {
    framework: Option<&'static str>,
    /// A container whose structure is a model (its own component type is then
    /// `machine-learning-model`).
    model_container: bool,
}

/// The framework a format implies on its own.
fn format_framework(f: Format) -> Option<&'static str> {
    Some(match f {
        Format::PytorchLegacy | Format::TorchTarMember => "pytorch",
        Format::Numpy => "numpy",
        Format::RSerialized => "r",
        Format::PaddleProgram | Format::PaddleParams => "paddle",
        Format::Torch7 => "torch7",
        Format::Safetensors => "safetensors",
        Format::Gguf => "gguf",
        Format::Ggml => "ggml",
        Format::Onnx => "onnx",
        Format::Ort => "onnxruntime",
        Format::KerasConfig | Format::KerasMetadata => "keras",
        Format::SavedModel | Format::SavedModelText => "tensorflow",
        Format::Tflite => "tensorflow-lite",
        Format::Xgboost => "xgboost",
        Format::Lightgbm => "lightgbm",
        Format::Catboost => "catboost",
        Format::FlaxMsgpack => "flax",
        Format::MxnetSymbol | Format::MxnetParams => "mxnet",
        Format::Pmml => "pmml",
        Format::OpenVinoIr => "openvino",
        Format::TensorRtEngine => "tensorrt",
        Format::CoreMl => "coreml",
        Format::ExecuTorch => "executorch",
        // Exhaustive on purpose: a new `Format` does not compile until it is placed here (the
        // add-a-format checklist, enforced), and `is_model_format` follows from this match.
        // Pickles and containers get their framework from names and members; the rest have none.
        Format::Pickle
        | Format::Hdf5
        | Format::Zip
        | Format::Tar
        | Format::SevenZip
        | Format::Rar
        | Format::Gzip
        | Format::Bzip2
        | Format::Xz
        | Format::Lzma
        | Format::Zlib
        | Format::Zstd
        | Format::Lz4
        | Format::Python
        | Format::Data
        | Format::JsonConfig
        | Format::Yaml
        | Format::MlflowModel
        | Format::Requirements
        | Format::TorchScriptCode
        | Format::ImageLayer
        | Format::PythonLibrary
        | Format::JoblibZfile
        | Format::JinjaTemplate
        | Format::TorchServeManifest
        | Format::TorchServeCode
        | Format::NemoConfig
        | Format::SkopsSchema
        | Format::Executable
        | Format::Unknown => return None,
    })
}

/// The framework a file name suggests for a pickle or a compressed stream (pickles say nothing
/// about their producer in their header; these are the names the producers write).
fn extension_framework(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let base = lower.split('[').next().unwrap_or(&lower);
    let base = base.rsplit('/').next().unwrap_or(base);
    let base = [".gz", ".bz2", ".xz", ".lzma", ".zst", ".z"]
        .iter()
        .find_map(|c| base.strip_suffix(c))
        .unwrap_or(base);
    let ext = base.rsplit_once('.').map(|(_, e)| e)?;
    match ext {
        "pt" | "pth" | "ckpt" | "bin" | "pt2" | "mar" => Some("pytorch"),
        "joblib" => Some("joblib"),
        "npy" | "npz" => Some("numpy"),
        "keras" | "h5" | "hdf5" => Some("keras"),
        "skops" => Some("skops"),
        _ => None,
    }
}

/// The framework a container's members reveal: the walker's own classification of PyTorch
/// storages (`Data`), TorchScript code, a TorchServe manifest, a skops schema, a NeMo model config, a Keras v3
/// config, `.npy` members or a SavedModel.
fn container_framework(
    a: &ArtifactRecord,
    kids: &[usize],
    arts: &[ArtifactRecord],
) -> Option<&'static str> {
    let has = |f: Format| kids.iter().any(|&k| arts[k].format == f);
    match a.format {
        Format::Zip => {
            // A TorchServe archive first: its serialized model is often a PyTorch zip of its own.
            if has(Format::TorchServeManifest) {
                Some("torchserve")
            } else if has(Format::SkopsSchema) {
                Some("skops")
            } else if has(Format::Data) || has(Format::TorchScriptCode) {
                Some("pytorch")
            } else if has(Format::KerasConfig) {
                Some("keras")
            } else if has(Format::SavedModel) || has(Format::SavedModelText) {
                Some("tensorflow")
            } else if !kids.is_empty() && kids.iter().all(|&k| arts[k].format == Format::Numpy) {
                Some("numpy")
            } else {
                None
            }
        }
        Format::Tar if has(Format::NemoConfig) => Some("nemo"),
        // A TorchServe tgz archive (`--archive-format tgz`), as its `.mar` form.
        Format::Tar if has(Format::TorchServeManifest) => Some("torchserve"),
        Format::Tar if has(Format::TorchTarMember) => Some("pytorch"),
        Format::Tar if has(Format::SavedModel) => Some("tensorflow"),
        _ => None,
    }
}

fn frameworks<'a>(arts: &'a [ArtifactRecord], index: &Index<'a>) -> Vec<Framework> {
    let own_name = |a: &ArtifactRecord| {
        a.location
            .inner
            .last()
            .map_or(a.location.path.as_str(), String::as_str)
            .to_owned()
    };
    // 1. What each artifact says about itself.
    let mut fw: Vec<Framework> = arts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if let Some(f) = format_framework(a.format) {
                return Framework {
                    framework: Some(f),
                    model_container: false,
                };
            }
            if let Some(f) = container_framework(a, &index.children[i], arts) {
                return Framework {
                    framework: Some(f),
                    model_container: true,
                };
            }
            let hinted =
                matches!(a.format, Format::Pickle | Format::Zip) || a.format.is_compression();
            Framework {
                framework: if hinted {
                    extension_framework(&own_name(a))
                } else {
                    None
                },
                model_container: false,
            }
        })
        .collect();
    // 2. A compressed stream is a model when what it holds is one (innermost first: deeper chains
    //    sort after their parents, so walk backwards).
    for i in (0..arts.len()).rev() {
        let a = &arts[i];
        if !a.format.is_compression() {
            continue;
        }
        let kids = &index.children[i];
        if let [k] = kids.as_slice() {
            let child = arts[*k].format;
            if is_model_format(child) || fw[*k].model_container {
                fw[i].model_container = true;
                if fw[i].framework.is_none() {
                    fw[i].framework = fw[*k].framework;
                }
            }
        }
    }
    // 3. Members without a framework of their own inherit their closest container's.
    let mut order: Vec<usize> = (0..arts.len()).collect();
    order.sort_by_key(|&i| arts[i].location.inner.len());
    for i in order {
        if fw[i].framework.is_some() {
            continue;
        }
        let loc = &arts[i].location;
        let mut n = loc.inner.len();
        while let Some(m) = n.checked_sub(1) {
            n = m;
            let inherited = index
                .by_chain
                .get(&(loc.path.as_str(), &loc.inner[..n]))
                .and_then(|v| v.iter().find_map(|&p| fw[p].framework));
            if inherited.is_some() {
                fw[i].framework = inherited;
                break;
            }
        }
    }
    fw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(eco: &str, name: &str, version: &str) -> Package {
        Package {
            location: Location::file("x"),
            ecosystem: eco.into(),
            name: name.into(),
            version: version.into(),
            kind: crate::packages::PackageKind::Installed,
            installer: None,
            direct_url: None,
            vetting: None,
            content: None,
        }
    }

    #[test]
    fn purls_are_normalised_and_encoded() {
        assert_eq!(
            purl(&pkg("pypi", "Typing_Extensions", "4.12.2")),
            "pkg:pypi/typing-extensions@4.12.2"
        );
        assert_eq!(
            purl(&pkg("pypi", "torch", "2.3.0+cu121")),
            "pkg:pypi/torch@2.3.0%2Bcu121"
        );
        assert_eq!(purl(&pkg("conda", "NumPy", "1.26")), "pkg:conda/numpy@1.26");
    }

    #[test]
    fn serial_is_a_version_8_uuid_that_follows_content() {
        let a = serial_number(&json!({"a": 1}));
        let b = serial_number(&json!({"a": 2}));
        assert_ne!(a, b);
        assert_eq!(a, serial_number(&json!({"a": 1})));
        let u = a.strip_prefix("urn:uuid:").unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "8");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn extension_hints() {
        assert_eq!(extension_framework("model.joblib[zlib]"), Some("joblib"));
        assert_eq!(extension_framework("pytorch_model.bin"), Some("pytorch"));
        assert_eq!(extension_framework("model.pkl.gz"), None);
        assert_eq!(extension_framework("weights.pt.gz"), Some("pytorch"));
        assert_eq!(extension_framework("README"), None);
    }

    #[test]
    fn duplicate_refs_are_made_unique() {
        let r = unique_refs(["a", "a", "b", "a#2", "a"].into_iter().map(str::to_owned));
        assert_eq!(r, ["a", "a#3", "b", "a#2", "a#4"]);
    }
}
