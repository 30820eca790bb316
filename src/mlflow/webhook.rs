//! MLflow's webhook deliveries, checked before anything in them is believed.
//!
//! MLflow 3.x (`mlflow/webhooks/delivery.py`) sends each delivery as a JSON body with three
//! headers: `X-MLflow-Delivery-Id` (a fresh UUID), `X-MLflow-Timestamp` (Unix seconds) and, when
//! the webhook has a secret, `X-MLflow-Signature: v1,<base64 HMAC-SHA256>` over
//! `"{delivery id}.{timestamp}.{raw body}"` keyed with the secret. A delivery is authentic when
//! the signature matches (compared in constant time), fresh when its timestamp is within the
//! tolerance of our clock (either way: a clock running ahead is as suspect as one behind), and
//! new when its id was never seen before (the caller checks that against the store, so it holds
//! across restarts and replicas). The signed timestamp bounds how long ids must be remembered.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

pub const DELIVERY_ID_HEADER: &str = "x-mlflow-delivery-id";
pub const TIMESTAMP_HEADER: &str = "x-mlflow-timestamp";
pub const SIGNATURE_HEADER: &str = "x-mlflow-signature";

/// The longest delivery id accepted (MLflow sends a 36-character UUID).
const MAX_DELIVERY_ID: usize = 128;

/// Why a delivery is not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the signature does not match the shared secret")]
    Forged,
    #[error("the delivery's timestamp is {age_secs} s away from now, beyond the tolerance of {tolerance_secs} s")]
    Stale { age_secs: i64, tolerance_secs: u64 },
    #[error("the delivery id was seen before (a replay)")]
    Replayed,
}

/// The checked headers of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
}

/// `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")), as MLflow computes it.
pub fn sign(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, id, timestamp, body)
        .map(|m| m.finalize().into_bytes().to_vec())
        .unwrap_or_default();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The HMAC of one delivery (HMAC takes keys of any length, so this is always `Some`).
fn mac(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    Some(m)
}

/// Checks one delivery's headers and signature against `secret`, and its timestamp against
/// `now` (Unix seconds) within `tolerance_secs`. The replay check is the caller's (it needs the
/// store). Several space-separated signatures are accepted (Standard Webhooks' secret rotation);
/// one match suffices.
pub fn verify(
    secret: &[u8],
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<Delivery, Rejection> {
    let id = id.ok_or(Rejection::Missing("X-MLflow-Delivery-Id"))?;
    if id.is_empty() || id.len() > MAX_DELIVERY_ID || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Rejection::Malformed("X-MLflow-Delivery-Id"));
    }
    let ts_text = timestamp.ok_or(Rejection::Missing("X-MLflow-Timestamp"))?;
    let ts: i64 = ts_text
        .parse()
        .map_err(|_| Rejection::Malformed("X-MLflow-Timestamp"))?;
    let signature = signature.ok_or(Rejection::Missing("X-MLflow-Signature"))?;
    let mut matched = false;
    for candidate in signature.split_ascii_whitespace() {
        let Some(b64) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        // `verify_slice` compares in constant time.
        if mac(secret, id, ts_text, body).is_some_and(|m| m.verify_slice(&raw).is_ok()) {
            matched = true;
        }
    }
    if !matched {
        return Err(Rejection::Forged);
    }
    let age = now.saturating_sub(ts);
    if age.unsigned_abs() > tolerance_secs {
        return Err(Rejection::Stale {
            age_secs: age,
            tolerance_secs,
        });
    }
    Ok(Delivery {
        id: id.to_owned(),
        timestamp: ts,
    })
}

/// A delivery's body: `{entity, action, timestamp, data}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub entity: String,
    pub action: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Event {
    /// `entity.action`, e.g. `model_version.created`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.entity, self.action)
    }

    /// The new version of a `model_version.created` event (`data: {name, version, source, …}`).
    pub fn version_created(&self) -> Option<VersionRef> {
        if self.entity != "model_version" || self.action != "created" {
            return None;
        }
        serde_json::from_value(self.data.clone()).ok()
    }

    /// The alias of a `model_version_alias.created` event.
    pub fn alias_created(&self) -> Option<AliasRef> {
        if self.entity != "model_version_alias" || self.action != "created" {
            return None;
        }
        serde_json::from_value(self.data.clone()).ok()
    }
}

