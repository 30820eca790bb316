//! Lenient reading of the JSON and YAML configs that decide which code runs.
//!
//! Loaders are more forgiving than a strict parser: Python's `json` accepts `NaN` and
//! `Infinity`, json5-style readers accept comments and trailing commas, PyYAML keeps the last of
//! duplicate keys where a strict deserializer fails, and a UTF-8 BOM is skipped by most readers.
//! A strict parse failure must not hide the rest of the file, so:
//!
//! * [`parse_json`] retries after blanking comments, dropping trailing commas and replacing the
//!   non-standard constants, and says which quirks it had to accept;
//! * [`find_keys`] walks any parsed value for the keys that name code, at any depth and whatever
//!   the type of their value;
//! * [`raw_key_values`] finds `key: value` pairs in the raw text, for files that do not parse at
//!   all and for values a parser dropped (the first of duplicate keys).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use serde_json::Value;

/// Keys whose values name code that a loader imports or runs.
pub const CODE_KEYS: &[&str] = &[
    "_target_",
    "auto_map",
    "custom_pipelines",
    "loader_module",
    "python_model",
    "model_code_path",
    "code_paths",
];

/// Strips a UTF-8 BOM.
pub fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b)
}

/// Parses JSON strictly, then leniently. Returns the value and the quirks that had to be
/// accepted (empty for standard JSON), or the strict parser's error when neither works.
pub fn parse_json(bytes: &[u8]) -> Result<(Value, Vec<&'static str>), String> {
    let mut quirks = Vec::new();
    let body = strip_bom(bytes);
    if body.len() != bytes.len() {
        quirks.push("byte-order mark");
    }
    let strict_err = match serde_json::from_slice::<Value>(body) {
        Ok(v) => return Ok((v, quirks)),
        Err(e) => e.to_string(),
    };
    let text = String::from_utf8_lossy(body);
    let (clean, mut q) = relax(&text);
    quirks.append(&mut q);
    match serde_json::from_str::<Value>(&clean) {
        Ok(v) => Ok((v, quirks)),
        Err(_) => Err(strict_err),
    }
}

/// Blanks `//` and `/* */` comments, drops commas before `}`/`]`, and replaces `NaN`,
/// `Infinity` and `-Infinity` (accepted by Python's `json`) by `null`, outside strings.
fn relax(text: &str) -> (String, Vec<&'static str>) {
    let mut quirks = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0usize;
    let at = |k: usize| chars.get(k).copied();
    let note = |q: &'static str, quirks: &mut Vec<&'static str>| {
        if !quirks.contains(&q) {
            quirks.push(q);
        }
    };
    while let Some(c) = at(i) {
        match c {
            '"' => {
                out.push(c);
                i = i.saturating_add(1);
                while let Some(d) = at(i) {
                    out.push(d);
                    i = i.saturating_add(1);
                    if d == '\\' {
                        if let Some(e) = at(i) {
                            out.push(e);
                            i = i.saturating_add(1);
                        }
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '/' if at(i.saturating_add(1)) == Some('/') => {
                note("comments", &mut quirks);
                while let Some(d) = at(i) {
                    if d == '\n' {
                        break;
                    }
                    i = i.saturating_add(1);
                }
            }
            '/' if at(i.saturating_add(1)) == Some('*') => {
                note("comments", &mut quirks);
                i = i.saturating_add(2);
                while let Some(d) = at(i) {
                    i = i.saturating_add(1);
                    if d == '*' && at(i) == Some('/') {
                        i = i.saturating_add(1);
                        break;
                    }
                }
                out.push(' ');
            }
            ',' => {
                let mut j = i.saturating_add(1);
                while at(j).is_some_and(char::is_whitespace) {
                    j = j.saturating_add(1);
                }
                if matches!(at(j), Some('}' | ']')) {
                    note("trailing commas", &mut quirks);
                } else {
                    out.push(c);
                }
                i = i.saturating_add(1);
            }
            _ => {
                let rest: String = chars.iter().skip(i).take(9).collect();
                let word = ["-Infinity", "Infinity", "NaN"]
                    .into_iter()
                    .find(|w| rest.starts_with(w));
                if let Some(w) = word {
                    note("NaN/Infinity", &mut quirks);
                    out.push_str("null");
                    i = i.saturating_add(w.chars().count());
                } else {
                    out.push(c);
                    i = i.saturating_add(1);
                }
            }
        }
    }
    (out, quirks)
}

/// Every occurrence of one of `keys` in `v`, at any depth: (JSON path, key, value).
pub fn find_keys<'v>(v: &'v Value, keys: &[&str]) -> Vec<(String, String, &'v Value)> {
    let mut out = Vec::new();
    walk(v, "$", keys, &mut out, 0);
    out
}

const MAX_DEPTH: u32 = 256;
const MAX_HITS: usize = 500;

fn walk<'v>(
    v: &'v Value,
    path: &str,
    keys: &[&str],
    out: &mut Vec<(String, String, &'v Value)>,
    depth: u32,
) {
    if depth > MAX_DEPTH || out.len() >= MAX_HITS {
        return;
    }
    let d = depth.saturating_add(1);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}.{k}");
                if keys.contains(&k.as_str()) {
                    out.push((p.clone(), k.clone(), x));
                }
                walk(x, &p, keys, out, d);
            }
        }
        Value::Array(xs) => {
            for (i, x) in xs.iter().enumerate() {
                walk(x, &format!("{path}[{i}]"), keys, out, d);
            }
        }
        _ => {}
    }
}

