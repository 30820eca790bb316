#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! The three nested layers of an OpenSSF model-signing signature file, as JSON types:
//!
//! 1. a Sigstore bundle v0.3 (`mediaType`, `verificationMaterial.publicKey.hint`, empty
//!    `tlogEntries`) holding
//! 2. a DSSE envelope (`payloadType` `application/vnd.in-toto+json`, base64 `payload`, one
//!    signature over the DSSE pre-authentication encoding) whose payload is
//! 3. an in-toto Statement v1 (`_type`, `subject`, `predicateType`, `predicate`).
//!
//! Field order and names follow what `model_signing` writes, so the files look the same.
//! References: sigstore/protobuf-specs `sigstore_bundle.proto`, secure-systems-lab/dsse
//! `protocol.md` (PAE), in-toto/attestation `spec/v1/statement.md`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::keys::{PrivateKey, PublicKey, SignatureCheck};
use super::VerifyError;

/// Sigstore bundle media type written and accepted.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// DSSE payload type of an in-toto statement.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto Statement v1 type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// A Sigstore bundle (only the parts key-based signing uses are typed; anything else is kept so
/// that unsupported bundles can be named precisely).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
    /// A plain message signature (cosign `sign-blob`); not produced by model signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<serde_json::Value>,
}

/// How to verify the bundle's signature.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<serde_json::Value>,
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<serde_json::Value>,
}

/// Identifies the key out of band; model signing puts the hex SHA-256 of the key's PEM here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A DSSE envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Base64 of the signature bytes.
    pub sig: String,
    /// Unauthenticated key id; model signing writes `""`.
    #[serde(default)]
    pub keyid: String,
}

/// The DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(head.len().saturating_add(payload.len()));
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes protobuf-JSON `bytes`: standard or URL-safe base64, with or without padding.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

fn encode_base64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl Bundle {
    /// Signs `payload` (an in-toto statement as JSON bytes) with `key` into a bundle.
    pub fn sign(payload: &[u8], key: &PrivateKey) -> Self {
        let sig = key.sign(&pae(INTOTO_PAYLOAD_TYPE, payload));
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.to_owned(),
            verification_material: VerificationMaterial {
                public_key: Some(PublicKeyIdentifier {
                    hint: Some(key.public_key().hint()),
                }),
                ..VerificationMaterial::default()
            },
            dsse_envelope: Some(Envelope {
                payload: encode_base64(payload),
                payload_type: INTOTO_PAYLOAD_TYPE.to_owned(),
                signatures: vec![EnvelopeSignature {
                    sig: encode_base64(&sig),
                    keyid: String::new(),
                }],
            }),
            message_signature: None,
        }
    }

    /// Compact JSON, as written to disk.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses bundle JSON, distinguishing "not JSON" from "JSON but not a bundle".
    pub fn from_json(text: &[u8]) -> Result<Self, VerifyError> {
        let v: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| VerifyError::BundleJson(e.to_string()))?;
        let media = v
            .get("mediaType")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if media != BUNDLE_MEDIA_TYPE {
            return Err(VerifyError::UnknownFormat(if media.is_empty() {
                "no mediaType (not a Sigstore bundle)".to_owned()
            } else {
                format!("mediaType {media:?}")
            }));
        }
        serde_json::from_value(v).map_err(|e| VerifyError::MalformedBundle(e.to_string()))
    }

    /// Checks the bundle's signature with `key` and returns the verified payload bytes.
    ///
    /// Order of checks (so each failure gets its own error): key-based bundle with a DSSE
    /// envelope; payload type; signature encoding matches the key type; key hint matches the key;
    /// a signature verifies over the PAE.
    pub fn verify(&self, key: &PublicKey) -> Result<VerifiedPayload, VerifyError> {
        let vm = &self.verification_material;
        if vm.public_key.is_none()
            && (vm.certificate.is_some() || vm.x509_certificate_chain.is_some())
        {
            return Err(VerifyError::UnsupportedBundle(
                "it is certified by an X.509 certificate (Sigstore keyless or certificate mode); modelgate verifies key-based signatures only".into(),
            ));
        }
        let Some(env) = &self.dsse_envelope else {
            return Err(VerifyError::UnsupportedBundle(
                if self.message_signature.is_some() {
                    "it holds a plain message signature, not a DSSE envelope".into()
                } else {
                    "it has no DSSE envelope".into()
                },
            ));
        };
        if env.payload_type != INTOTO_PAYLOAD_TYPE {
            return Err(VerifyError::UnknownPayloadType(env.payload_type.clone()));
        }
        let payload = decode_base64(&env.payload)
            .ok_or_else(|| VerifyError::MalformedBundle("payload is not base64".into()))?;
        if env.signatures.is_empty() {
            return Err(VerifyError::MalformedBundle(
                "the envelope has no signature".into(),
            ));
        }
        let sigs: Vec<Vec<u8>> = env
            .signatures
            .iter()
            .map(|s| {
                decode_base64(&s.sig)
                    .ok_or_else(|| VerifyError::MalformedBundle("signature is not base64".into()))
            })
            .collect::<Result<_, _>>()?;
        let message = pae(&env.payload_type, &payload);
        let checks: Vec<SignatureCheck> = sigs.iter().map(|s| key.check(&message, s)).collect();
        let hint = vm
            .public_key
            .as_ref()
            .and_then(|p| p.hint.clone())
            .filter(|h| !h.is_empty());
        if checks.contains(&SignatureCheck::Valid) {
            if let Some(h) = &hint {
                if !h.eq_ignore_ascii_case(&key.hint()) {
                    // A valid signature with a stale hint: still the wrong key identifier.
                    return Err(VerifyError::WrongKey {
                        bundle_hint: h.clone(),
                        key_hint: key.hint(),
                    });
                }
            }
            return Ok(VerifiedPayload {
                payload,
                hint_present: hint.is_some(),
            });
        }
        if let Some(other) = checks.iter().find_map(|c| match c {
            SignatureCheck::OtherKeyType(t) => Some(*t),
            _ => None,
        }) {
            return Err(VerifyError::KeyTypeMismatch {
                key: key.key_type(),
                signature: other,
            });
        }
        if let Some(h) = &hint {
            if !h.eq_ignore_ascii_case(&key.hint()) {
                return Err(VerifyError::WrongKey {
                    bundle_hint: h.clone(),
                    key_hint: key.hint(),
                });
            }
        }
        if checks.iter().all(|c| *c == SignatureCheck::Malformed) {
            return Err(VerifyError::MalformedBundle(
                "the signature is neither an Ed25519 nor an ECDSA (DER) signature".into(),
            ));
        }
        Err(VerifyError::BadSignature)
    }
}

