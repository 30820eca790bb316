#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! One XML reading for the XML model formats (PMML, OpenVINO IR): a bounded event stream over
//! [`quick_xml`], and what a document type declaration declares.
//!
//! quick-xml was chosen because it never expands entities and never fetches anything: a
//! `<!DOCTYPE>` comes back as raw text, `&name;` as a reference event, and nothing is resolved
//! unless the caller asks. That is what a scanner of hostile XML needs (XXE, "billion laughs"):
//! the declarations are read as data and reported, and a reference to a declared entity is
//! reported where it is used, without the scanner ever doing what a vulnerable loader would do.
//!
//! Memory is bounded whatever the input: quick-xml buffers one event at a time, and the reader
//! below refuses an event (a tag, a text run, a declaration) larger than [`MAX_EVENT_BYTES`] and
//! nesting deeper than [`MAX_DEPTH`], so a 2 GiB text node is an error, not a 2 GiB allocation.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use quick_xml::events::Event;

/// The largest single event (start tag with its attributes, text run, DOCTYPE) read.
pub const MAX_EVENT_BYTES: u64 = 16 * 1024 * 1024;
/// Elements nested deeper than this end the reading (real PMML trees and OpenVINO bodies nest a
/// few hundred levels at most).
pub const MAX_DEPTH: usize = 10_000;

/// Why an XML document could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed XML at byte {offset}: {message}")]
    Syntax { offset: u64, message: String },
    #[error("one XML event (tag, text or declaration) is larger than {MAX_EVENT_BYTES} bytes")]
    EventTooLarge,
    #[error("elements nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the document ends inside element <{0}>")]
    Unclosed(String),
    #[error("the document has no root element")]
    NoRoot,
    #[error("a second root element <{0}> follows the first")]
    SecondRoot(String),
    #[error("the document is not UTF-8 (it declares or starts like {0}); it cannot be inspected")]
    NotUtf8(String),
    #[error("reading failed: {0}")]
    Io(String),
}

/// One event of the stream, decoded leniently: predefined entities and character references are
/// replaced; a reference to any other entity is left in the text as `&name;` and also reported
/// as [`XmlEvent::EntityRef`] (or in [`Element::entity_refs`] for attribute values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlEvent {
    /// A start tag (`empty` for `<x/>`, which has no [`XmlEvent::End`]).
    Start(Element),
    End {
        name: String,
        /// Nesting depth of the element closed (the root is 1).
        depth: usize,
    },
    /// Text or CDATA content (raw CDATA, decoded text).
    Text(String),
    /// `&name;` in content, for a name that is not one of XML's five predefined entities.
    EntityRef(String),
    Doctype(Doctype),
    /// A processing instruction other than the XML declaration: target and content.
    Pi {
        target: String,
        content: String,
    },
}

/// A start tag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The qualified name as written (`pmml:PMML`).
    pub name: String,
    /// The attributes as written (qualified names), values decoded leniently.
    pub attrs: Vec<(String, String)>,
    /// Entities other than the predefined ones referenced in attribute values.
    pub entity_refs: Vec<String>,
    pub empty: bool,
    /// Nesting depth (the root is 1).
    pub depth: usize,
}

impl Element {
    /// The name without its namespace prefix.
    pub fn local(&self) -> &str {
        local_name(&self.name)
    }

    /// The value of the attribute whose local name is `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| local_name(k) == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The part of a qualified name after its prefix.
pub fn local_name(q: &str) -> &str {
    q.rsplit_once(':').map_or(q, |(_, l)| l)
}

/// What a `<!DOCTYPE …>` declares. Parsed from the declaration's text without resolving anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Doctype {
    /// The declared root element name.
    pub root: String,
    /// The external DTD (`SYSTEM "uri"` / `PUBLIC "id" "uri"`): its system URI.
    pub external_dtd: Option<String>,
    /// `<!ENTITY …>` declarations in the internal subset.
    pub entities: Vec<EntityDecl>,
    /// The raw declaration, clipped, for evidence.
    pub raw: String,
}

/// One `<!ENTITY>` declaration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityDecl {
    pub name: String,
    /// A parameter entity (`<!ENTITY % name …>`).
    pub parameter: bool,
    /// The system URI of an external entity (`SYSTEM "file:///etc/passwd"`).
    pub system: Option<String>,
    /// The replacement text of an internal entity.
    pub value: Option<String>,
}

