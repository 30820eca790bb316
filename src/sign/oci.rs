//! Signing container images in an OCI registry and verifying them.
//!
//! [`sign_image`] resolves `HOST[:PORT]/REPO[:TAG|@DIGEST]` to the digest of its root manifest,
//! scans the image *pinned to that digest* with the image scanner (every platform of an index),
//! refuses unless the report is approved, and signs a Sigstore bundle v0.3 → DSSE envelope →
//! in-toto Statement v1 whose subject is `{name: repository, digest: {sha256: manifest digest}}`
//! and whose predicate is modelgate's scan attestation ([`super::SCAN_PREDICATE_TYPE`]: verdict,
//! policy, signature database digest, summary).
//!
//! For an image index the index digest is signed, not one platform manifest: the index lists every
//! platform manifest by digest, so one signature covers all platforms (all of which were scanned),
//! and the digest a tag resolves to, the one a runtime or an admission controller sees, is the
//! index digest.
//!
//! The bundle is stored as an OCI 1.1 referrer, the layout cosign v3 uses (sigstore/cosign
//! `specs/BUNDLE_SPEC.md`): the bundle JSON as a blob of media type
//! `application/vnd.dev.sigstore.bundle.v0.3+json`, the empty config
//! (`application/vnd.oci.empty.v1+json`, `{}`), and a manifest with that `artifactType`, the
//! image as `subject` and the `dev.sigstore.bundle.content`, `dev.sigstore.bundle.predicateType`
//! and `org.opencontainers.image.created` annotations. The manifest is pushed by digest (no tag).
//!
//! Registries without the referrers API (distribution 2.8, which Debian ships, answers 404 and
//! returns no `OCI-Subject` header) need the referrers *tag schema*: an image index at tag
//! `sha256-<hex>` listing the referrers, maintained by clients. After pushing, [`sign_image`] asks
//! for the referrers; when the registry's API does not list the new manifest, it reads (or
//! creates) the tag-schema index, adds the descriptor (keeping every other entry and field), pushes
//! it back and reads it again to make sure a concurrent writer did not drop the entry (retrying a
//! few times). A tag that holds something other than an image index is never overwritten.
//!
//! [`verify_image`] resolves the digest, collects referrers from the API and the tag schema, keeps
//! those with the bundle artifact type, and checks each: the referrer's `subject` is this image,
//! the bundle blob matches its digest, the bundle verifies with the key, the predicate is a scan
//! attestation and a statement subject carries this manifest digest. One valid signature suffices;
//! otherwise every candidate's failure is reported.
//!
//! Both functions block; tokio stays inside the registry client as in [`crate::image`].

use std::fmt::Write as _;

use futures_util::StreamExt as _;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::{Reference, RegistryOperation};
use serde_json::{json, Value};

use super::attest::{self, ModelRef, ScanPredicate};
use super::bundle::{self, Bundle, Subject, BUNDLE_MEDIA_TYPE};
use super::keys::{KeyType, PrivateKey, PublicKey};
use super::{sign_subject, Refusal, SignError, VerifyError, SCAN_PREDICATE_TYPE};
use crate::engine::Engine;
use crate::error::SetupError;
use crate::finding::{Sink, Status};
use crate::hash;
use crate::image::model::MANIFEST_TYPES;
use crate::image::registry::{describe, Registry};
use crate::image::{self, ImageOptions, ImageTarget};
use crate::policy::Policy;
use crate::report::Report;

/// Media type of the empty config descriptor of artifact manifests.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config blob.
pub const EMPTY_BLOB: &[u8] = b"{}";
/// Annotation naming the bundle's content kind (`dsse-envelope` here).
pub const ANNOTATION_CONTENT: &str = "dev.sigstore.bundle.content";
/// Annotation naming the in-toto predicate type inside the bundle.
pub const ANNOTATION_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
/// Annotation with the RFC 3339 creation time.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Title annotation of the bundle layer.
const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// Largest bundle blob read from a registry.
pub const MAX_OCI_BUNDLE: u64 = 16 * 1024 * 1024;
/// Most bundle referrers checked per image (a hostile registry may list millions).
pub const MAX_CANDIDATES: usize = 64;
/// Most entries kept in a tag-schema index before refusing to grow it.
const MAX_INDEX_ENTRIES: usize = 10_000;
/// Attempts to get the descriptor into the tag-schema index despite concurrent writers.
const INDEX_ATTEMPTS: usize = 5;