/// The alias and version of a `model_version_alias.created` event (`data: {name, alias,
/// version}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AliasRef {
    pub name: String,
    pub alias: String,
    pub version: String,
}

impl AliasRef {
    pub fn version(&self) -> VersionRef {
        VersionRef {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }
}

/// A registered model version, as events and `models:/` URIs name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub struct VersionRef {
    pub name: String,
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with MLflow's own `_generate_hmac_signature("s3cret", "d-1", "1700000000", body)`.
    const BODY: &str = r#"{"entity": "model_version", "action": "created", "timestamp": "2023-11-14T22:13:20+00:00", "data": {"name": "m", "version": "1"}}"#;

    #[test]
    fn signatures_verify_and_forgeries_do_not() {
        let sig = sign(b"s3cret", "d-1", "1700000000", BODY.as_bytes());
        assert_eq!(sig, "v1,hDprqqIr9TU/QYfavpqel411RBv3gZ3Z8QAwwzYxk3E=");
        let ok = verify(
            b"s3cret",
            Some("d-1"),
            Some("1700000000"),
            Some(&sig),
            BODY.as_bytes(),
            1_700_000_010,
            300,
        )
        .unwrap();
        assert_eq!(ok.id, "d-1");
        let check = |secret: &[u8], id, ts, sig: &str, body: &str, now| {
            verify(
                secret,
                Some(id),
                Some(ts),
                Some(sig),
                body.as_bytes(),
                now,
                300,
            )
        };
        assert_eq!(
            check(b"other", "d-1", "1700000000", &sig, BODY, 1_700_000_000),
            Err(Rejection::Forged)
        );
        assert_eq!(
            check(b"s3cret", "d-2", "1700000000", &sig, BODY, 1_700_000_000),
            Err(Rejection::Forged)
        );
        assert_eq!(
            check(
                b"s3cret",
                "d-1",
                "1700000000",
                &sig,
                &BODY.replace('1', "2"),
                1_700_000_000
            ),
            Err(Rejection::Forged)
        );
        assert!(matches!(
            check(b"s3cret", "d-1", "1700000000", &sig, BODY, 1_700_000_301),
            Err(Rejection::Stale { .. })
        ));
        assert!(matches!(
            check(b"s3cret", "d-1", "1700000000", &sig, BODY, 1_699_999_000),
            Err(Rejection::Stale { .. })
        ));
        // Rotation: any one of several signatures.
        let both = format!("v1,AAAA {sig}");
        assert!(check(b"s3cret", "d-1", "1700000000", &both, BODY, 1_700_000_000).is_ok());
        assert_eq!(
            verify(b"s3cret", None, Some("1"), Some(&sig), b"", 1, 300),
            Err(Rejection::Missing("X-MLflow-Delivery-Id"))
        );
        assert_eq!(
            verify(b"s3cret", Some("d"), Some("soon"), Some(&sig), b"", 1, 300),
            Err(Rejection::Malformed("X-MLflow-Timestamp"))
        );
        assert_eq!(
            verify(b"s3cret", Some("d"), Some("1"), None, b"", 1, 300),
            Err(Rejection::Missing("X-MLflow-Signature"))
        );
    }

    #[test]
    fn events_name_their_version() {
        let e: Event = serde_json::from_str(BODY).unwrap();
        assert_eq!(e.name(), "model_version.created");
        assert_eq!(
            e.version_created(),
            Some(VersionRef {
                name: "m".into(),
                version: "1".into()
            })
        );
        let tag: Event = serde_json::from_str(
            r#"{"entity":"model_version_tag","action":"set","data":{"name":"m","version":"1","key":"k","value":"v"}}"#,
        )
        .unwrap();
        assert_eq!(tag.version_created(), None);
        assert_eq!(tag.alias_created(), None);
        let alias: Event = serde_json::from_str(
            r#"{"entity":"model_version_alias","action":"created","data":{"name":"m","alias":"champion","version":"3"}}"#,
        )
        .unwrap();
        let a = alias.alias_created().unwrap();
        assert_eq!(
            (a.alias.as_str(), a.version().version.as_str()),
            ("champion", "3")
        );
    }
}
