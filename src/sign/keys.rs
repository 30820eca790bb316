//! Signing keys: Ed25519 (modelgate's native type) and ECDSA P-256 (the type OpenSSF model signing
//! accepts in its key mode). Private keys are PEM PKCS#8 (`BEGIN PRIVATE KEY`) or, for P-256,
//! SEC1 (`BEGIN EC PRIVATE KEY`, what `openssl ecparam -genkey` writes, with or without the
//! `EC PARAMETERS` block before it). Public keys are PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
//!
//! Signatures: Ed25519 signs the message itself (64 raw bytes); P-256 signs the SHA-256 of the
//! message with ECDSA (RFC 6979 nonces) and encodes the signature in ASN.1 DER, as Python's
//! `cryptography` (and so `model_signing`) requires.

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
use p256::pkcs8::der::asn1::ObjectIdentifier;
use p256::pkcs8::LineEnding;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::hash;

/// Largest key file read (a PEM key is a few hundred bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// Names of algorithm and curve OIDs people commonly feed to signing tools, for error messages.
fn oid_name(oid: &ObjectIdentifier) -> String {
    let known = [
        ("1.2.840.113549.1.1.1", "RSA"),
        ("1.2.840.10040.4.1", "DSA"),
        ("1.3.101.113", "Ed448"),
        ("1.3.101.110", "X25519"),
        ("1.3.101.111", "X448"),
        ("1.3.132.0.34", "EC P-384 (secp384r1)"),
        ("1.3.132.0.35", "EC P-521 (secp521r1)"),
        ("1.3.132.0.10", "EC secp256k1"),
        ("1.3.36.3.3.2.8.1.1.7", "EC brainpoolP256r1"),
    ];
    let s = oid.to_string();
    known
        .iter()
        .find(|(o, _)| *o == s)
        .map_or_else(|| format!("OID {s}"), |(_, n)| (*n).to_owned())
}

/// A fresh ECDSA signing key of curve crate `$c` from the OS RNG.
macro_rules! generate_ec {
    ($c:ident) => {{
        use $c::elliptic_curve::Generate as _;
        $c::ecdsa::SigningKey::try_generate_from_rng(&mut getrandom::SysRng)
            .map_err(|e| KeyError::Generate(e.to_string()))?
    }};
}

/// Checks a DER ECDSA signature with key `$k` of curve crate `$c` (key type `$t`), naming the
/// signature's own key type when it is shaped for another one.
macro_rules! check_ec {
    ($c:ident, $k:expr, $t:expr, $message:expr, $sig:expr) => {{
        let (message, sig): (&[u8], &[u8]) = ($message, $sig);
        match $c::ecdsa::Signature::from_der(sig) {
            Ok(s) => {
                if $c::ecdsa::signature::Verifier::verify($k, message, &s).is_ok() {
                    SignatureCheck::Valid
                } else {
                    match signature_shape(sig) {
                        Some(t) if t != $t => SignatureCheck::OtherKeyType(t),
                        _ => SignatureCheck::Invalid,
                    }
                }
            }
            Err(_) => {
                signature_shape(sig).map_or(SignatureCheck::Malformed, SignatureCheck::OtherKeyType)
            }
        }
    }};
}

/// The supported key types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Ed25519: modelgate's native key type. `model_signing` cannot verify Ed25519 signatures.
    #[default]
    Ed25519,
    /// ECDSA on NIST P-256 with SHA-256: verifiable by `model_signing verify key`.
    P256,
    /// ECDSA on NIST P-384 with SHA-384 (also accepted by model_signing).
    P384,
    /// ECDSA on NIST P-521 with SHA-512 (also accepted by model_signing).
    P521,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::P256 => "p256",
            KeyType::P384 => "p384",
            KeyType::P521 => "p521",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Ed25519 => "Ed25519",
            KeyType::P256 => "ECDSA P-256",
            KeyType::P384 => "ECDSA P-384",
            KeyType::P521 => "ECDSA P-521",
        })
    }
}