/// A registry failure (reaching it, a reference, an unexpected document).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid image reference: {0}")]
    Reference(String),
    #[error("{what}: {detail}")]
    Request { what: String, detail: String },
    #[error("unsupported image: {0}")]
    Unsupported(String),
}

/// A failure of [`sign_image`].
#[derive(Debug, thiserror::Error)]
pub enum OciSignError {
    /// The scan did not approve the image; nothing was pushed.
    #[error("refusing to sign {image}: {reason}")]
    Refused {
        image: String,
        reason: Refusal,
        report: Box<Report>,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("tag {tag} holds {found}, not a referrers image index; not overwriting it")]
    IndexConflict { tag: String, found: String },
    #[error("the referrers index at tag {tag} has {entries} entries (limit {MAX_INDEX_ENTRIES})")]
    IndexFull { tag: String, entries: usize },
    #[error("the referrers index at tag {tag} kept losing the new entry to concurrent updates; the signature {referrer} is pushed but not listed")]
    IndexRace { tag: String, referrer: String },
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("scan setup failed: {0}")]
    Scan(#[from] SetupError),
}

/// Why one referrer did not verify.
#[derive(Debug, thiserror::Error)]
pub enum CandidateError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("signature for another image: it was made for {signed}, this image is {expected}")]
    OtherImage { signed: String, expected: String },
    #[error("the referrer manifest's subject is {0}, not this image")]
    ForeignReferrer(String),
    #[error("the bundle blob does not match its digest {0} (altered in the registry)")]
    BlobDigest(String),
    #[error("the bundle blob is larger than {MAX_OCI_BUNDLE} bytes")]
    TooLarge,
    #[error("{0}")]
    Unreadable(String),
}

/// One referrer that was checked and failed.
#[derive(Debug)]
pub struct CandidateFailure {
    /// Digest of the referrer manifest.
    pub referrer: String,
    pub error: CandidateError,
}

fn describe_failures(f: &[CandidateFailure]) -> String {
    let mut s = format!("{} signature(s) checked", f.len());
    for c in f.iter().take(10) {
        let _ = write!(s, "; {}: {}", c.referrer, c.error);
    }
    if f.len() > 10 {
        let _ = write!(s, "; … ({} more)", f.len() - 10);
    }
    s
}

/// A failure of [`verify_image`].
#[derive(Debug, thiserror::Error)]
pub enum OciVerifyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("no signature found for {image} ({digest}): it has no Sigstore bundle referrer{}", if *.other_referrers > 0 { format!(" ({} referrer(s) of other types)", .other_referrers) } else { String::new() })]
    NoSignature {
        image: String,
        digest: String,
        other_referrers: usize,
    },
    #[error("no valid signature for {image} ({digest}): {}", describe_failures(.failures))]
    Invalid {
        image: String,
        digest: String,
        failures: Vec<CandidateFailure>,
    },
}

/// Options for [`sign_image`].
#[derive(Debug, Clone, Default)]
pub struct OciSignOptions {
    /// Registry access (credentials, insecure registries). `platform` is ignored: every platform
    /// is scanned, since the signature covers them all.
    pub image: ImageOptions,
    /// Judges the image's scan before signing (threshold and severity overrides).
    pub policy: Policy,
}

/// Where the new referrer was listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The registry's referrers API lists it.
    ReferrersApi,
    /// It was added to the tag-schema index at this tag.
    TagSchema(String),
}

/// The result of [`sign_image`].
#[derive(Debug, Clone)]
pub struct SignedImage {
    /// `oci://HOST/REPO@sha256:…`, what was scanned and signed.
    pub pinned: String,
    pub repository: String,
    /// `sha256:<hex>` of the root manifest or index.
    pub digest: String,
    pub media_type: String,
    /// Digest of the pushed referrer manifest.
    pub referrer: String,
    /// Digest of the bundle blob.
    pub bundle_digest: String,
    pub listing: Listing,
    pub key_type: KeyType,
    /// The approving scan report.
    pub report: Report,
}

