#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Container images: pull or open an image, verify every blob, scan every file of every layer,
//! and inventory the Python packages of the final filesystem.
//!
//! Sources ([`ImageTarget`]): a registry reference `oci://HOST[:PORT]/REPO[:TAG|@DIGEST]`
//! (`oci-client`), an OCI image-layout directory, a tar of one (Docker ≥ 25 `docker save`
//! writes this shape plus its own `manifest.json`), and the legacy `docker save` tarball.
//!
//! Per platform image: the config and each layer blob are streamed while their digest is
//! computed (a mismatch is `image/digest-mismatch`, critical), each layer is decompressed by its
//! magic bytes into a temporary file, and the engine walks that file as an
//! [`Format::ImageLayer`] so every member, *including files a later layer deletes*, is scanned
//! with the location chain image → platform → layer digest → path. Whiteouts are applied to
//! build the final view used by [`crate::packages`].

use std::path::{Path, PathBuf};

use crate::artifact::{Artifact, Content};
use crate::codes::Code;
use crate::engine::Engine;
use crate::finding::{ArtifactRecord, Finding, Location, Severity, Sink, Status};
use crate::format::Format;
use crate::packages::{self, Allowlist, FsView};
use crate::sniff::{sniff, SNIFF_LEN};

pub mod layer;
pub mod model;
pub mod registry;
pub mod source;

use model::{Descriptor, Digest, Manifest, Platform, MAX_DOCUMENT};
use source::{BlobError, ImageTar, LayoutDir, Store};

pub const DIGEST_MISMATCH: Code = Code {
    id: "image/digest-mismatch",
    severity: Severity::Critical,
    summary: "An image blob's content does not match its digest.",
    detects: "A manifest, config or layer whose sha256/sha512 differs from the descriptor that references it, or a layer whose uncompressed digest differs from the config's `rootfs.diff_ids` entry.",
    why: "Content addressing is what makes an image immutable. A mismatch means the blob was corrupted or replaced after the manifest was written: a container runtime refuses it, but a tool that does not verify would scan (or ship) different bytes than were approved.",
    example: "A registry serving a modified layer under the original digest.",
    remediation: "Do not deploy the image. Re-push it from a trusted build and find out how the stored blob changed.",
    references: &["https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests"],
};

pub const SIZE_MISMATCH: Code = Code {
    id: "image/size-mismatch",
    severity: Severity::High,
    summary: "An image blob is larger or smaller than its descriptor declares.",
    detects: "More bytes than the descriptor's `size` (reading stops there) or fewer (a truncated blob).",
    why: "Size is part of the descriptor's integrity contract; oversized blobs are also a denial-of-service vector against pullers.",
    example: "A layer descriptor with `size: 1000` whose blob has 5 GB.",
    remediation: "Treat the image as corrupt or tampered; re-push it from a trusted build.",
    references: &["https://github.com/opencontainers/image-spec/blob/main/descriptor.md#properties"],
};

pub const MALFORMED: Code = Code {
    id: "image/malformed",
    severity: Severity::High,
    summary: "An image manifest, index, config or layer cannot be read.",
    detects: "Invalid JSON, a document that is neither a manifest nor an index, invalid digests, unsupported manifest schemas (Docker schema 1), a layer whose compression stream is corrupt or truncated, and layers that are missing from the image.",
    why: "Whatever could not be read was not scanned. A container runtime may still read more of it than the scanner did.",
    example: "A truncated gzip layer, or an `index.json` with a descriptor pointing to a blob that is not in the layout.",
    remediation: "Re-export or re-push the image and scan it again.",
    references: &["https://github.com/opencontainers/image-spec/blob/main/manifest.md"],
};

/// Codes raised by the image reader.
pub static CODES: &[&Code] = &[&DIGEST_MISMATCH, &SIZE_MISMATCH, &MALFORMED];

/// How index nesting deep an image may go (index → index → manifest).
const MAX_INDEX_DEPTH: u32 = 4;

/// Options for reading images.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Only this platform (`os/arch[/variant]`) of an index; every platform when `None`.
    pub platform: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A registry bearer token used as is.
    pub bearer_token: Option<String>,
    /// Registries (`host[:port]`) reached over plain HTTP besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Read credentials from the Docker config file and credential helpers.
    pub docker_config: bool,
    /// Scan layer contents with the engine (`false`: inventory only).
    pub scan_layers: bool,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            platform: None,
            username: None,
            password: None,
            bearer_token: None,
            insecure_registries: Vec::new(),
            docker_config: true,
            scan_layers: true,
        }
    }
}