impl Doctype {
    /// Parses the text quick-xml gives for a DOCTYPE (everything between `<!DOCTYPE` and the
    /// closing `>`). Lenient: whatever does not parse is kept in `raw` and still reported by the
    /// caller, since any DOCTYPE in a model file is unusual.
    pub fn parse(text: &str) -> Self {
        let mut t = Tokens::new(text);
        let root = t.word().unwrap_or_default();
        let mut d = Doctype {
            root,
            raw: crate::finding::clip(text.trim(), 400),
            ..Doctype::default()
        };
        d.external_dtd = t.external_id();
        if let Some(start) = text.find('[') {
            let subset = text.get(start.saturating_add(1)..).unwrap_or_default();
            let mut rest = subset;
            while let Some(at) = rest.find("<!ENTITY") {
                let after = rest.get(at.saturating_add(8)..).unwrap_or_default();
                let mut t = Tokens::new(after);
                let parameter = t.peek_char() == Some('%');
                if parameter {
                    t.skip(1);
                }
                let name = t.word().unwrap_or_default();
                let (system, value) = match t.external_id() {
                    Some(uri) => (Some(uri), None),
                    None => (None, t.quoted()),
                };
                d.entities.push(EntityDecl {
                    name,
                    parameter,
                    system,
                    value,
                });
                rest = after;
                if d.entities.len() >= 1000 {
                    break;
                }
            }
        }
        d
    }

    /// Whether the declaration makes a reader that honours it fetch or read something outside the
    /// document: an external DTD or an external entity.
    pub fn is_external(&self) -> bool {
        self.external_dtd.is_some() || self.entities.iter().any(|e| e.system.is_some())
    }
}

/// A small tokenizer over declaration text.
struct Tokens<'a> {
    s: &'a str,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        Self { s }
    }
    fn ws(&mut self) {
        self.s = self.s.trim_start();
    }
    fn peek_char(&mut self) -> Option<char> {
        self.ws();
        self.s.chars().next()
    }
    fn skip(&mut self, n: usize) {
        self.s = self.s.get(n..).unwrap_or_default();
    }
    fn word(&mut self) -> Option<String> {
        self.ws();
        let end = self
            .s
            .find(|c: char| c.is_whitespace() || matches!(c, '[' | '>' | '"' | '\''))
            .unwrap_or(self.s.len());
        let w = self.s.get(..end)?;
        self.s = self.s.get(end..).unwrap_or_default();
        (!w.is_empty()).then(|| w.to_owned())
    }
    fn quoted(&mut self) -> Option<String> {
        let q = self.peek_char()?;
        if q != '"' && q != '\'' {
            return None;
        }
        let body = self.s.get(1..)?;
        let end = body.find(q)?;
        let v = body.get(..end)?.to_owned();
        self.s = body.get(end.saturating_add(1)..).unwrap_or_default();
        Some(v)
    }
    /// `SYSTEM "uri"` or `PUBLIC "pubid" "uri"`: the URI.
    fn external_id(&mut self) -> Option<String> {
        self.ws();
        let save = self.s;
        match self.word().as_deref() {
            Some("SYSTEM") => self.quoted(),
            Some("PUBLIC") => {
                let _public_id = self.quoted();
                Some(self.quoted().unwrap_or_default())
            }
            _ => {
                self.s = save;
                None
            }
        }
    }
}

/// Where the root element of an XML document starts to say what it is: the root element's
/// qualified name when `head` reaches it, else the DOCTYPE's root name when one was seen (a long
/// internal subset pushes the root past the sniffing window, and such a subset is exactly what
/// must not make a file unrecognised).
pub fn root_name(head: &[u8]) -> Option<String> {
    let h = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let mut i = 0usize;
    let mut doctype_root: Option<String> = None;
    loop {
        while h.get(i).is_some_and(u8::is_ascii_whitespace) {
            i = i.saturating_add(1);
        }
        let rest = h.get(i..)?;
        if rest.starts_with(b"<?") {
            let Some(end) = find(rest, b"?>") else {
                return doctype_root;
            };
            i = i.saturating_add(end).saturating_add(2);
        } else if rest.starts_with(b"<!--") {
            let Some(end) = find(rest, b"-->") else {
                return doctype_root;
            };
            i = i.saturating_add(end).saturating_add(3);
        } else if rest.starts_with(b"<!DOCTYPE") {
            let body = rest.get(9..).unwrap_or_default();
            let text = String::from_utf8_lossy(body.get(..body.len().min(200)).unwrap_or_default())
                .into_owned();
            doctype_root = Tokens::new(&text).word();
            let Some(end) = doctype_end(rest) else {
                return doctype_root;
            };
            i = i.saturating_add(end);
        } else if rest.first() == Some(&b'<') {
            let name: Vec<u8> = rest
                .get(1..)?
                .iter()
                .take_while(|c| !c.is_ascii_whitespace() && !matches!(c, b'>' | b'/'))
                .copied()
                .collect();
            return (!name.is_empty()).then(|| String::from_utf8_lossy(&name).into_owned());
        } else {
            return doctype_root;
        }
    }
}