/// The result of [`verify_image`].
#[derive(Debug, Clone)]
pub struct VerifiedImage {
    pub pinned: String,
    pub digest: String,
    pub media_type: String,
    /// Digest of the referrer whose bundle verified.
    pub referrer: String,
    /// The statement subject name (the repository at signing time).
    pub subject_name: String,
    pub key_type: KeyType,
    /// Bundle referrers found (valid or not).
    pub candidates: usize,
    pub scan: ScanPredicate,
}

/// The root document a reference resolves to.
struct Resolved {
    bytes_len: usize,
    digest: String,
    hex: String,
    media_type: String,
}

/// A registry connection for one repository.
struct Conn {
    reg: Registry,
}

fn req(what: impl Into<String>) -> impl FnOnce(OciDistributionError) -> RegistryError {
    let what = what.into();
    move |e| RegistryError::Request {
        what,
        detail: describe(&e),
    }
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
            )
        }),
        _ => false,
    }
}

/// The media type a manifest document declares (or implies).
fn media_type_of(v: &Value) -> String {
    if let Some(m) = v.get("mediaType").and_then(Value::as_str) {
        return m.to_owned();
    }
    if v.get("manifests").is_some() {
        OCI_IMAGE_INDEX_MEDIA_TYPE.to_owned()
    } else {
        OCI_IMAGE_MEDIA_TYPE.to_owned()
    }
}

impl Conn {
    fn open(reference: &str, opts: &ImageOptions) -> Result<Self, RegistryError> {
        let reg = Registry::new(reference, opts).map_err(RegistryError::Reference)?;
        Ok(Conn { reg })
    }