/// An image to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageTarget {
    /// `HOST[:PORT]/REPO[:TAG|@DIGEST]` (the part after `oci://`).
    Registry(String),
    /// An OCI image-layout directory.
    Layout(PathBuf),
    /// A tar file holding an OCI layout or a `docker save` image.
    Archive(PathBuf),
}

/// Recognises an image target by form and content: `oci://…`, a directory with `oci-layout` and
/// `index.json`, or a tar whose root has `manifest.json`, or `index.json` plus `blobs/`.
/// Only uncompressed tars are probed (as `docker save` writes them); an [`ImageTarget::Archive`]
/// built by a caller may also be gzip- or zstd-compressed.
pub fn detect(target: &str) -> Option<ImageTarget> {
    if let Some(r) = target.strip_prefix("oci://") {
        return Some(ImageTarget::Registry(r.to_owned()));
    }
    let p = Path::new(target);
    if source::is_layout_dir(p) {
        return Some(ImageTarget::Layout(p.to_path_buf()));
    }
    if p.is_file() && tar_holds_image(p) {
        return Some(ImageTarget::Archive(p.to_path_buf()));
    }
    None
}

/// Reads tar headers (of a plain tar only; compressed archives are not probed here) to see
/// whether this tar is an image.
fn tar_holds_image(p: &Path) -> bool {
    let Ok(content) = Content::file(p.to_path_buf()) else {
        return false;
    };
    let head = content.head(SNIFF_LEN).unwrap_or_default();
    if sniff(&head, "") != Format::Tar {
        return false;
    }
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    let mut a = tar::Archive::new(std::io::BufReader::new(f));
    let Ok(entries) = a.entries_with_seek() else {
        return false;
    };
    let (mut manifest, mut index, mut blobs) = (false, false, false);
    for e in entries.take(100_000) {
        let Ok(e) = e else { return false };
        let name = crate::walk::name_text(&e.path_bytes());
        let name = name.trim_start_matches("./");
        match name {
            "manifest.json" => manifest = true,
            "index.json" => index = true,
            n if n.starts_with("blobs/") => blobs = true,
            _ => {}
        }
        if manifest || (index && blobs) {
            return true;
        }
    }
    false
}

/// One platform image to read.
struct PlatformImage {
    label: String,
    manifest_digest: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
    /// From the legacy docker-save `manifest.json` (no manifest document).
    legacy: bool,
}

/// Context for reading one image into a sink.
struct Reader<'a> {
    engine: &'a Engine,
    opts: &'a ImageOptions,
    root: Location,
    sink: Sink,
}

