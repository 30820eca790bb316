//! Python literals as `ast.literal_eval` reads them, never evaluated: numpy reads `.npy`
//! headers with it, so a scanner that parses "the dict numpy writes" instead of "what
//! literal_eval accepts" can be told a different dtype than numpy is (issue 10, principle 3).
//!
//! Accepted, as CPython's tokenizer and `literal_eval` do: strings with every prefix (`r`, `u`,
//! `b`, `br`/`rb`, any case) and quote style (single, double, triple), every escape of string
//! and bytes literals except `\N{…}` (named characters need the Unicode name table: reported
//! as unsupported, never guessed), implicit concatenation of adjacent literals, backslash
//! line continuations, comments, integers in every base with underscores, floats, complex
//! numbers (`1+2j`), one unary sign on a number, `True`/`False`/`None`/`...`, tuples with or
//! without parentheses, lists, sets and dicts (duplicate keys are kept in order; the last one
//! wins, as in Python). `L` suffixes on integers are accepted when asked (numpy retries
//! version 1 and 2 headers after dropping them).
//!
//! An error means the text is not one this parser can read; callers must not conclude that
//! Python rejects it unless they know why (see [`LitError`]).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

/// A Python literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Bytes(Vec<u8>),
    /// An integer; beyond `i128` only its sign is kept (`Int(i128::MAX/MIN)` never stands in).
    Int(i128),
    BigInt,
    Bool(bool),
    None,
    Float,
    Complex,
    Ellipsis,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Set(Vec<Lit>),
    /// Entries in source order, duplicates included: see [`Lit::get`].
    Dict(Vec<(Lit, Lit)>),
}

impl Lit {
    /// `d[key]` for a string key: the last entry wins, as in a Python dict display.
    pub fn get(&self, key: &str) -> Option<&Lit> {
        match self {
            Lit::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The distinct keys of a dict as Python would keep them (string keys compared by value;
    /// other keys are reported by their Python type name).
    pub fn dict_keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Lit::Dict(items) = self {
            for (k, _) in items {
                let name = match k {
                    Lit::Str(s) => s.clone(),
                    other => format!("<{}>", other.type_name()),
                };
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// Python's type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Lit::Str(_) => "str",
            Lit::Bytes(_) => "bytes",
            Lit::Int(_) | Lit::BigInt => "int",
            Lit::Bool(_) => "bool",
            Lit::None => "NoneType",
            Lit::Float => "float",
            Lit::Complex => "complex",
            Lit::Ellipsis => "ellipsis",
            Lit::Tuple(_) => "tuple",
            Lit::List(_) => "list",
            Lit::Set(_) => "set",
            Lit::Dict(_) => "dict",
        }
    }
}

/// Why a text was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LitError {
    /// CPython refuses it too (a NUL byte: "source code string cannot contain null bytes").
    Rejected(String),
    /// This parser cannot read it; CPython may or may not.
    Unreadable(String),
}

impl std::fmt::Display for LitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LitError::Rejected(m) | LitError::Unreadable(m) => f.write_str(m),
        }
    }
}

/// Parses `text` as `ast.literal_eval(text)` would; `long_suffix` also accepts Python 2 `3L`.
pub fn parse(text: &str, long_suffix: bool) -> Result<Lit, LitError> {
    if text.contains('\0') {
        return Err(LitError::Rejected(
            "the text contains a NUL byte (Python refuses such source)".into(),
        ));
    }
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        depth: 0,
        long_suffix,
        definite: false,
    };
    p.top().map_err(|m| {
        if p.definite {
            LitError::Rejected(m)
        } else {
            LitError::Unreadable(m)
        }
    })
}

const MAX_DEPTH: u32 = 64;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
    long_suffix: bool,
    /// The error is one `literal_eval` raises too (a name that is not a literal).
    definite: bool,
}