/// The end (one past `>`) of a DOCTYPE starting at `s`, skipping its bracketed internal subset.
fn doctype_end(s: &[u8]) -> Option<usize> {
    let mut in_subset = false;
    let mut quote: Option<u8> = None;
    for (i, &c) in s.iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'[') => in_subset = true,
            (None, b']') => in_subset = false,
            (None, b'>') if !in_subset => return Some(i.saturating_add(1)),
            _ => {}
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The encoding a document starts like, when that is not UTF-8 (a UTF-16 or UTF-32 byte order
/// mark or zero bytes interleaved, or an `encoding` in the XML declaration other than UTF-8 and
/// its ASCII subsets). quick-xml is built without transcoding, so such a document is reported as
/// not inspectable rather than read as garbage.
pub fn foreign_encoding(head: &[u8]) -> Option<String> {
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return Some("UTF-16".into());
    }
    if head.starts_with(b"\x00<") || head.starts_with(b"<\x00") {
        return Some("UTF-16 without a byte order mark".into());
    }
    let h = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if h.starts_with(b"<?xml") {
        let end = find(h, b"?>").unwrap_or(h.len());
        let decl = String::from_utf8_lossy(h.get(..end).unwrap_or_default()).to_ascii_lowercase();
        if let Some(at) = decl.find("encoding") {
            let v = decl.get(at.saturating_add(8)..).unwrap_or_default();
            let v = v.trim_start().trim_start_matches('=').trim_start();
            let v = v.trim_start_matches(['"', '\'']);
            let name: String = v
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            if !matches!(name.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii" | "") {
                return Some(name);
            }
        }
    }
    None
}

/// Decodes predefined entities and character references; other references stay as written and
/// are collected into `refs`.
pub fn decode_lenient(raw: &str, refs: &mut Vec<String>) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at.saturating_add(1)..).unwrap_or_default();
        let Some(semi) = after.find(';').filter(|&s| s <= 64) else {
            out.push('&');
            rest = after;
            continue;
        };
        let name = after.get(..semi).unwrap_or_default();
        match resolve_builtin(name) {
            Some(c) => out.push(c),
            None => {
                if refs.len() < 1000 {
                    refs.push(name.to_owned());
                }
                out.push('&');
                out.push_str(name);
                out.push(';');
            }
        }
        rest = after.get(semi.saturating_add(1)..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn resolve_builtin(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => {
            let num = name.strip_prefix('#')?;
            let n = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(n)
        }
    }
}

/// A `BufRead` that fails once more than [`MAX_EVENT_BYTES`] are consumed since the last reset:
/// the reader resets it after every event, so one event can never buffer more than that.
struct Bounded<R> {
    inner: R,
    used: Rc<Cell<u64>>,
}

impl<R: BufRead> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count(n)?;
        Ok(n)
    }
}

impl<R: BufRead> Bounded<R> {
    fn count(&self, n: usize) -> io::Result<()> {
        let used = self.used.get().saturating_add(n as u64);
        self.used.set(used);
        if used > MAX_EVENT_BYTES {
            return Err(io::Error::other(BOUND_MESSAGE));
        }
        Ok(())
    }
}

const BOUND_MESSAGE: &str = "xml event too large";

impl<R: BufRead> BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.used.get() > MAX_EVENT_BYTES {
            return Err(io::Error::other(BOUND_MESSAGE));
        }
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.used.set(self.used.get().saturating_add(amt as u64));
        self.inner.consume(amt);
    }
}

