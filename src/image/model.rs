//! The OCI / Docker schema 2 documents modelgate reads: descriptors, image manifests, image
//! indexes (manifest lists) and the parts of the image config it uses (platform, `rootfs.diff_ids`).
//!
//! Parsing is by shape, not by trusting `mediaType`: a document with `manifests` is an index, one
//! with `layers` (or an OCI artifact's `blobs`) is an image manifest. Unknown fields are ignored;
//! digests are validated strictly because they become file paths in image layouts.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;

use serde::Deserialize;

/// Largest manifest, index or config read (the distribution spec suggests 4 MiB for manifests).
pub const MAX_DOCUMENT: u64 = 16 * 1024 * 1024;
/// Most descriptors accepted in one manifest or index.
pub const MAX_ENTRIES: usize = 10_000;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Media types sent in `Accept` when pulling manifests.
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// The annotation naming a tag in an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation oras uses for the file name of a single-file layer.
pub const TITLE: &str = "org.opencontainers.image.title";

/// A validated content digest (`sha256:<64 hex>` or `sha512:<128 hex>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    pub algorithm: String,
    pub hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Option<Self> {
        let (alg, hex) = s.split_once(':')?;
        let want = match alg {
            "sha256" => 64,
            "sha512" => 128,
            _ => return None,
        };
        if hex.len() != want || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        Some(Self {
            algorithm: alg.to_owned(),
            hex: hex.to_owned(),
        })
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`.
    pub fn label(&self) -> String {
        let mut s = format!("{}/{}", self.os, self.architecture);
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            s.push('/');
            s.push_str(v);
        }
        s
    }

    /// Whether this platform matches a `--platform os/arch[/variant]` filter (a filter without a
    /// variant matches every variant).
    pub fn matches(&self, filter: &str) -> bool {
        let mut parts = filter.split('/');
        let os = parts.next().unwrap_or("");
        let arch = parts.next().unwrap_or("");
        let variant = parts.next();
        self.os == os
            && self.architecture == arch
            && variant.is_none_or(|v| self.variant.as_deref() == Some(v))
    }
}

/// A content descriptor.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub size: Option<i64>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
    /// For `docker save` legacy archives: the member path of this blob (not part of the JSON).
    #[serde(skip)]
    pub path: Option<String>,
}

impl Descriptor {
    /// The declared size, when present and non-negative.
    pub fn declared_size(&self) -> Option<u64> {
        self.size.and_then(|s| u64::try_from(s).ok())
    }
}

/// A parsed manifest document.
#[derive(Debug, Clone)]
pub enum Manifest {
    Index(Vec<Descriptor>),
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

/// Why a document could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("unsupported manifest type {0} (Docker schema 1 images cannot be verified)")]
    Unsupported(String),
    #[error("not an image manifest or index: {0}")]
    Shape(String),
    #[error("invalid digest {0:?}")]
    Digest(String),
    #[error("more than {MAX_ENTRIES} descriptors")]
    TooMany,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion", default)]
    schema_version: Option<i64>,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    blobs: Option<Vec<Descriptor>>,
}

/// Parses a manifest or index, validating every digest.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
    let mt = raw.media_type.clone().unwrap_or_default();
    if raw.schema_version == Some(1) || mt == DOCKER_SCHEMA1 || mt == DOCKER_SCHEMA1_SIGNED {
        return Err(ManifestError::Unsupported(if mt.is_empty() {
            "schemaVersion 1".into()
        } else {
            mt
        }));
    }
    let check = |d: &Descriptor| {
        Digest::parse(&d.digest)
            .map(|_| ())
            .ok_or_else(|| ManifestError::Digest(d.digest.clone()))
    };
    if let Some(m) = raw.manifests {
        if m.len() > MAX_ENTRIES {
            return Err(ManifestError::TooMany);
        }
        m.iter().try_for_each(check)?;
        return Ok(Manifest::Index(m));
    }
    let layers = raw.layers.or(raw.blobs);
    match (raw.config, layers) {
        (config, Some(layers)) => {
            if layers.len() > MAX_ENTRIES {
                return Err(ManifestError::TooMany);
            }
            layers.iter().try_for_each(check)?;
            let config = config.unwrap_or_default();
            if !config.digest.is_empty() {
                check(&config)?;
            }
            Ok(Manifest::Image { config, layers })
        }
        (Some(_), None) => Err(ManifestError::Shape("a config but no layers".into())),
        (None, None) => Err(ManifestError::Shape(if mt.is_empty() {
            "no manifests, layers or blobs".into()
        } else {
            format!("media type {mt} with no manifests or layers")
        })),
    }
}

/// The parts of an image config modelgate uses.
#[derive(Debug, Clone, Default)]
pub struct ImageConfig {
    pub platform: Option<Platform>,
    pub diff_ids: Vec<String>,
}

/// Reads platform and `rootfs.diff_ids` from a config blob; anything unparseable yields defaults
/// (artifact configs need not be image configs).
pub fn parse_config(bytes: &[u8]) -> ImageConfig {
    #[derive(Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Cfg {
        #[serde(default)]
        os: Option<String>,
        #[serde(default)]
        architecture: Option<String>,
        #[serde(default)]
        variant: Option<String>,
        #[serde(default)]
        rootfs: Option<RootFs>,
    }
    let Ok(c) = serde_json::from_slice::<Cfg>(bytes) else {
        return ImageConfig::default();
    };
    let platform = match (c.os, c.architecture) {
        (Some(os), Some(architecture)) if !os.is_empty() => Some(Platform {
            os,
            architecture,
            variant: c.variant,
        }),
        _ => None,
    };
    let mut diff_ids = c.rootfs.map(|r| r.diff_ids).unwrap_or_default();
    diff_ids.truncate(MAX_ENTRIES);
    ImageConfig { platform, diff_ids }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn digests() {
        assert!(Digest::parse(D).is_some());
        assert!(Digest::parse("sha256:../../etc/passwd").is_none());
        assert!(Digest::parse("md5:abc").is_none());
        assert!(Digest::parse(&D.to_uppercase()).is_none());
    }

    #[test]
    fn shapes() {
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
        );
        let Ok(Manifest::Index(m)) = parse_manifest(idx.as_bytes()) else {
            panic!("index")
        };
        let p = m
            .first()
            .and_then(|d| d.platform.clone())
            .unwrap_or_default();
        assert_eq!(p.label(), "linux/arm64/v8");
        assert!(p.matches("linux/arm64"));
        assert!(p.matches("linux/arm64/v8"));
        assert!(!p.matches("linux/amd64"));
        let man = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{D}"}},"layers":[{{"digest":"{D}"}}]}}"#
        );
        assert!(matches!(
            parse_manifest(man.as_bytes()),
            Ok(Manifest::Image { .. })
        ));
        assert!(matches!(
            parse_manifest(br#"{"schemaVersion":1,"fsLayers":[]}"#),
            Err(ManifestError::Unsupported(_))
        ));
        assert!(matches!(
            parse_manifest(br#"{"layers":[{"digest":"sha256:zz"}]}"#),
            Err(ManifestError::Digest(_))
        ));
        assert!(parse_manifest(b"{not json").is_err());
        let c = parse_config(
            br#"{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":["a"]}}"#,
        );
        assert_eq!(c.diff_ids, ["a"]);
    }
}