    fn at_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.reg.reference.registry().to_owned(),
            self.reg.reference.repository().to_owned(),
            digest.to_owned(),
        )
    }

    fn at_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.reg.reference.registry().to_owned(),
            self.reg.reference.repository().to_owned(),
            tag.to_owned(),
        )
    }

    fn repository(&self) -> String {
        format!(
            "{}/{}",
            self.reg.reference.registry(),
            self.reg.reference.repository()
        )
    }

    /// Resolves the reference to its root manifest digest (always SHA-256 of the bytes served).
    fn resolve(&mut self) -> Result<Resolved, RegistryError> {
        let r = self.reg.reference.clone();
        let (bytes, served) = self
            .reg
            .rt
            .block_on(
                self.reg
                    .client
                    .pull_manifest_raw(&r, &self.reg.auth, MANIFEST_TYPES),
            )
            .map_err(req(format!("resolving {r}")))?;
        let hex = hash::sha256_hex(&bytes);
        let digest = format!("sha256:{hex}");
        if !served.eq_ignore_ascii_case(&digest) {
            return Err(RegistryError::Unsupported(format!(
                "the registry names the manifest {served}, but its SHA-256 is {digest}"
            )));
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            RegistryError::Unsupported(format!("the manifest {digest} is not JSON: {e}"))
        })?;
        if v.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err(RegistryError::Unsupported(format!(
                "the manifest {digest} is not schemaVersion 2"
            )));
        }
        Ok(Resolved {
            bytes_len: bytes.len(),
            digest,
            hex,
            media_type: media_type_of(&v),
        })
    }

    fn authorize_push(&self) -> Result<(), RegistryError> {
        let r = self.reg.reference.clone();
        self.reg
            .rt
            .block_on(
                self.reg
                    .client
                    .auth(&r, &self.reg.auth, RegistryOperation::Push),
            )
            .map(|_| ())
            .map_err(req("authorizing the push"))
    }

    fn push_blob(&self, data: &[u8]) -> Result<String, RegistryError> {
        let digest = format!("sha256:{}", hash::sha256_hex(data));
        let r = self.at_digest(&digest);
        self.reg
            .rt
            .block_on(self.reg.client.push_blob(&r, data.to_vec(), &digest))
            .map_err(req(format!("pushing blob {digest}")))?;
        Ok(digest)
    }

    fn push_manifest(
        &self,
        r: &Reference,
        body: &[u8],
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let ct = reqwest::header::HeaderValue::from_str(media_type)
            .map_err(|e| RegistryError::Unsupported(e.to_string()))?;
        self.reg
            .rt
            .block_on(self.reg.client.push_manifest_raw(r, body.to_vec(), ct))
            .map(|_| ())
            .map_err(req(format!("pushing manifest {r}")))
    }

    /// A manifest or index, `None` when it does not exist.
    fn pull_doc(&self, r: &Reference) -> Result<Option<Vec<u8>>, RegistryError> {
        let accept = [
            OCI_IMAGE_INDEX_MEDIA_TYPE,
            OCI_IMAGE_MEDIA_TYPE,
            oci_client::manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE,
            oci_client::manifest::IMAGE_MANIFEST_MEDIA_TYPE,
        ];
        match self.reg.rt.block_on(
            self.reg
                .client
                .pull_manifest_raw(r, &self.reg.auth, &accept),
        ) {
            Ok((b, _)) => Ok(Some(b.to_vec())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(req(format!("reading {r}"))(e)),
        }
    }

    /// Referrer descriptors of `digest` from the referrers API (oci-client falls back to the tag
    /// schema on 404) and from the tag schema, deduplicated.
    fn referrers(&self, digest: &str) -> Result<Vec<Value>, RegistryError> {
        let subject = self.at_digest(digest);
        let api = self
            .reg
            .rt
            .block_on(self.reg.client.pull_referrers(&subject, None));
        let mut out: Vec<Value> = Vec::new();
        let api_err = match api {
            Ok(index) => {
                for m in index.manifests {
                    out.push(serde_json::to_value(m).unwrap_or(Value::Null));
                }
                None
            }
            Err(e) => Some(describe(&e)),
        };
        let tag = digest.replace(':', "-");
        let tagged = match self.pull_doc(&self.at_tag(&tag)) {
            Ok(t) => t,
            Err(e) if api_err.is_some() => return Err(e),
            Err(_) => None,
        };
        if let Some(bytes) = tagged {
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                if let Some(ms) = v.get("manifests").and_then(Value::as_array) {
                    out.extend(ms.iter().cloned());
                }
            }
        } else if let Some(e) = api_err {
            return Err(RegistryError::Request {
                what: format!("listing the referrers of {digest}"),
                detail: e,
            });
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|d| {
            d.get("digest")
                .and_then(Value::as_str)
                .is_some_and(|s| seen.insert(s.to_owned()))
        });
        Ok(out)
    }

    /// A blob, read up to `cap` bytes and checked against its SHA-256 digest.
    fn pull_blob(&self, digest: &str, size: i64, cap: u64) -> Result<Vec<u8>, CandidateError> {
        if u64::try_from(size).map_or(true, |s| s > cap) {
            return Err(CandidateError::TooLarge);
        }
        let Some(expected) = digest.strip_prefix("sha256:") else {
            return Err(CandidateError::Unreadable(format!(
                "unsupported blob digest {digest}"
            )));
        };
        let desc = OciDescriptor {
            media_type: BUNDLE_MEDIA_TYPE.to_owned(),
            digest: digest.to_owned(),
            size,
            ..OciDescriptor::default()
        };
        let r = self.at_digest(digest);
        let data = self.reg.rt.block_on(async {
            let mut s = self
                .reg
                .client
                .pull_blob_stream(&r, &desc)
                .await
                .map_err(|e| {
                    CandidateError::Unreadable(format!("bundle blob: {}", describe(&e)))
                })?;
            let mut buf: Vec<u8> = Vec::new();
            while let Some(chunk) = s.stream.next().await {
                match chunk {
                    Ok(c) => {
                        if (buf.len() as u64).saturating_add(c.len() as u64) > cap {
                            return Err(CandidateError::TooLarge);
                        }
                        buf.extend_from_slice(&c);
                    }
                    // oci-client's own digest check fails at the end; the digest is checked below.
                    Err(e) if e.to_string().contains("Invalid digest") => break,
                    Err(e) => return Err(CandidateError::Unreadable(format!("bundle blob: {e}"))),
                }
            }
            Ok(buf)
        })?;
        if !hash::sha256_hex(&data).eq_ignore_ascii_case(expected) {
            return Err(CandidateError::BlobDigest(digest.to_owned()));
        }
        Ok(data)
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Whether an index document lists `digest`.
fn lists(index: &Value, digest: &str) -> bool {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .is_some_and(|ms| {
            ms.iter()
                .any(|m| m.get("digest").and_then(Value::as_str) == Some(digest))
        })
}

/// Scans `reference` (`HOST[:PORT]/REPO[:TAG|@DIGEST]`, without `oci://`) pinned to its digest
/// and, when approved, pushes a signature as a referrer. See the module documentation.
pub fn sign_image(
    engine: &Engine,
    reference: &str,
    key: &PrivateKey,
    opts: &OciSignOptions,
) -> Result<SignedImage, OciSignError> {
    let mut conn = Conn::open(reference, &opts.image)?;
    let root = conn.resolve()?;
    let repository = conn.repository();
    let pinned = format!("{repository}@{}", root.digest);
    let display = format!("oci://{pinned}");

    // Scan exactly the content that will be signed: every platform, pinned by digest.
    let scan_opts = ImageOptions {
        platform: None,
        scan_layers: true,
        ..opts.image.clone()
    };
    let mut sink = Sink::default();
    image::scan_image(
        engine,
        &ImageTarget::Registry(pinned.clone()),
        &display,
        &scan_opts,
        None,
        &mut sink,
    );
    let mut report = engine.report(vec![display.clone()], sink);
    if let Some(reason) = opts.policy.judge(&mut report).refusal() {
        return Err(OciSignError::Refused {
            image: display,
            reason,
            report: Box::new(report),
        });
    }

    let (files, bytes) = report
        .artifacts
        .iter()
        .filter(|a| matches!(a.status, Status::Scanned { .. }))
        .fold((0usize, 0u64), |(n, b), a| {
            (n.saturating_add(1), b.saturating_add(a.size))
        });
    let predicate = ScanPredicate::from_report(
        &report,
        attest::Policy::of(&opts.policy, engine.options().strict),
        &display,
        ModelRef {
            files,
            bytes,
            oms_payload_sha256: String::new(),
        },
    );
    let subject = Subject::sha256(conn.reg.reference.repository(), root.hex.clone());
    let bundle_json = sign_subject(subject, SCAN_PREDICATE_TYPE, &predicate, key)?.to_json();

    // Fail before pushing anything when the referrers tag cannot be maintained.
    read_tag_index(&conn, &root.digest)?;
    conn.authorize_push()?;
    let bundle_digest = conn.push_blob(bundle_json.as_bytes())?;
    let config_digest = conn.push_blob(EMPTY_BLOB)?;
    let created = now_rfc3339();
    let annotations = json!({
        ANNOTATION_CONTENT: "dsse-envelope",
        ANNOTATION_PREDICATE_TYPE: SCAN_PREDICATE_TYPE,
        ANNOTATION_CREATED: created,
    });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": config_digest,
            "size": EMPTY_BLOB.len(),
            "data": "e30=",
        },
        "layers": [{
            "mediaType": BUNDLE_MEDIA_TYPE,
            "digest": bundle_digest,
            "size": bundle_json.len(),
            "annotations": { ANNOTATION_TITLE: format!("sha256-{}.sigstore.json", root.hex) },
        }],
        "subject": {
            "mediaType": root.media_type,
            "digest": root.digest,
            "size": root.bytes_len,
        },
        "annotations": annotations,
    });
    let body = serde_json::to_vec(&manifest).map_err(SignError::from)?;
    let referrer = format!("sha256:{}", hash::sha256_hex(&body));
    conn.push_manifest(&conn.at_digest(&referrer), &body, OCI_IMAGE_MEDIA_TYPE)?;

    let descriptor = json!({
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "digest": referrer,
        "size": body.len(),
        "artifactType": BUNDLE_MEDIA_TYPE,
        "annotations": annotations,
    });
    let listing = list_referrer(&conn, &root.digest, &referrer, &descriptor)?;

    Ok(SignedImage {
        pinned: display,
        repository,
        digest: root.digest,
        media_type: root.media_type,
        referrer,
        bundle_digest,
        listing,
        key_type: key.key_type(),
        report,
    })
}