/// A problem with a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file is larger than {MAX_KEY_FILE} bytes; not a PEM key")]
    TooLarge,
    #[error("not a PEM key: no complete `-----BEGIN ...-----` / `-----END ...-----` block found (the file may be truncated)")]
    NotPem,
    #[error("corrupted or truncated PEM {label:?} block: {detail}")]
    Pem { label: String, detail: String },
    #[error("password-protected private keys are not supported; export the key without a password (e.g. `openssl pkey -in KEY -out KEY.plain`)")]
    Encrypted,
    #[error("unsupported key type {0}; modelgate signs with Ed25519 or ECDSA P-256 keys")]
    Unsupported(String),
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("expected a private key, but the file holds a {0:?} block (pass the private key with --key when signing)")]
    ExpectedPrivate(String),
    #[error("expected a public key, but the file holds a {0:?} block (pass the public key, e.g. NAME.pub, when verifying)")]
    ExpectedPublic(String),
    #[error("cannot generate a key: {0}")]
    Generate(String),
    #[error("cannot encode the key: {0}")]
    Encode(String),
}

fn malformed(what: &'static str) -> impl Fn(String) -> KeyError {
    move |detail| KeyError::Malformed { what, detail }
}

/// A PEM block: its label and its decoded DER.
struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

/// Splits `text` into complete PEM blocks (OpenSSL writes several into one file, e.g.
/// `EC PARAMETERS` before `EC PRIVATE KEY`) and decodes each strictly (RFC 7468).
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, KeyError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let Some(tail) = rest.get(begin..) else { break };
        let Some(label_end) = tail.get(11..).and_then(|t| t.find("-----")) else {
            break;
        };
        let label = tail.get(11..11 + label_end).unwrap_or_default().to_owned();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = tail.find(&end_marker) else {
            return Err(KeyError::Pem {
                label,
                detail: "no END line (the file is truncated)".into(),
            });
        };
        let block_len = end + end_marker.len();
        let block = tail.get(..block_len).unwrap_or_default();
        let (_, der) = pem_rfc7468::decode_vec(block.as_bytes()).map_err(|e| KeyError::Pem {
            label: label.clone(),
            detail: e.to_string(),
        })?;
        out.push(PemBlock {
            label,
            der: Zeroizing::new(der),
        });
        rest = tail.get(block_len..).unwrap_or_default();
    }
    if out.is_empty() {
        return Err(KeyError::NotPem);
    }
    Ok(out)
}

fn read_key_file(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let read_err = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyError::TooLarge);
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(read_err)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::NotPem)?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// A private signing key.
pub enum PrivateKey {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    P256(Box<p256::ecdsa::SigningKey>),
    P384(Box<p384::ecdsa::SigningKey>),
    P521(Box<p521::ecdsa::SigningKey>),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({}, {})",
            self.key_type(),
            self.public_key().hint()
        )
    }
}

impl PrivateKey {
    /// Generates a fresh key from the operating system's random number generator.
    pub fn generate(kind: KeyType) -> Result<Self, KeyError> {
        use getrandom::rand_core::UnwrapErr;
        // Fail cleanly (instead of panicking inside UnwrapErr) if the OS RNG is unavailable.
        let mut probe = [0u8; 1];
        getrandom::fill(&mut probe).map_err(|e| KeyError::Generate(e.to_string()))?;
        let mut rng = UnwrapErr(getrandom::SysRng);
        Ok(match kind {
            KeyType::Ed25519 => {
                PrivateKey::Ed25519(Box::new(ed25519_dalek::SigningKey::generate(&mut rng)))
            }
            KeyType::P256 => PrivateKey::P256(Box::new(generate_ec!(p256))),
            KeyType::P384 => PrivateKey::P384(Box::new(generate_ec!(p384))),
            KeyType::P521 => PrivateKey::P521(Box::new(generate_ec!(p521))),
        })
    }