/// Reads `input` to its end, calling `visit` for every event. Stops at the first error (the
/// events before it have been visited) or when `visit` returns `false`. Checks what the real
/// parsers (pugixml, JAXB) reject: mismatched or unclosed tags, no root, a second root.
pub fn read_events(
    input: impl Read,
    mut visit: impl FnMut(XmlEvent) -> bool,
) -> Result<(), XmlError> {
    let used = Rc::new(Cell::new(0u64));
    let bounded = Bounded {
        inner: BufReader::new(input),
        used: Rc::clone(&used),
    };
    let mut reader = quick_xml::Reader::from_reader(bounded);
    {
        let c = reader.config_mut();
        c.check_end_names = true;
        c.check_comments = true;
        c.expand_empty_elements = false;
    }
    let mut buf = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0usize;
    let mut first = true;
    loop {
        buf.clear();
        used.set(0);
        let event = match reader.read_event_into(&mut buf) {
            // The bound is checked when more input is asked for; an event that ended exactly
            // on the chunk that crossed it is refused here.
            Ok(_) if used.get() > MAX_EVENT_BYTES => return Err(XmlError::EventTooLarge),
            Ok(e) => e,
            Err(e) => {
                let message = e.to_string();
                if message.contains(BOUND_MESSAGE) {
                    return Err(XmlError::EventTooLarge);
                }
                return Err(XmlError::Syntax {
                    offset: reader.error_position(),
                    message,
                });
            }
        };
        if first {
            first = false;
            if let Event::Decl(d) = &event {
                if let Some(Ok(enc)) = d.encoding() {
                    let e = enc.to_ascii_lowercase();
                    if !matches!(e.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                        return Err(XmlError::NotUtf8(enc.into_owned()));
                    }
                }
            }
        }
        let (start, empty) = match event {
            Event::Start(s) => (Some(s), false),
            Event::Empty(s) => (Some(s), true),
            other => {
                // Not a start tag: handled below.
                let out = match other {
                    Event::End(e) => {
                        let depth = stack.len();
                        stack.pop();
                        XmlEvent::End {
                            name: e.name().as_ref().to_owned(),
                            depth,
                        }
                    }
                    Event::Text(t) => {
                        let raw: &str = &t;
                        if stack.is_empty() && !raw.trim().is_empty() {
                            return Err(XmlError::Syntax {
                                offset: reader.buffer_position(),
                                message: "text outside the root element".into(),
                            });
                        }
                        let mut refs = Vec::new();
                        XmlEvent::Text(decode_lenient(raw, &mut refs))
                    }
                    Event::CData(t) => XmlEvent::Text((*t).to_owned()),
                    Event::GeneralRef(r) => {
                        let name = r.into_inner().into_owned();
                        match resolve_builtin(&name) {
                            Some(c) => XmlEvent::Text(c.to_string()),
                            None => XmlEvent::EntityRef(name),
                        }
                    }
                    Event::DocType(t) => XmlEvent::Doctype(Doctype::parse(&t)),
                    Event::PI(p) => XmlEvent::Pi {
                        target: p.target().to_owned(),
                        content: p.content().to_owned(),
                    },
                    Event::Comment(_) | Event::Decl(_) | Event::Start(_) | Event::Empty(_) => {
                        continue
                    }
                    Event::Eof => break,
                };
                if !visit(out) {
                    return Ok(());
                }
                continue;
            }
        };
        let out = match start {
            Some(s) => {
                let name = s.name().as_ref().to_owned();
                if stack.is_empty() {
                    roots = roots.saturating_add(1);
                    if roots > 1 {
                        return Err(XmlError::SecondRoot(name));
                    }
                }
                let mut el = Element {
                    name: name.clone(),
                    empty,
                    depth: stack.len().saturating_add(1),
                    ..Element::default()
                };
                let mut attrs = s.attributes();
                attrs.with_checks(true);
                for a in attrs {
                    let a = a.map_err(|e| XmlError::Syntax {
                        offset: reader.buffer_position(),
                        message: e.to_string(),
                    })?;
                    let v = decode_lenient(&a.value, &mut el.entity_refs);
                    el.attrs.push((a.key.as_ref().to_owned(), v));
                }
                if !empty {
                    if stack.len() >= MAX_DEPTH {
                        return Err(XmlError::TooDeep);
                    }
                    stack.push(name);
                }
                XmlEvent::Start(el)
            }
            None => continue,
        };
        if !visit(out) {
            return Ok(());
        }
    }
    if let Some(open) = stack.pop() {
        return Err(XmlError::Unclosed(open));
    }
    if roots == 0 {
        return Err(XmlError::NoRoot);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn events(xml: &str) -> (Vec<XmlEvent>, Result<(), XmlError>) {
        let mut v = Vec::new();
        let r = read_events(xml.as_bytes(), |e| {
            v.push(e);
            true
        });
        (v, r)
    }

    #[test]
    fn roots_are_found_past_the_prolog() {
        assert_eq!(
            root_name(b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- c --><PMML version=\"4.4\">")
                .as_deref(),
            Some("PMML")
        );
        assert_eq!(
            root_name(b"<?xml version=\"1.0\"?><net name=\"m\" version=\"11\">").as_deref(),
            Some("net")
        );
        assert_eq!(
            root_name(b"<!DOCTYPE PMML [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><PMML>")
                .as_deref(),
            Some("PMML")
        );
        // The root beyond the head: the DOCTYPE's name stands in.
        assert_eq!(
            root_name(b"<!DOCTYPE PMML [<!ENTITY a \"aaaaaaaa").as_deref(),
            Some("PMML")
        );
        assert_eq!(root_name(b"plain text"), None);
        assert_eq!(root_name(b"{\"a\": 1}"), None);
    }

    #[test]
    fn doctypes_are_read_not_resolved() {
        let d = Doctype::parse(
            " PMML SYSTEM \"http://x/pmml.dtd\" [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> <!ENTITY % p \"v\"> <!ENTITY lol \"lol\"> ]",
        );
        assert_eq!(d.root, "PMML");
        assert_eq!(d.external_dtd.as_deref(), Some("http://x/pmml.dtd"));
        assert_eq!(d.entities.len(), 3);
        assert_eq!(d.entities[0].system.as_deref(), Some("file:///etc/passwd"));
        assert!(d.entities[1].parameter);
        assert_eq!(d.entities[2].value.as_deref(), Some("lol"));
        assert!(d.is_external());
    }

    #[test]
    fn entity_references_are_reported_never_expanded() {
        let (ev, r) = events(
            "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a k=\"&x;&amp;\">&x;&lt;</a>",
        );
        r.unwrap();
        assert!(matches!(&ev[0], XmlEvent::Doctype(d) if d.entities.len() == 1));
        let XmlEvent::Start(el) = &ev[1] else {
            panic!("{ev:?}")
        };
        assert_eq!(el.attr("k"), Some("&x;&"));
        assert_eq!(el.entity_refs, vec!["x".to_owned()]);
        assert!(ev.contains(&XmlEvent::EntityRef("x".into())));
        assert!(ev.contains(&XmlEvent::Text("<".into())));
    }

    #[test]
    fn broken_documents_are_errors() {
        assert!(matches!(
            events("<a><b></a>").1,
            Err(XmlError::Syntax { .. })
        ));
        assert_eq!(events("<a><b>").1, Err(XmlError::Unclosed("b".into())));
        assert_eq!(events("").1, Err(XmlError::NoRoot));
        assert_eq!(events("<a/><b/>").1, Err(XmlError::SecondRoot("b".into())));
        assert!(matches!(
            events("<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>").1,
            Err(XmlError::NotUtf8(_))
        ));
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(events(&deep).1, Err(XmlError::TooDeep));
    }

    #[test]
    fn one_huge_event_is_refused_without_buffering_it() {
        let big = format!("<a>{}</a>", "x".repeat((MAX_EVENT_BYTES + 10) as usize));
        assert_eq!(events(&big).1, Err(XmlError::EventTooLarge));
    }

    #[test]
    fn a_byte_order_mark_is_not_text_before_the_root() {
        let (ev, r) = events("\u{feff}<?xml version=\"1.0\"?>\n<a/>");
        r.unwrap();
        assert!(
            ev.iter()
                .any(|e| matches!(e, XmlEvent::Start(el) if el.name == "a")),
            "{ev:?}"
        );
    }

    #[test]
    fn empty_elements_have_no_end() {
        let (ev, r) = events("<a><b x=\"1\"/></a>");
        r.unwrap();
        assert!(matches!(&ev[1], XmlEvent::Start(e) if e.empty && e.depth == 2));
        assert_eq!(ev.len(), 3);
    }

    #[test]
    fn foreign_encodings_are_named() {
        assert_eq!(foreign_encoding(b"\xff\xfe<\x00"), Some("UTF-16".into()));
        assert_eq!(
            foreign_encoding(b"<?xml version='1.0' encoding='ISO-8859-1'?>"),
            Some("iso-8859-1".into())
        );
        assert_eq!(
            foreign_encoding(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            None
        );
    }
}