/// A payload whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedPayload {
    pub payload: Vec<u8>,
    /// Whether the bundle named the key (model_signing warns when it does not).
    pub hint_present: bool,
}

/// An in-toto Statement v1 with a typed predicate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

/// An in-toto ResourceDescriptor used as a subject: a name and digests by algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject with one SHA-256 digest (hex).
    pub fn sha256(name: impl Into<String>, hex_digest: impl Into<String>) -> Self {
        Subject {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_owned(), hex_digest.into())]),
        }
    }
}

impl<P: Serialize> Statement<P> {
    /// A v1 statement about `subject`.
    pub fn new(subject: Vec<Subject>, predicate_type: &str, predicate: P) -> Self {
        Statement {
            type_: STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// Compact JSON bytes: the DSSE payload.
    pub fn to_payload(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// Parses a verified payload as an in-toto v1 statement whose predicate is left as JSON, so the
/// caller can dispatch on the predicate type.
pub fn parse_statement(payload: &[u8]) -> Result<Statement<serde_json::Value>, VerifyError> {
    let v: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| VerifyError::MalformedStatement(format!("payload is not JSON: {e}")))?;
    let t = v
        .get("_type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if t != STATEMENT_TYPE {
        return Err(VerifyError::UnknownStatementType(t.to_owned()));
    }
    serde_json::from_value(v).map_err(|e| VerifyError::MalformedStatement(e.to_string()))
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
    use crate::sign::keys::KeyType;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // secure-systems-lab/dsse protocol.md test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sign_and_verify_round_trip() {
        for kind in [KeyType::Ed25519, KeyType::P256] {
            let k = PrivateKey::generate(kind).expect("gen");
            let b = Bundle::sign(b"{\"a\":1}", &k);
            let parsed = Bundle::from_json(b.to_json().as_bytes()).expect("parse");
            let v = parsed.verify(&k.public_key()).expect("verify");
            assert_eq!(v.payload, b"{\"a\":1}");
            assert!(v.hint_present);
            let other = PrivateKey::generate(kind).expect("gen");
            assert!(matches!(
                parsed.verify(&other.public_key()),
                Err(VerifyError::WrongKey { .. })
            ));
        }
    }

    #[test]
    fn tampered_payload_is_a_bad_signature() {
        let k = PrivateKey::generate(KeyType::P256).expect("gen");
        let mut b = Bundle::sign(b"{\"a\":1}", &k);
        if let Some(env) = b.dsse_envelope.as_mut() {
            env.payload = encode_base64(b"{\"a\":2}");
        }
        assert!(matches!(
            b.verify(&k.public_key()),
            Err(VerifyError::BadSignature)
        ));
    }

    #[test]
    fn unknown_media_type() {
        let e = Bundle::from_json(br#"{"mediaType":"application/x","verificationMaterial":{}}"#)
            .expect_err("unknown");
        assert!(matches!(e, VerifyError::UnknownFormat(_)));
        assert!(matches!(
            Bundle::from_json(b"{nope"),
            Err(VerifyError::BundleJson(_))
        ));
    }
}