type R<T> = Result<T, String>;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.get(self.i.saturating_add(k)).copied()
    }

    fn bump(&mut self, n: usize) {
        self.i = self.i.saturating_add(n);
    }

    fn err<T>(&self, m: impl std::fmt::Display) -> R<T> {
        Err(format!("{m} at offset {}", self.i))
    }

    /// Whitespace, comments and backslash continuations (newlines are insignificant inside
    /// the brackets every header uses; at top level Python accepts blank lines around the
    /// expression, which is all this allows in effect).
    fn ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0c) => self.bump(1),
                Some(b'#') => {
                    while self.peek().is_some_and(|c| c != b'\n' && c != b'\r') {
                        self.bump(1);
                    }
                }
                Some(b'\\') if matches!(self.peek_at(1), Some(b'\n')) => self.bump(2),
                Some(b'\\')
                    if matches!(self.peek_at(1), Some(b'\r'))
                        && matches!(self.peek_at(2), Some(b'\n')) =>
                {
                    self.bump(3);
                }
                _ => return,
            }
        }
    }

    fn top(&mut self) -> R<Lit> {
        let first = self.value()?;
        self.ws();
        let v = if self.peek() == Some(b',') {
            // A bare tuple: `1, 2`.
            let mut items = vec![first];
            while self.peek() == Some(b',') {
                self.bump(1);
                self.ws();
                if self.peek().is_none() {
                    break;
                }
                items.push(self.value()?);
                self.ws();
            }
            Lit::Tuple(items)
        } else {
            first
        };
        self.ws();
        if self.i < self.s.len() {
            return self.err("unexpected text after the literal");
        }
        Ok(v)
    }

    fn value(&mut self) -> R<Lit> {
        self.ws();
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_DEPTH {
            return self.err("literal nested too deeply");
        }
        let v = self.value_inner();
        self.depth = self.depth.saturating_sub(1);
        v
    }

    fn value_inner(&mut self) -> R<Lit> {
        let Some(c) = self.peek() else {
            return self.err("unexpected end of the literal");
        };
        match c {
            b'(' => self.paren(),
            b'[' => {
                self.bump(1);
                Ok(Lit::List(self.items(b']')?))
            }
            b'{' => self.brace(),
            b'+' | b'-' => self.signed(),
            b'.' if self.peek_at(1) == Some(b'.') && self.peek_at(2) == Some(b'.') => {
                self.bump(3);
                Ok(Lit::Ellipsis)
            }
            c if c.is_ascii_digit() || c == b'.' => {
                let n = self.number()?;
                self.complex_tail(n)
            }
            b'\'' | b'"' => self.strings(),
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                if self.string_prefix().is_some() {
                    return self.strings();
                }
                self.name()
            }
            _ => self.err(format!("unexpected character {:?}", char::from(c))),
        }
    }

    /// `(…)`: the empty tuple, a parenthesised value, or a tuple.
    fn paren(&mut self) -> R<Lit> {
        self.bump(1);
        self.ws();
        if self.peek() == Some(b')') {
            self.bump(1);
            return Ok(Lit::Tuple(Vec::new()));
        }
        let first = self.value()?;
        self.ws();
        match self.peek() {
            Some(b')') => {
                self.bump(1);
                Ok(first)
            }
            Some(b',') => {
                self.bump(1);
                let mut items = vec![first];
                items.extend(self.items(b')')?);
                Ok(Lit::Tuple(items))
            }
            _ => self.err("expected ',' or ')'"),
        }
    }

    /// Comma-separated values up to `close` (a trailing comma is allowed).
    fn items(&mut self, close: u8) -> R<Vec<Lit>> {
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.bump(1);
                return Ok(out);
            }
            out.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.bump(1),
                Some(c) if c == close => {}
                _ => return self.err(format!("expected ',' or '{}'", char::from(close))),
            }
        }
    }

    /// `{}` (empty dict), a dict display or a set display.
    fn brace(&mut self) -> R<Lit> {
        self.bump(1);
        self.ws();
        if self.peek() == Some(b'}') {
            self.bump(1);
            return Ok(Lit::Dict(Vec::new()));
        }
        let first = self.value()?;
        self.ws();
        if self.peek() != Some(b':') {
            let mut items = vec![first];
            match self.peek() {
                Some(b',') => {
                    self.bump(1);
                    items.extend(self.items(b'}')?);
                }
                Some(b'}') => self.bump(1),
                _ => return self.err("expected ',' or '}'"),
            }
            return Ok(Lit::Set(items));
        }
        self.bump(1);
        let v = self.value()?;
        let mut out = vec![(first, v)];
        loop {
            self.ws();
            match self.peek() {
                Some(b'}') => {
                    self.bump(1);
                    return Ok(Lit::Dict(out));
                }
                Some(b',') => {
                    self.bump(1);
                    self.ws();
                    if self.peek() == Some(b'}') {
                        continue;
                    }
                    let k = self.value()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return self.err("expected ':' in a dict");
                    }
                    self.bump(1);
                    let v = self.value()?;
                    out.push((k, v));
                }
                _ => return self.err("expected ',' or '}'"),
            }
        }
    }

    /// One unary sign on a number literal (`literal_eval` refuses `--1` and `-True`), then an
    /// optional `± complex` part.
    fn signed(&mut self) -> R<Lit> {
        let neg = self.peek() == Some(b'-');
        self.bump(1);
        self.ws();
        if !self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            return self.err("a sign applies only to a number");
        }
        let n = match self.number()? {
            Lit::Int(v) => {
                if neg {
                    v.checked_neg().map_or(Lit::BigInt, Lit::Int)
                } else {
                    Lit::Int(v)
                }
            }
            other => other,
        };
        self.complex_tail(n)
    }

    /// `real ± imag j`: literal_eval accepts a binary + or - only between a real number and an
    /// imaginary literal.
    fn complex_tail(&mut self, left: Lit) -> R<Lit> {
        if matches!(left, Lit::Complex) {
            return Ok(left);
        }
        let save = self.i;
        self.ws();
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.bump(1);
            self.ws();
            if self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
                if let Lit::Complex = self.number()? {
                    return Ok(Lit::Complex);
                }
            }
            return self.err("'+' or '-' between numbers is not a literal");
        }
        self.i = save;
        Ok(left)
    }

    fn digits(&mut self, radix: u32) -> R<String> {
        let mut out = String::new();
        let mut prev_us = true; // no leading underscore
        while let Some(c) = self.peek() {
            if c == b'_' {
                if prev_us {
                    return self.err("misplaced '_' in a number");
                }
                prev_us = true;
            } else if char::from(c).is_digit(radix) {
                out.push(char::from(c));
                prev_us = false;
            } else {
                break;
            }
            self.bump(1);
        }
        if prev_us && !out.is_empty() {
            return self.err("a number ends with '_'");
        }
        Ok(out)
    }

    fn number(&mut self) -> R<Lit> {
        let start = self.i;
        let radix = match (self.peek(), self.peek_at(1).map(|c| c.to_ascii_lowercase())) {
            (Some(b'0'), Some(b'x')) => 16,
            (Some(b'0'), Some(b'o')) => 8,
            (Some(b'0'), Some(b'b')) => 2,
            _ => 10,
        };
        let lit = if radix == 10 {
            let int = self.digits(10)?;
            let mut float = false;
            if self.peek() == Some(b'.') {
                self.bump(1);
                float = true;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.digits(10)?;
                }
                if int.is_empty() && self.i == start.saturating_add(1) {
                    return self.err("a lone '.'");
                }
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                self.bump(1);
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.bump(1);
                }
                if self.digits(10)?.is_empty() {
                    return self.err("an exponent without digits");
                }
                float = true;
            }
            if matches!(self.peek(), Some(b'j' | b'J')) {
                self.bump(1);
                Lit::Complex
            } else if float {
                Lit::Float
            } else {
                if int.len() > 1 && int.starts_with('0') && int.bytes().any(|c| c != b'0') {
                    return self.err("leading zeros in a decimal integer");
                }
                int_lit(&int, 10)
            }
        } else {
            self.bump(2);
            if self.peek() == Some(b'_') {
                self.bump(1);
                if !self.peek().is_some_and(|c| char::from(c).is_digit(radix)) {
                    return self.err("misplaced '_' in a number");
                }
            }
            let d = self.digits(radix)?;
            if d.is_empty() {
                return self.err("a base prefix without digits");
            }
            int_lit(&d, radix)
        };
        if self.long_suffix && matches!(lit, Lit::Int(_) | Lit::BigInt) && self.peek() == Some(b'L')
        {
            self.bump(1);
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
        {
            return self.err("a name directly after a number");
        }
        Ok(lit)
    }

    fn name(&mut self) -> R<Lit> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
        {
            self.bump(1);
        }
        match self.s.get(start..self.i).unwrap_or_default() {
            b"True" => Ok(Lit::Bool(true)),
            b"False" => Ok(Lit::Bool(false)),
            b"None" => Ok(Lit::None),
            b"set" => {
                // `set()` is the one call literal_eval accepts.
                self.ws();
                if self.peek() == Some(b'(') {
                    self.bump(1);
                    self.ws();
                    if self.peek() == Some(b')') {
                        self.bump(1);
                        return Ok(Lit::Set(Vec::new()));
                    }
                }
                self.definite = true;
                self.err("only set() is a literal call")
            }
            other => {
                // Any other name (a call, an attribute, a variable) is a node literal_eval
                // refuses with ValueError.
                self.definite = true;
                Err(format!(
                    "the name {:?} is not a literal (literal_eval raises)",
                    String::from_utf8_lossy(other)
                ))
            }
        }
    }

    /// The prefix letters of a string literal at the cursor: (length, raw, bytes).
    fn string_prefix(&self) -> Option<(usize, bool, bool)> {
        let mut raw = false;
        let mut bytes = false;
        let mut u = false;
        for k in 0..3usize {
            match self.peek_at(k).map(|c| c.to_ascii_lowercase()) {
                Some(b'\'' | b'"') => {
                    if u && (raw || bytes) {
                        return None;
                    }
                    return Some((k, raw, bytes));
                }
                Some(b'r') if !raw => raw = true,
                Some(b'b') if !bytes && !u => bytes = true,
                Some(b'u') if k == 0 => u = true,
                _ => return None,
            }
        }
        None
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> R<Lit> {
        let mut text: Option<String> = None;
        let mut data: Option<Vec<u8>> = None;
        while let Some((plen, raw, bytes)) = self.string_prefix() {
            self.bump(plen);
            let body = self.string_body(raw, bytes)?;
            match (body, &mut text, &mut data) {
                (Body::Text(t), Some(acc), None) => acc.push_str(&t),
                (Body::Text(t), None, None) => text = Some(t),
                (Body::Bytes(b), None, Some(acc)) => acc.extend(b),
                (Body::Bytes(b), None, None) => data = Some(b),
                _ => return self.err("bytes and str literals cannot be concatenated"),
            }
            let save = self.i;
            self.ws();
            if !self.peek().is_some_and(|c| {
                c == b'\''
                    || c == b'"'
                    || (c.is_ascii_alphabetic() && self.string_prefix().is_some())
            }) {
                self.i = save;
                break;
            }
        }
        match (text, data) {
            (Some(t), None) => Ok(Lit::Str(t)),
            (None, Some(b)) => Ok(Lit::Bytes(b)),
            _ => self.err("not a string literal"),
        }
    }

    fn string_body(&mut self, raw: bool, bytes: bool) -> R<Body> {
        let q = self.peek().unwrap_or(b'\'');
        let triple = self.peek_at(1) == Some(q) && self.peek_at(2) == Some(q);
        self.bump(if triple { 3 } else { 1 });
        // Collect the source characters, then decode escapes.
        let mut out_text = String::new();
        let mut out_bytes: Vec<u8> = Vec::new();
        let src = std::str::from_utf8(self.s.get(self.i..).unwrap_or_default())
            .map_err(|_| format!("invalid UTF-8 at offset {}", self.i))?;
        let mut chars = src.char_indices().peekable();
        let push = |c: char, t: &mut String, b: &mut Vec<u8>| -> R<()> {
            if bytes {
                let v = u8::try_from(u32::from(c))
                    .ok()
                    .filter(u8::is_ascii)
                    .ok_or("bytes literals hold ASCII characters only")?;
                b.push(v);
            } else {
                t.push(c);
            }
            Ok(())
        };
        loop {
            let Some((at, c)) = chars.next() else {
                return self.err("unterminated string");
            };
            if u32::from(c) == u32::from(q) {
                if !triple {
                    self.bump(at.saturating_add(1));
                    break;
                }
                let rest = src.get(at..).unwrap_or_default().as_bytes();
                if rest.get(1) == Some(&q) && rest.get(2) == Some(&q) {
                    self.bump(at.saturating_add(3));
                    break;
                }
                push(c, &mut out_text, &mut out_bytes)?;
                continue;
            }
            if (c == '\n' || c == '\r') && !triple {
                return self.err("a newline inside a single-quoted string");
            }
            if c != '\\' {
                push(c, &mut out_text, &mut out_bytes)?;
                continue;
            }
            let Some((_, e)) = chars.next() else {
                return self.err("unterminated string");
            };
            if raw {
                // A backslash keeps the next character (even a quote) and itself.
                push('\\', &mut out_text, &mut out_bytes)?;
                if e == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n') {
                    push('\r', &mut out_text, &mut out_bytes)?;
                    chars.next();
                    push('\n', &mut out_text, &mut out_bytes)?;
                } else {
                    push(e, &mut out_text, &mut out_bytes)?;
                }
                continue;
            }
            let simple = match e {
                '\n' => Some(None),
                '\r' => {
                    if chars.peek().is_some_and(|&(_, n)| n == '\n') {
                        chars.next();
                    }
                    Some(None)
                }
                '\\' => Some(Some('\\')),
                '\'' => Some(Some('\'')),
                '"' => Some(Some('"')),
                'a' => Some(Some('\u{7}')),
                'b' => Some(Some('\u{8}')),
                'f' => Some(Some('\u{c}')),
                'n' => Some(Some('\n')),
                'r' => Some(Some('\r')),
                't' => Some(Some('\t')),
                'v' => Some(Some('\u{b}')),
                _ => None,
            };
            if let Some(s) = simple {
                if let Some(ch) = s {
                    push(ch, &mut out_text, &mut out_bytes)?;
                }
                continue;
            }
            match e {
                '0'..='7' => {
                    let mut v = e.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        match chars.peek().and_then(|&(_, d)| d.to_digit(8)) {
                            Some(d) => {
                                v = v.saturating_mul(8).saturating_add(d);
                                chars.next();
                            }
                            None => break,
                        }
                    }
                    if bytes {
                        out_bytes.push((v & 0xff) as u8);
                    } else {
                        out_text.push(char::from_u32(v).ok_or("bad octal escape")?);
                    }
                }
                'x' | 'u' | 'U' if bytes && e != 'x' => {
                    // Not escapes in bytes literals: kept verbatim.
                    out_bytes.push(b'\\');
                    out_bytes.push(e as u8);
                }
                'x' | 'u' | 'U' => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut v: u32 = 0;
                    for _ in 0..n {
                        let d = chars
                            .next()
                            .and_then(|(_, d)| d.to_digit(16))
                            .ok_or("truncated \\x, \\u or \\U escape")?;
                        v = v.saturating_mul(16).saturating_add(d);
                    }
                    if bytes {
                        out_bytes.push((v & 0xff) as u8);
                    } else {
                        out_text.push(char::from_u32(v).ok_or("escape beyond Unicode")?);
                    }
                }
                'N' if !bytes => {
                    return self.err("named escapes (\\N{...}) are not resolved by this parser");
                }
                other => {
                    // Unknown escapes keep the backslash (a warning in CPython).
                    push('\\', &mut out_text, &mut out_bytes)?;
                    push(other, &mut out_text, &mut out_bytes)?;
                }
            }
        }
        Ok(if bytes {
            Body::Bytes(out_bytes)
        } else {
            Body::Text(out_text)
        })
    }
}