impl Reader<'_> {
    fn finding(&mut self, code: &Code, loc: Location, msg: String) {
        self.sink.push(Finding::new(code, loc, msg));
    }

    fn failed(&mut self, loc: Location, error: String) {
        self.sink.artifacts.push(ArtifactRecord {
            location: loc,
            format: Format::Unknown,
            size: 0,
            status: Status::Failed { error },
            sha256: None,
        });
    }

    /// Reads and verifies a manifest document; reports and returns `None` on failure.
    fn manifest_doc(
        &mut self,
        store: &mut dyn Store,
        d: &Descriptor,
        loc: &Location,
    ) -> Option<Vec<u8>> {
        let bytes = match store.manifest(d) {
            Ok(b) => b,
            Err(e) => {
                let msg = format!("cannot read manifest {}: {e}", d.digest);
                self.finding(&MALFORMED, loc.clone(), msg.clone());
                self.failed(loc.clone(), msg);
                return None;
            }
        };
        if bytes.len() as u64 > MAX_DOCUMENT {
            let msg = format!("manifest {} is larger than {MAX_DOCUMENT} bytes", d.digest);
            self.finding(&MALFORMED, loc.clone(), msg.clone());
            self.failed(loc.clone(), msg);
            return None;
        }
        self.verify_small(d, &bytes, loc);
        Some(bytes)
    }

    /// Verifies the digest and size of a document read whole.
    fn verify_small(&mut self, d: &Descriptor, bytes: &[u8], loc: &Location) {
        let Some(expected) = Digest::parse(&d.digest) else {
            return;
        };
        let mut h = layer::Hasher::for_algorithm(&expected.algorithm);
        h.update(bytes);
        let actual = h.finish();
        if actual != d.digest {
            self.finding(
                &DIGEST_MISMATCH,
                loc.clone(),
                format!("content of {} hashes to {actual}", d.digest),
            );
            let f = self.sink.findings.last_mut();
            if let Some(f) = f {
                f.evidence.insert("expected".into(), d.digest.clone());
                f.evidence.insert("actual".into(), actual);
            }
        }
        if let Some(size) = d.declared_size() {
            if size != bytes.len() as u64 {
                self.finding(
                    &SIZE_MISMATCH,
                    loc.clone(),
                    format!(
                        "{} is {} bytes, its descriptor says {size}",
                        d.digest,
                        bytes.len()
                    ),
                );
            }
        }
    }

    /// Resolves descriptors (from `index.json` or a registry index) into platform images.
    fn resolve(
        &mut self,
        store: &mut dyn Store,
        descs: Vec<Descriptor>,
        depth: u32,
        out: &mut Vec<PlatformImage>,
    ) {
        for d in descs {
            if depth > MAX_INDEX_DEPTH {
                let loc = self.root.clone();
                self.finding(
                    &MALFORMED,
                    loc,
                    format!("image indexes nested deeper than {MAX_INDEX_DEPTH} levels"),
                );
                return;
            }
            if let (Some(filter), Some(p)) = (&self.opts.platform, &d.platform) {
                if !p.matches(filter) {
                    continue;
                }
            }
            let loc = self.root.child(d.digest.clone());
            let Some(bytes) = self.manifest_doc(store, &d, &loc) else {
                continue;
            };
            self.parsed(
                store,
                &bytes,
                d.digest.clone(),
                d.platform.clone(),
                depth,
                out,
            );
        }
    }

    fn parsed(
        &mut self,
        store: &mut dyn Store,
        bytes: &[u8],
        digest: String,
        platform: Option<Platform>,
        depth: u32,
        out: &mut Vec<PlatformImage>,
    ) {
        match model::parse_manifest(bytes) {
            Ok(Manifest::Index(children)) => {
                self.resolve(store, children, depth.saturating_add(1), out);
            }
            Ok(Manifest::Image { config, layers }) => {
                if out.iter().any(|p| p.manifest_digest == digest) {
                    return; // the same manifest under two tags
                }
                out.push(PlatformImage {
                    label: platform.map(|p| p.label()).unwrap_or_default(),
                    manifest_digest: digest,
                    config,
                    layers,
                    legacy: false,
                });
            }
            Err(e) => {
                let loc = self.root.child(digest.clone());
                let msg = format!("manifest {digest}: {e}");
                self.finding(&MALFORMED, loc.clone(), msg.clone());
                self.failed(loc, msg);
            }
        }
    }

    /// Reads one platform image: config, then every layer in order.
    fn read_platform(
        &mut self,
        store: &mut dyn Store,
        img: &PlatformImage,
        allow: Option<&mut Allowlist>,
    ) {
        // Config: small, read whole and verified.
        let mut label = img.label.clone();
        let mut diff_ids = Vec::new();
        let has_config = !img.config.digest.is_empty() || img.config.path.is_some();
        if has_config {
            let cfg_loc = self
                .root
                .child(if label.is_empty() {
                    "image".into()
                } else {
                    label.clone()
                })
                .child(if img.config.digest.is_empty() {
                    img.config.path.clone().unwrap_or_default()
                } else {
                    img.config.digest.clone()
                });
            match store.small_blob(&img.config) {
                Ok(bytes) if bytes.len() as u64 <= MAX_DOCUMENT => {
                    if !img.config.digest.is_empty() {
                        self.verify_small(&img.config, &bytes, &cfg_loc);
                    }
                    let cfg = model::parse_config(&bytes);
                    if label.is_empty() {
                        if let Some(p) = &cfg.platform {
                            label = p.label();
                        }
                    }
                    diff_ids = cfg.diff_ids;
                }
                Ok(_) => {
                    self.finding(&MALFORMED, cfg_loc, "image config is too large".into());
                }
                Err(e) => {
                    let msg = format!("cannot read image config: {e}");
                    self.finding(&MALFORMED, cfg_loc.clone(), msg.clone());
                    self.failed(cfg_loc, msg);
                }
            }
        }
        if label.is_empty() {
            label = "image".into();
        }
        if let (Some(filter), true) = (&self.opts.platform, img.legacy) {
            // Legacy archives have no index: the filter applies to the config's platform.
            let matches = Platform {
                os: label.split('/').next().unwrap_or("").to_owned(),
                architecture: label.split('/').nth(1).unwrap_or("").to_owned(),
                variant: label.split('/').nth(2).map(str::to_owned),
            }
            .matches(filter);
            if !matches {
                return;
            }
        }
        let base = self.root.child(label.clone());
        self.sink.artifacts.push(ArtifactRecord {
            location: base.child(if img.manifest_digest.is_empty() {
                "manifest.json".to_owned()
            } else {
                img.manifest_digest.clone()
            }),
            format: Format::Unknown,
            size: 0,
            status: Status::Scanned {
                scanner: "image".into(),
            },
            sha256: None,
        });
        let diff_ids_usable = diff_ids.len() == img.layers.len();
        if !diff_ids.is_empty() && !diff_ids_usable {
            self.finding(
                &MALFORMED,
                base.clone(),
                format!(
                    "config lists {} diff_ids for {} layers",
                    diff_ids.len(),
                    img.layers.len()
                ),
            );
        }
        let mut view = FsView::default();
        for (i, d) in img.layers.iter().enumerate() {
            let expected_diff = if diff_ids_usable {
                diff_ids.get(i)
            } else {
                None
            };
            self.read_layer(store, d, expected_diff, &base, &mut view);
        }
        let mut sink = std::mem::take(&mut self.sink);
        if let Err(e) = packages::check(&view, allow, &mut sink) {
            sink.artifacts.push(ArtifactRecord {
                location: base,
                format: Format::Unknown,
                size: 0,
                status: Status::Failed {
                    error: e.to_string(),
                },
                sha256: None,
            });
        }
        self.sink = sink;
    }

    fn read_layer(
        &mut self,
        store: &mut dyn Store,
        d: &Descriptor,
        expected_diff: Option<&String>,
        base: &Location,
        view: &mut FsView,
    ) {
        let id = if d.digest.is_empty() {
            expected_diff
                .cloned()
                .or_else(|| d.path.clone())
                .unwrap_or_else(|| "layer".into())
        } else {
            d.digest.clone()
        };
        let loc = base.child(id.clone());
        let mut reader = match store.blob(d) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("layer {id}: {e}");
                self.finding(&MALFORMED, loc.clone(), msg.clone());
                self.failed(loc, msg);
                return;
            }
        };
        let algorithm =
            Digest::parse(&d.digest).map_or_else(|| "sha256".to_owned(), |g| g.algorithm);
        // The layer's own decompression budget, scaled by its declared (compressed) size.
        let max = self
            .engine
            .options()
            .limits
            .uncompressed_budget(d.declared_size().unwrap_or(0));
        let ing = match layer::ingest(&mut reader, &algorithm, d.declared_size(), max) {
            Ok(i) => i,
            Err(e) => {
                let msg = format!("layer {id}: {e}");
                self.failed(loc, msg);
                return;
            }
        };
        drop(reader);
        if !d.digest.is_empty() && ing.blob_digest != d.digest {
            self.finding(
                &DIGEST_MISMATCH,
                loc.clone(),
                format!(
                    "layer content hashes to {}, not {}",
                    ing.blob_digest, d.digest
                ),
            );
            if let Some(f) = self.sink.findings.last_mut() {
                f.evidence.insert("expected".into(), d.digest.clone());
                f.evidence.insert("actual".into(), ing.blob_digest.clone());
            }
        }
        if let Some(expected) = expected_diff {
            let complete = ing.error.is_none() && !ing.budget_hit;
            if complete && ing.diff_id != *expected {
                self.finding(
                    &DIGEST_MISMATCH,
                    loc.clone(),
                    format!(
                        "uncompressed layer hashes to {}, the config's diff_id is {expected}",
                        ing.diff_id
                    ),
                );
                if let Some(f) = self.sink.findings.last_mut() {
                    f.evidence.insert("kind".into(), "diff_id".into());
                    f.evidence.insert("expected".into(), expected.clone());
                    f.evidence.insert("actual".into(), ing.diff_id.clone());
                }
            }
        }
        if let Some(size) = d.declared_size() {
            if ing.oversized || (ing.blob_len < size && ing.error.is_none()) {
                self.finding(
                    &SIZE_MISMATCH,
                    loc.clone(),
                    if ing.oversized {
                        format!(
                            "layer is larger than the declared {size} bytes; reading stopped there"
                        )
                    } else {
                        format!(
                            "layer has {} bytes, the descriptor declares {size}",
                            ing.blob_len
                        )
                    },
                );
            }
        }
        if let Some(err) = &ing.error {
            self.finding(
                &MALFORMED,
                loc.clone(),
                format!(
                    "layer ({} compressed) could not be read completely: {err}",
                    ing.compression.name()
                ),
            );
        }
        if ing.budget_hit {
            self.finding(
                &crate::codes::engine::BUDGET_EXCEEDED,
                loc.clone(),
                "layer is larger than the decompression budget; the rest was not scanned".into(),
            );
        }
        let content = Content::Temp {
            file: std::sync::Arc::new(ing.file),
            len: ing.len,
        };
        let head = content.head(SNIFF_LEN).unwrap_or_default();
        if layer::looks_like_tar(&head) {
            if let Content::Temp { file, .. } = &content {
                if let Err(e) = layer::apply_to_view(file.as_file(), &loc, view) {
                    self.finding(
                        &MALFORMED,
                        loc.clone(),
                        format!("layer tar could not be read: {e}"),
                    );
                }
            }
            if self.opts.scan_layers {
                let a = Artifact {
                    location: loc,
                    name: id,
                    content,
                    format: Format::ImageLayer,
                    depth: 2,
                };
                self.engine.scan_artifacts(vec![a], &mut self.sink);
            }
        } else if ing.len > 0 && self.opts.scan_layers {
            // A raw single-file layer (oras pushes files as layers): scan it as that file.
            let name = d
                .annotations
                .get(model::TITLE)
                .cloned()
                .unwrap_or_else(|| id.clone());
            let format = sniff(&head, &name);
            let a = Artifact {
                location: loc.child(name.clone()),
                name,
                content,
                format,
                depth: 3,
            };
            self.engine.scan_artifacts(vec![a], &mut self.sink);
        }
    }
}