    /// Parses a PEM private key: PKCS#8 Ed25519 or P-256, or SEC1 P-256.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let blocks = pem_blocks(text)?;
        let mut first_label = None;
        for b in &blocks {
            match b.label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8_der(&b.der),
                "EC PRIVATE KEY" => return Self::from_sec1_der(&b.der),
                "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
                "RSA PRIVATE KEY" => return Err(KeyError::Unsupported("RSA".into())),
                "DSA PRIVATE KEY" => return Err(KeyError::Unsupported("DSA".into())),
                "OPENSSH PRIVATE KEY" => {
                    return Err(KeyError::Unsupported(
                        "OpenSSH private key format (convert it to PKCS#8 PEM)".into(),
                    ))
                }
                other => {
                    first_label.get_or_insert(other);
                }
            }
        }
        Err(KeyError::ExpectedPrivate(
            first_label.unwrap_or_default().to_owned(),
        ))
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = p256::pkcs8::PrivateKeyInfoRef::try_from(der)
            .map_err(|e| malformed("PKCS#8 private key")(e.to_string()))?;
        let alg = info.algorithm.oid;
        if alg == OID_ED25519 {
            let k = ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map_err(|e| malformed("Ed25519 private key")(e.to_string()))?;
            return Ok(PrivateKey::Ed25519(Box::new(k)));
        }
        if alg == OID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|e| malformed("EC private key")(format!("no named curve: {e}")))?;
            macro_rules! pkcs8_ec {
                ($c:ident, $variant:ident, $what:literal) => {{
                    let k =
                        <$c::ecdsa::SigningKey as $c::pkcs8::DecodePrivateKey>::from_pkcs8_der(der)
                            .map_err(|e| malformed($what)(e.to_string()))?;
                    return Ok(PrivateKey::$variant(Box::new(k)));
                }};
            }
            if curve == OID_P256 {
                pkcs8_ec!(p256, P256, "P-256 private key");
            }
            if curve == OID_P384 {
                pkcs8_ec!(p384, P384, "P-384 private key");
            }
            if curve == OID_P521 {
                pkcs8_ec!(p521, P521, "P-521 private key");
            }
            return Err(KeyError::Unsupported(oid_name(&curve)));
        }
        Err(KeyError::Unsupported(oid_name(&alg)))
    }

    fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        // The curve is in the key's `parameters [0]` (checked by each parser) and its length.
        let p256_err = match p256::SecretKey::from_sec1_der(der) {
            Ok(sk) => return Ok(PrivateKey::P256(Box::new(sk.into()))),
            Err(e) => e,
        };
        if let Ok(sk) = p384::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P384(Box::new(sk.into())));
        }
        if let Ok(sk) = p521::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P521(Box::new(sk.into())));
        }
        // Name the curve of a well-formed key on an unsupported curve (secp256k1 is the usual one).
        let secp256k1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
        if der.windows(secp256k1.len()).any(|w| w == secp256k1) {
            return Err(KeyError::Unsupported(oid_name(
                &ObjectIdentifier::new_unwrap("1.3.132.0.10"),
            )));
        }
        Err(KeyError::Malformed {
            what: "SEC1 EC private key",
            detail: p256_err.to_string(),
        })
    }

    /// Reads a PEM private key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read_key_file(path)?)
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            PrivateKey::Ed25519(_) => KeyType::Ed25519,
            PrivateKey::P256(_) => KeyType::P256,
            PrivateKey::P384(_) => KeyType::P384,
            PrivateKey::P521(_) => KeyType::P521,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::P384(k) => PublicKey::P384(*k.verifying_key()),
            PrivateKey::P521(k) => PublicKey::P521(*k.verifying_key()),
        }
    }

    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`, LF line endings).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        match self {
            PrivateKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::P256(k) => {
                p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&**k, LineEnding::LF)
            }
            PrivateKey::P384(k) => {
                p384::pkcs8::EncodePrivateKey::to_pkcs8_pem(&**k, LineEnding::LF)
            }
            PrivateKey::P521(k) => {
                p521::pkcs8::EncodePrivateKey::to_pkcs8_pem(&**k, LineEnding::LF)
            }
        }
        .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Signs `message`: Ed25519 → 64 raw bytes; P-256/384/521 → ECDSA with SHA-256/384/512,
    /// ASN.1 DER (the curve/hash pairs model_signing uses).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            PrivateKey::Ed25519(k) => {
                let sig: ed25519_dalek::Signature = ed25519_dalek::Signer::sign(&**k, message);
                sig.to_bytes().to_vec()
            }
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::Signature =
                    p256::ecdsa::signature::Signer::sign(&**k, message);
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::P384(k) => {
                let sig: p384::ecdsa::Signature =
                    p384::ecdsa::signature::Signer::sign(&**k, message);
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::P521(k) => {
                let sig: p521::ecdsa::Signature =
                    p521::ecdsa::signature::Signer::sign(&**k, message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// A public verification key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.key_type(), self.hint())
    }
}

/// Why a signature did not verify under a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature is valid.
    Valid,
    /// Well-formed for this key type, but not a valid signature of the message under this key.
    Invalid,
    /// The bytes are shaped like a signature of another key type.
    OtherKeyType(KeyType),
    /// Not a signature of any supported type.
    Malformed,
}

/// The key type whose signature encoding `sig` has: 64 raw bytes for Ed25519, an ASN.1 DER
/// `SEQUENCE { r, s }` for ECDSA.
pub fn signature_shape(sig: &[u8]) -> Option<KeyType> {
    // Smallest curve first: a DER signature parses for every curve whose order exceeds its values.
    if p256::ecdsa::Signature::from_der(sig).is_ok() {
        Some(KeyType::P256)
    } else if p384::ecdsa::Signature::from_der(sig).is_ok() {
        Some(KeyType::P384)
    } else if p521::ecdsa::Signature::from_der(sig).is_ok() {
        Some(KeyType::P521)
    } else if sig.len() == 64 {
        Some(KeyType::Ed25519)
    } else {
        None
    }
}

impl PublicKey {
    /// Parses a PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let blocks = pem_blocks(text)?;
        let Some(b) = blocks.iter().find(|b| b.label == "PUBLIC KEY") else {
            let label = blocks.first().map(|b| b.label.clone()).unwrap_or_default();
            if label.contains("PRIVATE KEY") {
                return Err(KeyError::ExpectedPublic(label));
            }
            if label == "RSA PUBLIC KEY" {
                return Err(KeyError::Unsupported("RSA".into()));
            }
            return Err(KeyError::ExpectedPublic(label));
        };
        let spki = p256::pkcs8::SubjectPublicKeyInfoRef::try_from(b.der.as_slice())
            .map_err(|e| malformed("public key")(e.to_string()))?;
        let alg = spki.algorithm.oid;
        if alg == OID_ED25519 {
            let k = ed25519_dalek::VerifyingKey::from_public_key_der(&b.der)
                .map_err(|e| malformed("Ed25519 public key")(e.to_string()))?;
            return Ok(PublicKey::Ed25519(k));
        }
        if alg == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|e| malformed("EC public key")(format!("no named curve: {e}")))?;
            macro_rules! spki_ec {
                ($c:ident, $variant:ident, $what:literal) => {{
                    let k = <$c::ecdsa::VerifyingKey as $c::pkcs8::DecodePublicKey>::from_public_key_der(
                        &b.der,
                    )
                    .map_err(|e| malformed($what)(e.to_string()))?;
                    return Ok(PublicKey::$variant(k));
                }};
            }
            if curve == OID_P256 {
                spki_ec!(p256, P256, "P-256 public key");
            }
            if curve == OID_P384 {
                spki_ec!(p384, P384, "P-384 public key");
            }
            if curve == OID_P521 {
                spki_ec!(p521, P521, "P-521 public key");
            }
            return Err(KeyError::Unsupported(oid_name(&curve)));
        }
        Err(KeyError::Unsupported(oid_name(&alg)))
    }

    /// Reads a PEM public key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read_key_file(path)?)
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::Ed25519(_) => KeyType::Ed25519,
            PublicKey::P256(_) => KeyType::P256,
            PublicKey::P384(_) => KeyType::P384,
            PublicKey::P521(_) => KeyType::P521,
        }
    }

    /// SubjectPublicKeyInfo PEM with LF line endings and 64-column base64, byte-identical to what
    /// Python's `cryptography` writes (`public_bytes(PEM, SubjectPublicKeyInfo)`).
    pub fn to_pem(&self) -> String {
        let r = match self {
            PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::P256(k) => {
                p256::pkcs8::EncodePublicKey::to_public_key_pem(k, LineEnding::LF)
            }
            PublicKey::P384(k) => {
                p384::pkcs8::EncodePublicKey::to_public_key_pem(k, LineEnding::LF)
            }
            PublicKey::P521(k) => {
                p521::pkcs8::EncodePublicKey::to_public_key_pem(k, LineEnding::LF)
            }
        };
        // Encoding a valid in-memory key cannot fail; an empty string would only make the hint
        // mismatch, never verify wrongly.
        r.unwrap_or_default()
    }

    /// The key hint recorded in bundles: hex SHA-256 of [`PublicKey::to_pem`], as model_signing
    /// computes it.
    pub fn hint(&self) -> String {
        hash::sha256_hex(self.to_pem().as_bytes())
    }

    /// Checks `sig` over `message`.
    pub fn check(&self, message: &[u8], sig: &[u8]) -> SignatureCheck {
        match self {
            PublicKey::Ed25519(k) => {
                let Ok(bytes) = <[u8; 64]>::try_from(sig) else {
                    return signature_shape(sig)
                        .map_or(SignatureCheck::Malformed, SignatureCheck::OtherKeyType);
                };
                let s = ed25519_dalek::Signature::from_bytes(&bytes);
                match k.verify_strict(message, &s) {
                    Ok(()) => SignatureCheck::Valid,
                    // A 64-byte value that is also valid DER is vanishingly unlikely; treat a
                    // failure as a bad signature for this key.
                    Err(_) => SignatureCheck::Invalid,
                }
            }
            PublicKey::P256(k) => check_ec!(p256, k, KeyType::P256, message, sig),
            PublicKey::P384(k) => check_ec!(p384, k, KeyType::P384, message, sig),
            PublicKey::P521(k) => check_ec!(p521, k, KeyType::P521, message, sig),
        }
    }
}

/// Writes a new key pair: the PKCS#8 private key at `path` (mode 0600 on Unix) and the public key
/// at `path.pub`. Refuses to overwrite existing files unless `overwrite` is set. Returns the path
/// of the public key.
pub fn write_key_pair(
    key: &PrivateKey,
    path: &Path,
    overwrite: bool,
) -> Result<PathBuf, std::io::Error> {
    use std::io::Write as _;
    let pub_path = {
        let mut s = path.as_os_str().to_owned();
        s.push(".pub");
        PathBuf::from(s)
    };
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
        if pub_path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists", pub_path.display()),
            ));
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        opts.mode(0o600);
        let mut f = opts.open(path)?;
        // An existing file keeps its mode when truncated: force 0600.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(pem.as_bytes())?;
        f.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let mut f = opts.open(path)?;
        f.write_all(pem.as_bytes())?;
        f.sync_all()?;
    }
    let mut pub_opts = std::fs::OpenOptions::new();
    pub_opts.write(true);
    if overwrite {
        pub_opts.create(true).truncate(true);
    } else {
        pub_opts.create_new(true);
    }
    let mut f = pub_opts.open(&pub_path)?;
    f.write_all(key.public_key().to_pem().as_bytes())?;
    Ok(pub_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_key_types() {
        for kind in [
            KeyType::Ed25519,
            KeyType::P256,
            KeyType::P384,
            KeyType::P521,
        ] {
            let k = PrivateKey::generate(kind).expect("generate");
            let pem = k.to_pkcs8_pem().expect("pem");
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = PrivateKey::from_pem(&pem).expect("parse");
            assert_eq!(back.key_type(), kind);
            assert_eq!(back.public_key(), k.public_key());
            let pub_pem = k.public_key().to_pem();
            assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
            let p = PublicKey::from_pem(&pub_pem).expect("pub");
            assert_eq!(p, k.public_key());
            let sig = k.sign(b"message");
            assert_eq!(p.check(b"message", &sig), SignatureCheck::Valid);
            assert_eq!(p.check(b"massage", &sig), SignatureCheck::Invalid);
            assert_eq!(signature_shape(&sig), Some(kind));
        }
    }

    #[test]
    fn other_key_type_signatures_are_recognised() {
        let ed = PrivateKey::generate(KeyType::Ed25519).expect("ed");
        let ec = PrivateKey::generate(KeyType::P256).expect("ec");
        assert_eq!(
            ed.public_key().check(b"m", &ec.sign(b"m")),
            SignatureCheck::OtherKeyType(KeyType::P256)
        );
        assert_eq!(
            ec.public_key().check(b"m", &ed.sign(b"m")),
            SignatureCheck::OtherKeyType(KeyType::Ed25519)
        );
        assert_eq!(
            ec.public_key().check(b"m", b"xyz"),
            SignatureCheck::Malformed
        );
    }

    // `openssl ecparam -name prime256v1 -genkey` output (EC PARAMETERS + SEC1 key), a throwaway key.
    const SEC1: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIHhTkqiMKN52uvo3fxRYMI0okxzr5MDmjuAnJcMIawajoAoGCCqGSM49
AwEHoUQDQgAEwYyRabU15LMdhEKlKlfAJgvqmHRKclm0EbqlK8m8U7B/UJqOKAyd
/qJDfPa2wrt5Bg56X+mS+UMfG7XTjrqA1g==
-----END EC PRIVATE KEY-----
";

    #[test]
    fn reads_sec1_keys_with_parameters_block() {
        let k = PrivateKey::from_pem(SEC1).expect("sec1");
        assert_eq!(k.key_type(), KeyType::P256);
    }

    #[test]
    fn distinguishes_pem_problems() {
        let k = PrivateKey::generate(KeyType::Ed25519).expect("gen");
        let pem = k.to_pkcs8_pem().expect("pem");
        let truncated = pem.get(..pem.len() - 20).unwrap_or_default();
        assert!(matches!(
            PrivateKey::from_pem(truncated),
            Err(KeyError::Pem { .. })
        ));
        let mut lines: Vec<String> = pem.lines().map(str::to_owned).collect();
        if let Some(l) = lines.get_mut(1) {
            l.replace_range(5..6, "!");
        }
        let corrupted = lines.join("\n") + "\n";
        assert!(matches!(
            PrivateKey::from_pem(&corrupted),
            Err(KeyError::Pem { .. })
        ));
        assert!(matches!(
            PrivateKey::from_pem("hello"),
            Err(KeyError::NotPem)
        ));
        assert!(matches!(
            PrivateKey::from_pem(&k.public_key().to_pem()),
            Err(KeyError::ExpectedPrivate(_))
        ));
        assert!(matches!(
            PublicKey::from_pem(&pem),
            Err(KeyError::ExpectedPublic(_))
        ));
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(
            PrivateKey::from_pem(enc),
            Err(KeyError::Encrypted)
        ));
    }

    #[test]
    fn key_pair_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let k = PrivateKey::generate(KeyType::P256).expect("gen");
        let path = dir.path().join("signer");
        let pub_path = write_key_pair(&k, &path, false).expect("write");
        assert_eq!(pub_path, dir.path().join("signer.pub"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            write_key_pair(&k, &path, false).is_err(),
            "no silent overwrite"
        );
        let back = PrivateKey::load(&path).expect("load");
        assert_eq!(back.public_key(), PublicKey::load(&pub_path).expect("pub"));
    }
}
