//! Bearer tokens. The configuration holds only each token's SHA-256 (`[[tokens]]`), so a leaked
//! config file does not leak credentials; a presented token is hashed and compared with every
//! configured digest in constant time, so timing says nothing about how close a guess was.

use std::collections::BTreeSet;

use subtle::ConstantTimeEq;

use crate::config::{Scope, TokenConfig};

/// Why a request was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token, a malformed `Authorization` header, or a token nobody configured: 401.
    Unauthenticated,
    /// A known token without the route's scope: 403.
    Forbidden,
}

struct Token {
    name: String,
    digest: [u8; 32],
    scopes: BTreeSet<Scope>,
}

/// The configured tokens.
pub struct Tokens(Vec<Token>);

impl Tokens {
    /// From `[[tokens]]` (already checked by [`crate::config::Config`]: 64 hex digits).
    pub fn new(config: &[TokenConfig]) -> Self {
        Tokens(
            config
                .iter()
                .filter_map(|t| {
                    let bytes = hex::decode(&t.sha256).ok()?;
                    let digest: [u8; 32] = bytes.try_into().ok()?;
                    Some(Token {
                        name: t.name.clone(),
                        digest,
                        scopes: t.scopes.iter().copied().collect(),
                    })
                })
                .collect(),
        )
    }

    /// The name of the client whose `Authorization` header value is `header`, if it may use
    /// `scope`.
    pub fn check(&self, header: Option<&[u8]>, scope: Scope) -> Result<&str, Denied> {
        let token = header
            .and_then(|h| h.strip_prefix(b"Bearer "))
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty())
            .ok_or(Denied::Unauthenticated)?;
        let digest = crate::hash::sha256(token);
        // Compare with every token, whatever matches first, so the time taken does not depend
        // on which (if any) matched.
        let mut found: Option<&Token> = None;
        for t in &self.0 {
            if bool::from(t.digest.ct_eq(&digest)) {
                found = Some(t);
            }
        }
        let t = found.ok_or(Denied::Unauthenticated)?;
        if t.scopes.contains(&scope) {
            Ok(&t.name)
        } else {
            Err(Denied::Forbidden)
        }
    }
}

/// A new random token (32 bytes, hex) and its SHA-256, for `modelgate serve token`.
pub fn new_token() -> std::io::Result<(String, String)> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| std::io::Error::other(e.to_string()))?;
    let token = format!("mg_{}", hex::encode(raw));
    let digest = crate::hash::sha256_hex(token.as_bytes());
    Ok((token, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&[TokenConfig {
            name: "ci".into(),
            sha256: crate::hash::sha256_hex(b"secret"),
            scopes: vec![Scope::Scan],
        }])
    }

    #[test]
    fn tokens_are_checked_by_digest_and_scope() {
        let t = tokens();
        assert_eq!(t.check(Some(b"Bearer secret"), Scope::Scan), Ok("ci"));
        assert_eq!(
            t.check(Some(b"Bearer secret"), Scope::Decisions),
            Err(Denied::Forbidden)
        );
        for h in [
            None,
            Some(&b"Bearer "[..]),
            Some(&b"Bearer wrong"[..]),
            Some(&b"Basic c2VjcmV0"[..]),
            Some(&b"secret"[..]),
        ] {
            assert_eq!(
                t.check(h, Scope::Scan),
                Err(Denied::Unauthenticated),
                "{h:?}"
            );
        }
    }

    #[test]
    fn new_tokens_match_their_digest() {
        let (token, digest) = new_token().expect("token");
        let t = Tokens::new(&[TokenConfig {
            name: "n".into(),
            sha256: digest,
            scopes: vec![Scope::Metrics],
        }]);
        let header = format!("Bearer {token}");
        assert_eq!(t.check(Some(header.as_bytes()), Scope::Metrics), Ok("n"));
    }
}
