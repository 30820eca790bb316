#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Registry access through `oci-client`, behind the blocking [`Store`] interface: tokio stays
//! inside this module (one current-thread runtime per image), so the library API is blocking.
//!
//! Manifests are pulled raw (`pull_manifest_raw`, which also checks the digest of a by-digest
//! pull) and parsed by modelgate's own tolerant model; blobs are streamed (`pull_blob_stream`) and
//! verified by the caller, so layers of any media type are accepted (`Client::pull` would reject
//! unknown layer types).

use std::io::{self, Read};

use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::model::{Descriptor, MANIFEST_TYPES, MAX_DOCUMENT};
use super::source::{BlobError, Store};
use super::ImageOptions;

/// A parsed `oci://` reference and the client to pull it.
pub struct Registry {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) client: Client,
    pub(crate) reference: Reference,
    pub(crate) auth: RegistryAuth,
    /// How the credentials were obtained (for the report).
    pub auth_source: &'static str,
}

/// Whether `host[:port]` is a loopback address (plain HTTP is allowed there).
pub fn is_loopback(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A readable description of a registry error, with its causes.
pub(crate) fn describe(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::AuthenticationFailure(m) => format!("authentication failed: {m}"),
        OciDistributionError::UnauthorizedError { url } => {
            format!("not authorized (wrong or missing credentials): {url}")
        }
        OciDistributionError::ImageManifestNotFoundError(m) => format!("manifest not found: {m}"),
        OciDistributionError::RequestError(r) => {
            let mut s = format!("registry request failed: {r}");
            let mut src = std::error::Error::source(r);
            while let Some(e) = src {
                s.push_str(": ");
                s.push_str(&e.to_string());
                src = e.source();
            }
            s
        }
        other => other.to_string(),
    }
}

impl Registry {
    /// Prepares a client for `reference` (`HOST[:PORT]/REPO[:TAG|@DIGEST]`, without `oci://`).
    pub fn new(reference: &str, opts: &ImageOptions) -> Result<Self, String> {
        let reference: Reference = reference
            .parse()
            .map_err(|e| format!("invalid image reference {reference:?}: {e}"))?;
        let registry = reference.resolve_registry().to_owned();
        let plain_http =
            is_loopback(&registry) || opts.insecure_registries.iter().any(|h| h == &registry);
        let protocol = if plain_http {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let (auth, auth_source) = if let Some(token) = &opts.bearer_token {
            (RegistryAuth::Bearer(token.clone()), "bearer token")
        } else if let (Some(u), Some(p)) = (&opts.username, &opts.password) {
            (RegistryAuth::Basic(u.clone(), p.clone()), "command line")
        } else if opts.docker_config {
            match docker_credential::get_credential(&registry) {
                Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => {
                    (RegistryAuth::Basic(u, p), "docker config")
                }
                // An identity token is an OAuth refresh token; oci-client cannot exchange it.
                Ok(docker_credential::DockerCredential::IdentityToken(_)) | Err(_) => {
                    (RegistryAuth::Anonymous, "anonymous")
                }
            }
        } else {
            (RegistryAuth::Anonymous, "anonymous")
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("async runtime: {e}"))?;
        Ok(Self {
            rt,
            client: Client::new(config),
            reference,
            auth,
            auth_source,
        })
    }

    /// The root manifest: `(bytes, digest)`.
    pub fn root(&mut self) -> Result<(Vec<u8>, String), BlobError> {
        let r = self.reference.clone();
        self.rt
            .block_on(
                self.client
                    .pull_manifest_raw(&r, &self.auth, MANIFEST_TYPES),
            )
            .map(|(b, d)| (b.to_vec(), d))
            .map_err(|e| BlobError::Unavailable(describe(&e)))
    }

    fn oci_descriptor(d: &Descriptor) -> OciDescriptor {
        OciDescriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size.unwrap_or(0),
            ..OciDescriptor::default()
        }
    }
}

impl Store for Registry {
    fn manifest(&mut self, d: &Descriptor) -> Result<Vec<u8>, BlobError> {
        let r = self.reference.clone_with_digest(d.digest.clone());
        let (bytes, _) = self
            .rt
            .block_on(
                self.client
                    .pull_manifest_raw(&r, &self.auth, MANIFEST_TYPES),
            )
            .map_err(|e| match &e {
                OciDistributionError::ImageManifestNotFoundError(_) => {
                    BlobError::Missing(d.digest.clone())
                }
                OciDistributionError::DigestError(_) => BlobError::Other(format!(
                    "manifest {} does not match its digest: {e}",
                    d.digest
                )),
                _ => BlobError::Other(describe(&e)),
            })?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Ok(bytes
                .get(..=MAX_DOCUMENT as usize)
                .unwrap_or(&bytes)
                .to_vec());
        }
        Ok(bytes.to_vec())
    }

    fn blob(&mut self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, BlobError> {
        let desc = Self::oci_descriptor(d);
        let stream = self
            .rt
            .block_on(self.client.pull_blob_stream(&self.reference, &desc))
            .map_err(|e| match &e {
                OciDistributionError::RegistryError { envelope, .. }
                    if envelope.errors.iter().any(|x| {
                        matches!(x.code, oci_client::errors::OciErrorCode::BlobUnknown)
                    }) =>
                {
                    BlobError::Missing(d.digest.clone())
                }
                _ => BlobError::Other(describe(&e)),
            })?;
        Ok(Box::new(StreamReader {
            rt: &self.rt,
            stream: stream.stream,
            buf: bytes::Bytes::new(),
            done: false,
        }))
    }
}

/// A blocking `Read` over an async byte stream, driven by the registry's runtime.
struct StreamReader<'a> {
    rt: &'a tokio::runtime::Runtime,
    stream: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, io::Error>>,
    buf: bytes::Bytes,
    done: bool,
}

impl Read for StreamReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rt.block_on(self.stream.next()) {
                None => self.done = true,
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => {
                    // oci-client's own digest check fails at the end of the stream; the caller
                    // computes and reports the digest itself, so that is simply the end.
                    let is_digest = e
                        .get_ref()
                        .is_some_and(|inner| inner.to_string().contains("Invalid digest"));
                    if is_digest {
                        self.done = true;
                    } else {
                        return Err(e);
                    }
                }
            }
        }
        let n = out.len().min(self.buf.len());
        let chunk = self.buf.split_to(n);
        out.get_mut(..n)
            .ok_or_else(|| io::Error::other("buffer"))?
            .copy_from_slice(&chunk);
        Ok(n)
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(is_loopback("127.3.4.5"));
        assert!(!is_loopback("registry.example:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