/// Reads the image `target` (shown as `display` in locations) into `sink`: verified blobs,
/// scanned layers, inventory and vetting. Problems reaching the image are recorded as a failed
/// artifact (exit code 2) rather than returned, so one bad target does not stop a run.
pub fn scan_image(
    engine: &Engine,
    target: &ImageTarget,
    display: &str,
    opts: &ImageOptions,
    mut allow: Option<&mut Allowlist>,
    sink: &mut Sink,
) {
    let mut r = Reader {
        engine,
        opts,
        root: Location::file(display),
        sink: Sink::default(),
    };
    let mut images = Vec::new();
    match target {
        ImageTarget::Registry(reference) => {
            let mut reg = match registry::Registry::new(reference, opts) {
                Ok(reg) => reg,
                Err(e) => {
                    r.failed(r.root.clone(), e);
                    sink.merge(r.sink);
                    return;
                }
            };
            match reg.root() {
                Ok((bytes, digest)) => {
                    r.parsed(&mut reg, &bytes, digest, None, 0, &mut images);
                    for img in images {
                        r.read_platform(&mut reg, &img, allow.as_deref_mut());
                    }
                }
                Err(e) => {
                    let root = r.root.clone();
                    r.failed(root, e.to_string());
                }
            }
        }
        ImageTarget::Layout(dir) => {
            let mut store = LayoutDir::new(dir);
            match store.index() {
                Ok(bytes) => {
                    read_index(&mut r, &mut store, &bytes, &mut images);
                    for img in images {
                        r.read_platform(&mut store, &img, allow.as_deref_mut());
                    }
                }
                Err(e) => {
                    let root = r.root.clone();
                    r.finding(&MALFORMED, root.clone(), e.to_string());
                    r.failed(root, e.to_string());
                }
            }
        }
        ImageTarget::Archive(path) => match open_archive(path) {
            Ok((mut store, _keep)) => {
                read_archive(&mut r, &mut store, &mut images);
                for img in images {
                    r.read_platform(&mut store, &img, allow.as_deref_mut());
                }
            }
            Err(e) => {
                let root = r.root.clone();
                r.failed(root, e.to_string());
            }
        },
    }
    sink.merge(r.sink);
}

