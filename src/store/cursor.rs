#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! The opaque pagination cursor of [`super::Store::decisions`]: the (time, id) of the last row a
//! page returned. The next page holds the rows strictly older in the order (time desc, id desc),
//! so rows recorded meanwhile (newer) can neither shift nor repeat a page.
//!
//! Cursors come back from HTTP clients, so decoding is defensive: bounded length, exact size,
//! a version byte, and every failure is [`StoreError::BadCursor`], never a panic.

use base64::Engine as _;

use super::StoreError;

const VERSION: u8 = 1;
/// One version byte, then the time in ms and the row id, both big-endian i64.
const RAW_LEN: usize = 17;
/// The encoded length: base64url without padding of 17 bytes.
const ENCODED_LEN: usize = 23;

/// A position in the audit trail: the last row of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub time_ms: i64,
    pub id: i64,
}

impl Cursor {
    pub fn encode(self) -> String {
        let mut raw = [0u8; RAW_LEN];
        let (version, rest) = raw.split_at_mut(1);
        let (time, id) = rest.split_at_mut(8);
        version.copy_from_slice(&[VERSION]);
        time.copy_from_slice(&self.time_ms.to_be_bytes());
        id.copy_from_slice(&self.id.to_be_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        if text.len() != ENCODED_LEN {
            return Err(StoreError::BadCursor);
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::BadCursor)?;
        let raw: [u8; RAW_LEN] = raw.try_into().map_err(|_| StoreError::BadCursor)?;
        let (version, rest) = raw.split_at(1);
        let (time, id) = rest.split_at(8);
        if version != [VERSION] {
            return Err(StoreError::BadCursor);
        }
        let time_ms = i64::from_be_bytes(time.try_into().map_err(|_| StoreError::BadCursor)?);
        let id = i64::from_be_bytes(id.try_into().map_err(|_| StoreError::BadCursor)?);
        Ok(Cursor { time_ms, id })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (time_ms, id) in [
            (0, 0),
            (1_765_000_000_123, 42),
            (i64::MAX, i64::MAX),
            (i64::MIN, -1),
        ] {
            let c = Cursor { time_ms, id };
            let text = c.encode();
            assert_eq!(text.len(), ENCODED_LEN);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(Cursor::decode(&text).unwrap(), c);
        }
    }

    #[test]
    fn rejects_anything_else() {
        let good = Cursor { time_ms: 5, id: 7 }.encode();
        let mut wrong_version = good.clone().into_bytes();
        wrong_version[0] = b'B';
        for bad in [
            String::new(),
            "x".into(),
            format!("{good}A"),
            good[..good.len() - 1].to_owned(),
            "!".repeat(ENCODED_LEN),
            "é".repeat(ENCODED_LEN),
            String::from_utf8(wrong_version).unwrap(),
            "A".repeat(100_000),
        ] {
            assert!(
                matches!(Cursor::decode(&bad), Err(StoreError::BadCursor)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn never_panics_on_arbitrary_text() {
        use proptest::prelude::*;
        proptest!(|(s in ".{0,40}")| {
            let _ = Cursor::decode(&s);
        });
    }
}