/// The referrers tag-schema index of `subject_digest` (tag `sha256-<hex>`), `None` when the tag
/// does not exist; an error when the tag holds anything but an image index.
fn read_tag_index(conn: &Conn, subject_digest: &str) -> Result<Option<Value>, OciSignError> {
    let tag = subject_digest.replace(':', "-");
    let Some(bytes) = conn.pull_doc(&conn.at_tag(&tag))? else {
        return Ok(None);
    };
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| OciSignError::IndexConflict {
        tag: tag.clone(),
        found: "a document that is not JSON".into(),
    })?;
    let mt = media_type_of(&v);
    if mt != OCI_IMAGE_INDEX_MEDIA_TYPE || !v.get("manifests").is_some_and(Value::is_array) {
        return Err(OciSignError::IndexConflict {
            tag,
            found: format!("a {mt} document"),
        });
    }
    Ok(Some(v))
}

/// Makes the new referrer discoverable: nothing to do when the referrers API lists it, otherwise
/// add it to the tag-schema index.
fn list_referrer(
    conn: &Conn,
    subject_digest: &str,
    referrer: &str,
    descriptor: &Value,
) -> Result<Listing, OciSignError> {
    let tag = subject_digest.replace(':', "-");
    let tag_ref = conn.at_tag(&tag);
    let read_index = || read_tag_index(conn, subject_digest);

    let existing = read_index()?;
    if existing.as_ref().is_some_and(|v| lists(v, referrer)) {
        return Ok(Listing::TagSchema(tag));
    }
    // A registry with the referrers API lists the new manifest by itself.
    let subject = conn.at_digest(subject_digest);
    if let Ok(idx) = conn
        .reg
        .rt
        .block_on(conn.reg.client.pull_referrers(&subject, None))
    {
        if idx.manifests.iter().any(|m| m.digest == referrer) {
            return Ok(Listing::ReferrersApi);
        }
    }

    let mut current = existing;
    for _ in 0..INDEX_ATTEMPTS {
        let mut index = current.take().unwrap_or_else(|| {
            json!({
                "schemaVersion": 2,
                "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE,
                "manifests": [],
            })
        });
        if !lists(&index, referrer) {
            let Some(ms) = index.get_mut("manifests").and_then(Value::as_array_mut) else {
                return Err(OciSignError::IndexConflict {
                    tag,
                    found: "an index without a manifests list".into(),
                });
            };
            if ms.len() >= MAX_INDEX_ENTRIES {
                return Err(OciSignError::IndexFull {
                    tag,
                    entries: ms.len(),
                });
            }
            ms.push(descriptor.clone());
            let body = serde_json::to_vec(&index).map_err(SignError::from)?;
            conn.push_manifest(&tag_ref, &body, OCI_IMAGE_INDEX_MEDIA_TYPE)?;
        }
        // Read back: a concurrent signer may have replaced the index with its own version.
        current = read_index()?;
        if current.as_ref().is_some_and(|v| lists(v, referrer)) {
            return Ok(Listing::TagSchema(tag));
        }
    }
    Err(OciSignError::IndexRace {
        tag,
        referrer: referrer.to_owned(),
    })
}