/// Opens an image tarball, decompressing a gzip/zstd-wrapped one into a temporary file first.
fn open_archive(path: &Path) -> Result<(ImageTar, Option<tempfile::NamedTempFile>), BlobError> {
    let content = Content::file(path.to_path_buf())?;
    let head = content.head(SNIFF_LEN)?;
    let comp = layer::Compression::sniff(&head);
    if comp == layer::Compression::None {
        return Ok((ImageTar::open(path)?, None));
    }
    let mut f = std::fs::File::open(path)?;
    let ing = layer::ingest(&mut f, "sha256", None, u64::MAX)?;
    if let Some(e) = ing.error {
        return Err(BlobError::Other(format!("cannot decompress: {e}")));
    }
    let tar = ImageTar::open(ing.file.path())?;
    Ok((tar, Some(ing.file)))
}

fn read_index(
    r: &mut Reader<'_>,
    store: &mut dyn Store,
    bytes: &[u8],
    images: &mut Vec<PlatformImage>,
) {
    match model::parse_manifest(bytes) {
        Ok(Manifest::Index(descs)) => r.resolve(store, descs, 0, images),
        Ok(Manifest::Image { .. }) => {
            let root = r.root.clone();
            r.finding(
                &MALFORMED,
                root,
                "index.json is a manifest, not an index".into(),
            );
        }
        Err(e) => {
            let root = r.root.clone();
            let msg = format!("index.json: {e}");
            r.finding(&MALFORMED, root.clone(), msg.clone());
            r.failed(root, msg);
        }
    }
}