enum Body {
    Text(String),
    Bytes(Vec<u8>),
}

fn int_lit(digits: &str, radix: u32) -> Lit {
    let t = digits.trim_start_matches('0');
    if t.is_empty() {
        return Lit::Int(0);
    }
    u128::from_str_radix(t, radix)
        .ok()
        .and_then(|v| i128::try_from(v).ok())
        .map_or(Lit::BigInt, Lit::Int)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> Lit {
        parse(s, false).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn s(v: &str) -> Lit {
        Lit::Str(v.into())
    }

    #[test]
    fn reads_what_literal_eval_reads() {
        assert_eq!(p("1 # c"), Lit::Int(1));
        assert_eq!(p("\n1\n"), Lit::Int(1));
        assert_eq!(p(" \t{'a':1}"), Lit::Dict(vec![(s("a"), Lit::Int(1))]));
        assert_eq!(p("\x0c1\r\n"), Lit::Int(1));
        assert_eq!(p("(1)"), Lit::Int(1));
        assert_eq!(p("((1,))"), Lit::Tuple(vec![Lit::Int(1)]));
        assert_eq!(p("1, 2"), Lit::Tuple(vec![Lit::Int(1), Lit::Int(2)]));
        assert_eq!(p("1+2j"), Lit::Complex);
        assert_eq!(p("-1.5-2j"), Lit::Complex);
        assert_eq!(p("'a' 'b'"), s("ab"));
        assert_eq!(p("'<' \"f8\""), s("<f8"));
        assert_eq!(p("'a'\\\n'b'"), s("ab"));
        assert_eq!(p("u'a'"), s("a"));
        assert_eq!(p("rb'a\\x'"), Lit::Bytes(b"a\\x".to_vec()));
        assert_eq!(p("'\\q'"), s("\\q"));
        assert_eq!(p("'\\x7cO'"), s("|O"));
        assert_eq!(p("'\\174O'"), s("|O"));
        assert_eq!(p("'\\u007cO'"), s("|O"));
        assert_eq!(p("'\\U0000007cO'"), s("|O"));
        assert_eq!(p("'''|\nO'''"), s("|\nO"));
        assert_eq!(p("'|\\\nO'"), s("|O"));
        assert_eq!(p("r'\\''"), s("\\'"));
        assert_eq!(p("1_0"), Lit::Int(10));
        assert_eq!(p("00"), Lit::Int(0));
        assert_eq!(p("0x_1f"), Lit::Int(31));
        assert_eq!(p("-0o17"), Lit::Int(-15));
        assert_eq!(p("{1,2}"), Lit::Set(vec![Lit::Int(1), Lit::Int(2)]));
        assert_eq!(p("..."), Lit::Ellipsis);
        assert_eq!(p("[1,]"), Lit::List(vec![Lit::Int(1)]));
        assert_eq!(p("{'a': 1 # x\n}"), Lit::Dict(vec![(s("a"), Lit::Int(1))]));
        assert_eq!(p("99999999999999999999999999999999999999999"), Lit::BigInt);
        assert_eq!(p(".5e-3"), Lit::Float);
        let d = p("{'k': 1, 'k': 2}");
        assert_eq!(d.get("k"), Some(&Lit::Int(2)));
        assert_eq!(d.dict_keys(), vec!["k".to_owned()]);
        assert_eq!(parse("3L", true), Ok(Lit::Int(3)));
    }

    #[test]
    fn refuses_what_literal_eval_refuses() {
        for bad in [
            "--1",
            "-True",
            "b'a' 'b'",
            "f'a'",
            "01",
            "1L",
            "__import__('os')",
            "1 2",
            "'a",
            "'\n'",
            "(1",
            "{'a' 1}",
            "1__0",
            "1_",
            "0x",
            "b'\u{e9}'",
            "'\\x7'",
            "a.b",
            "1+2",
            "[1 2]",
        ] {
            assert!(parse(bad, false).is_err(), "{bad:?}");
        }
        assert!(matches!(parse("\u{0}1", false), Err(LitError::Rejected(_))));
        assert!(matches!(
            parse("{'a': __import__('os')}", false),
            Err(LitError::Rejected(_))
        ));
        assert_eq!(parse("set( )", false), Ok(Lit::Set(Vec::new())));
        assert!(matches!(
            parse("'\\N{LATIN SMALL LETTER A}'", false),
            Err(LitError::Unreadable(_))
        ));
    }
}