/// Checks one referrer descriptor of the image `root`.
fn check_candidate(
    conn: &Conn,
    root: &Resolved,
    referrer: &str,
    key: &PublicKey,
) -> Result<(String, ScanPredicate), CandidateError> {
    let Some(bytes) = conn
        .pull_doc(&conn.at_digest(referrer))
        .map_err(|e| CandidateError::Unreadable(e.to_string()))?
    else {
        return Err(CandidateError::Unreadable(
            "the referrer manifest is listed but missing".into(),
        ));
    };
    if hash::sha256_hex(&bytes) != referrer.trim_start_matches("sha256:") {
        return Err(CandidateError::Unreadable(
            "the referrer manifest does not match its digest".into(),
        ));
    }
    let m: Value = serde_json::from_slice(&bytes)
        .map_err(|e| CandidateError::Unreadable(format!("referrer manifest: {e}")))?;
    let subject = m
        .get("subject")
        .and_then(|s| s.get("digest"))
        .and_then(Value::as_str)
        .unwrap_or("none");
    if subject != root.digest {
        return Err(CandidateError::ForeignReferrer(subject.to_owned()));
    }
    let layer = m
        .get("layers")
        .and_then(Value::as_array)
        .and_then(|ls| {
            ls.iter()
                .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(BUNDLE_MEDIA_TYPE))
        })
        .ok_or_else(|| CandidateError::Unreadable("the referrer has no bundle layer".into()))?;
    let digest = layer
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| CandidateError::Unreadable("the bundle layer has no digest".into()))?;
    let size = layer.get("size").and_then(Value::as_i64).unwrap_or(-1);
    let blob = conn.pull_blob(digest, size, MAX_OCI_BUNDLE)?;

    let b = Bundle::from_json(&blob)?;
    let v = b.verify(key)?;
    let st = bundle::parse_statement(&v.payload)?;
    if st.predicate_type != SCAN_PREDICATE_TYPE {
        return Err(VerifyError::UnknownPredicate(st.predicate_type).into());
    }
    let Some(s) = st.subject.iter().find(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|d| d.eq_ignore_ascii_case(&root.hex))
    }) else {
        let signed = st
            .subject
            .iter()
            .filter_map(|s| {
                s.digest
                    .get("sha256")
                    .map(|d| format!("{}@sha256:{d}", s.name))
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(CandidateError::OtherImage {
            signed: if signed.is_empty() {
                "no SHA-256 subject".into()
            } else {
                signed
            },
            expected: root.digest.clone(),
        });
    };
    let name = s.name.clone();
    let pred: ScanPredicate = serde_json::from_value(st.predicate)
        .map_err(|e| VerifyError::MalformedStatement(e.to_string()))?;
    Ok((name, pred))
}

/// The digest (`sha256:<hex>`) a reference resolves to: the SHA-256 of the root manifest or
/// index the registry serves, checked against the digest the registry names (what a runtime that
/// pulls the reference gets, and what [`verify_image`] looks for signatures of).
pub fn resolve_digest(reference: &str, opts: &ImageOptions) -> Result<String, RegistryError> {
    let mut conn = Conn::open(reference, opts)?;
    Ok(conn.resolve()?.digest)
}

/// Verifies that `reference` has a valid signature by `key`. See the module documentation.
pub fn verify_image(
    reference: &str,
    key: &PublicKey,
    opts: &ImageOptions,
) -> Result<VerifiedImage, OciVerifyError> {
    let mut conn = Conn::open(reference, opts)?;
    let root = conn.resolve()?;
    let pinned = format!("oci://{}@{}", conn.repository(), root.digest);
    let all = conn.referrers(&root.digest)?;
    let (bundles, others): (Vec<Value>, Vec<Value>) = all
        .into_iter()
        .partition(|d| d.get("artifactType").and_then(Value::as_str) == Some(BUNDLE_MEDIA_TYPE));
    if bundles.is_empty() {
        return Err(OciVerifyError::NoSignature {
            image: pinned,
            digest: root.digest,
            other_referrers: others.len(),
        });
    }
    let candidates = bundles.len();
    let mut failures = Vec::new();
    for d in bundles.iter().take(MAX_CANDIDATES) {
        let referrer = d
            .get("digest")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match check_candidate(&conn, &root, &referrer, key) {
            Ok((subject_name, scan)) => {
                return Ok(VerifiedImage {
                    pinned,
                    digest: root.digest,
                    media_type: root.media_type,
                    referrer,
                    subject_name,
                    key_type: key.key_type(),
                    candidates,
                    scan,
                })
            }
            Err(error) => failures.push(CandidateFailure { referrer, error }),
        }
    }
    Err(OciVerifyError::Invalid {
        image: pinned,
        digest: root.digest,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_is_declared_or_implied() {
        assert_eq!(
            media_type_of(&json!({"mediaType": "application/x"})),
            "application/x"
        );
        assert_eq!(
            media_type_of(&json!({"manifests": []})),
            OCI_IMAGE_INDEX_MEDIA_TYPE
        );
        assert_eq!(media_type_of(&json!({"layers": []})), OCI_IMAGE_MEDIA_TYPE);
    }

    #[test]
    fn lists_finds_digests_only_in_manifests() {
        let v = json!({"manifests": [{"digest": "sha256:aa"}], "digest": "sha256:bb"});
        assert!(lists(&v, "sha256:aa"));
        assert!(!lists(&v, "sha256:bb"));
        assert!(!lists(&json!({}), "sha256:aa"));
    }

    #[test]
    fn empty_blob_has_the_well_known_digest() {
        assert_eq!(
            hash::sha256_hex(EMPTY_BLOB),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