/// The strings a config value names, whatever its type: a string, the strings of a list or of
/// a mapping's values (recursively, bounded), numbers and booleans rendered as text.
pub fn strings_of(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(v, &mut out, 0);
    out
}

fn collect(v: &Value, out: &mut Vec<String>, depth: u32) {
    if depth > 16 || out.len() >= 64 {
        return;
    }
    let d = depth.saturating_add(1);
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(xs) => xs.iter().for_each(|x| collect(x, out, d)),
        Value::Object(m) => m.values().for_each(|x| collect(x, out, d)),
        Value::Null => {}
    }
}

/// `key: value` / `"key": "value"` pairs in raw JSON or YAML text, for every key in `keys`:
/// the value is the scalar after the colon (quotes stripped), up to a comma, brace or comment.
/// Values that are mappings or lists (`auto_map: {...}`) are returned as their first scalar line
/// of text, which is enough to name the key's presence.
pub fn raw_key_values(text: &str, keys: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in keys {
        let mut from = 0usize;
        while let Some(rel) = text.get(from..).and_then(|t| t.find(key)) {
            let pos = from.saturating_add(rel);
            from = pos.saturating_add(key.len());
            let before = text.get(..pos).and_then(|b| b.chars().last());
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let after = text.get(from..).unwrap_or("");
            let after = after.trim_start_matches(['"', '\'']);
            let Some(rest) = after.trim_start_matches([' ', '\t']).strip_prefix(':') else {
                continue;
            };
            let rest = rest.trim_start_matches([' ', '\t']);
            let value: String = rest
                .trim_start_matches(['"', '\'', '[', '{', ' '])
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | ',' | '}' | ']' | '\n' | '\r' | '#'))
                .take(512)
                .collect();
            out.push(((*key).to_owned(), value.trim().to_owned()));
            if out.len() >= MAX_HITS {
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn strict_json_has_no_quirks() {
        let (v, q) = parse_json(br#"{"a": 1}"#).expect("json");
        assert_eq!(v["a"], 1);
        assert!(q.is_empty());
    }

    #[test]
    fn bom_comments_trailing_commas_nan() {
        let src = "\u{feff}{\n // c\n \"a\": [1, 2,], /* x */ \"b\": NaN, \"c\": -Infinity,\n \"u\": \"http://x//y\",\n}";
        let (v, q) = parse_json(src.as_bytes()).expect("lenient");
        assert_eq!(v["a"], serde_json::json!([1, 2]));
        assert!(v["b"].is_null());
        assert_eq!(v["u"], "http://x//y");
        for want in [
            "byte-order mark",
            "comments",
            "trailing commas",
            "NaN/Infinity",
        ] {
            assert!(q.contains(&want), "{q:?}");
        }
    }

    #[test]
    fn unparsable_is_an_error() {
        assert!(parse_json(b"{\"a\": ").is_err());
    }

    #[test]
    fn keys_at_any_depth_and_any_type() {
        let v = serde_json::json!({"x": [{"y": {"_target_": 5}}], "auto_map": ["m.C"]});
        let hits = find_keys(&v, CODE_KEYS);
        assert_eq!(hits.len(), 2);
        assert!(hits
            .iter()
            .any(|(p, k, _)| k == "_target_" && p == "$.x[0].y._target_"));
        assert_eq!(
            strings_of(
                hits.iter()
                    .find(|h| h.1 == "_target_")
                    .map(|h| h.2)
                    .expect("t")
            ),
            vec!["5"]
        );
    }

    #[test]
    fn raw_pairs() {
        let t = "a:\n  _target_: os.system  # x\n  b: {\"loader_module\": \"evil\", c: 1}\n  x_target_: no\n";
        let got = raw_key_values(t, CODE_KEYS);
        assert!(got.contains(&("_target_".into(), "os.system".into())));
        assert!(got.contains(&("loader_module".into(), "evil".into())));
        assert_eq!(got.len(), 2);
    }
}