fn read_archive(r: &mut Reader<'_>, store: &mut ImageTar, images: &mut Vec<PlatformImage>) {
    // Docker ≥ 25 and OCI layout tars: index.json is authoritative (its blobs are addressed by
    // digest, so they are verified); the legacy manifest.json is used only without it.
    if store.has("index.json") && store.has_prefix("blobs/") {
        match store.read_member("index.json", MAX_DOCUMENT) {
            Ok(bytes) => read_index(r, store, &bytes, images),
            Err(e) => {
                let root = r.root.clone();
                r.failed(root, e.to_string());
            }
        }
        return;
    }
    let bytes = match store.read_member("manifest.json", MAX_DOCUMENT) {
        Ok(b) => b,
        Err(e) => {
            let root = r.root.clone();
            let msg = format!("neither index.json nor manifest.json readable: {e}");
            r.finding(&MALFORMED, root.clone(), msg.clone());
            r.failed(root, msg);
            return;
        }
    };
    let entries = match source::parse_legacy_manifest(&bytes) {
        Ok(e) => e,
        Err(e) => {
            let root = r.root.clone();
            let msg = format!("manifest.json: {e}");
            r.finding(&MALFORMED, root.clone(), msg.clone());
            r.failed(root, msg);
            return;
        }
    };
    for (i, e) in entries.into_iter().enumerate() {
        // Config is named `<sha256 hex>.json` (or `blobs/sha256/<hex>`): its name is its digest.
        let stem = e
            .config
            .rsplit('/')
            .next()
            .unwrap_or(&e.config)
            .trim_end_matches(".json");
        let config_digest = Digest::parse(&format!("sha256:{stem}"))
            .map(|d| d.to_string())
            .unwrap_or_default();
        let layers = e
            .layers
            .iter()
            .map(|l| {
                // `blobs/sha256/<hex>` layer paths are digests of the (possibly compressed) blob.
                let digest = l
                    .strip_prefix("blobs/sha256/")
                    .and_then(|h| Digest::parse(&format!("sha256:{h}")))
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                Descriptor {
                    digest,
                    path: Some(l.clone()),
                    ..Descriptor::default()
                }
            })
            .collect();
        images.push(PlatformImage {
            label: String::new(),
            manifest_digest: format!("manifest.json#{i}"),
            config: Descriptor {
                digest: config_digest,
                path: Some(e.config.clone()),
                ..Descriptor::default()
            },
            layers,
            legacy: true,
        });
    }
}
