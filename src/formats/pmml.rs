#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! PMML (Predictive Model Markup Language, the Data Mining Group's XML format for scoring
//! models): what a document holds that an evaluator acts on beyond plain numbers.
//!
//! * **Document type declarations.** PMML has no DTD (it is defined by an XML Schema), so a
//!   `<!DOCTYPE>` is foreign to the format; with entity declarations or an external DTD it is the
//!   vehicle of XML external entity (XXE) attacks and entity-expansion bombs against whichever
//!   XML parser the evaluator uses (JAXB over a SAX parser in JPMML, the JDK's parser in PMML4S,
//!   lxml or the standard library in Python tools).
//! * **Java user-defined functions.** JPMML-Evaluator resolves an `<Apply function="…">` whose
//!   name is neither built in nor defined by a `<DefineFunction>` by loading a class of that name
//!   from the application's class path and instantiating it (`FunctionRegistry.getFunction` ->
//!   `loadJavaFunction`): a dotted name makes the model choose code to run.
//! * **Extensions.** `<Extension>` elements may hold anything; evaluators and tools that act on
//!   their own extensions (scripts, expressions in another language) run what the model carries.
//! * **External references.** URLs in attribute values (schema locations, `xml-stylesheet`
//!   processing instructions, XInclude `href`s) make a validating or transforming reader fetch.
//!
//! The document is read once, as a stream, with [`crate::formats::xml`] (no entity expansion).

use std::io::Read;

use crate::formats::xml::{self, Doctype, Element, XmlError, XmlEvent};

/// Extension text kept for analysis, per extension element tree.
const MAX_EXTENSION_TEXT: usize = 64 * 1024;
/// Facts of each kind kept (a document with more is reported by its first ones).
const MAX_FACTS: usize = 64;

/// What a PMML document holds, as far as scanning is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// Whether the root element is `<PMML>` (facts below are about a PMML document).
    pub is_pmml: bool,
    /// The root element's `version` attribute.
    pub version: Option<String>,
    /// `Header/Application` name and version.
    pub application: Option<String>,
    /// The model elements (children of the root whose names end in `Model`, or `Scorecard`).
    pub models: Vec<String>,
    pub doctype: Option<Doctype>,
    /// Entities referenced in content or attribute values (never expanded).
    pub entity_refs: Vec<String>,
    /// Dotted `Apply function` names not defined by a `DefineFunction` (Java UDF candidates).
    pub java_functions: Vec<String>,
    /// Extensions that carry code.
    pub extensions: Vec<Extension>,
    /// How many `Extension` elements the document has.
    pub extension_count: usize,
    /// External references: where (element/attribute) and the URL.
    pub external_refs: Vec<ExternalRef>,
}

/// One `<Extension>` that carries something an evaluator could run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extension {
    /// The `name` or `extender` attribute of the extension, if any.
    pub name: Option<String>,
    /// Why it is considered code (a marker element or attribute, a code pattern).
    pub markers: Vec<String>,
    /// Calls of process or code execution found in its text (`Runtime.getRuntime`, `os.system`).
    pub exec_calls: Vec<String>,
    /// The start of its text, for evidence.
    pub excerpt: String,
}

/// A URL in an attribute value or processing instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRef {
    pub place: String,
    pub url: String,
    /// XInclude, which an XInclude-aware parser replaces with the referenced document.
    pub include: bool,
}

/// Why a PMML document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PmmlError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the root element is <{0}>, not <PMML>")]
    NotPmml(String),
}

/// Element names (local) and attribute names that mark an extension as carrying code.
const CODE_ELEMENTS: &[&str] = &[
    "script",
    "code",
    "lambda",
    "javascript",
    "python",
    "groovy",
    "mvel",
    "jython",
    "source",
];
const CODE_ATTRIBUTES: &[&str] = &["language", "lang", "script", "engine", "code"];
/// Extension `name` values that say the value is code.
const CODE_NAMES: &[&str] = &[
    "script",
    "code",
    "lambda",
    "python",
    "javascript",
    "groovy",
    "java",
    "udf",
    "eval",
];

/// Substrings of process- or code-execution calls in Java, Python, JavaScript and shells.
const EXEC_PATTERNS: &[&str] = &[
    "runtime.getruntime",
    "processbuilder",
    "java.lang.runtime",
    "scriptenginemanager",
    "class.forname",
    "os.system",
    "os.popen",
    "subprocess",
    "__import__",
    "exec(",
    "eval(",
    "compile(",
    "child_process",
    "require(",
    "/bin/sh",
    "/bin/bash",
    "cmd.exe",
    "powershell",
];

/// URL schemes that make a reader fetch or open something.
const URL_SCHEMES: &[&str] = &[
    "http://",
    "https://",
    "ftp://",
    "file:",
    "jar:",
    "jndi:",
    "ldap://",
    "ldaps://",
    "rmi://",
    "gopher://",
    "dict://",
    "netdoc:",
    "smb://",
    "\\\\",
];

/// Attributes whose value a reader follows (XLink/XInclude `href`, `src`, …). A URL in other
/// attributes (a `copyright` or `description` naming a web site) is text nobody fetches.
const REFERENCE_ATTRIBUTES: &[&str] = &[
    "href", "src", "url", "uri", "location", "file", "path", "resource", "source", "base",
];

/// Whether `v` starts with a URL scheme a reader would follow.
pub fn is_url(v: &str) -> bool {
    let l = v.trim_start().to_ascii_lowercase();
    URL_SCHEMES.iter().any(|s| l.starts_with(s))
}

/// The process- or code-execution patterns found in `text` (lower-cased match).
pub fn exec_calls(text: &str) -> Vec<String> {
    let l = text.to_ascii_lowercase();
    EXEC_PATTERNS
        .iter()
        .filter(|p| l.contains(**p))
        .map(|p| (*p).to_owned())
        .collect()
}

/// State of the extension tree being read.
#[derive(Default)]
struct OpenExtension {
    /// The nesting depth of the `<Extension>` element itself.
    depth: usize,
    ext: Extension,
    text: String,
}

impl Document {
    /// Reads a PMML document to its end. The facts read before an error are returned with it, so
    /// that a payload before a syntax error is still reported.
    pub fn read(input: impl Read) -> (Self, Result<(), PmmlError>) {
        let mut doc = Document::default();
        let mut defined: Vec<String> = Vec::new();
        let mut applied: Vec<String> = Vec::new();
        let mut open: Option<OpenExtension> = None;
        let mut in_header = false;
        let mut not_pmml: Option<String> = None;
        let r = xml::read_events(input, |ev| {
            match ev {
                XmlEvent::Doctype(d) => doc.doctype = Some(d),
                XmlEvent::EntityRef(name) => push(&mut doc.entity_refs, name),
                XmlEvent::Pi { target, content } => {
                    if let Some(url) = href(&content).filter(|u| is_url(u)) {
                        push(
                            &mut doc.external_refs,
                            ExternalRef {
                                place: format!("<?{target}?>"),
                                url,
                                include: false,
                            },
                        );
                    }
                }
                XmlEvent::Start(el) => {
                    for r in &el.entity_refs {
                        push(&mut doc.entity_refs, r.clone());
                    }
                    if el.depth == 1 {
                        if el.local() != "PMML" {
                            not_pmml = Some(el.name.clone());
                            return false;
                        }
                        doc.is_pmml = true;
                        doc.version = el.attr("version").map(str::to_owned);
                    }
                    doc.element(&el, &mut defined, &mut applied, &mut in_header);
                    match &mut open {
                        Some(o) => o.inner(&el),
                        None if el.local() == "Extension" => {
                            doc.extension_count = doc.extension_count.saturating_add(1);
                            let mut o = OpenExtension {
                                depth: el.depth,
                                ext: Extension {
                                    name: el
                                        .attr("name")
                                        .or_else(|| el.attr("extender"))
                                        .map(str::to_owned),
                                    ..Extension::default()
                                },
                                text: String::new(),
                            };
                            o.inner(&el);
                            if el.empty {
                                doc.close_extension(o);
                            } else {
                                open = Some(o);
                            }
                        }
                        None => {}
                    }
                }
                XmlEvent::Text(t) => {
                    if let Some(o) = &mut open {
                        o.push_text(&t);
                    }
                }
                XmlEvent::End { name, depth } => {
                    if xml::local_name(&name) == "Header" {
                        in_header = false;
                    }
                    if open.as_ref().is_some_and(|o| o.depth == depth) {
                        if let Some(o) = open.take() {
                            doc.close_extension(o);
                        }
                    }
                }
            }
            true
        });
        if let Some(o) = open.take() {
            doc.close_extension(o);
        }
        for f in applied {
            if !defined.contains(&f) && !doc.java_functions.contains(&f) {
                push(&mut doc.java_functions, f);
            }
        }
        let result = match (not_pmml, r) {
            (Some(root), _) => Err(PmmlError::NotPmml(root)),
            (None, r) => r.map_err(PmmlError::from),
        };
        (doc, result)
    }

    fn element(
        &mut self,
        el: &Element,
        defined: &mut Vec<String>,
        applied: &mut Vec<String>,
        in_header: &mut bool,
    ) {
        let local = el.local();
        match local {
            "Header" if !el.empty => *in_header = true,
            "Application" if *in_header => {
                let name = el.attr("name").unwrap_or("(unnamed)");
                self.application = Some(match el.attr("version") {
                    Some(v) => format!("{name} {v}"),
                    None => name.to_owned(),
                });
            }
            "DefineFunction" => {
                if let Some(n) = el.attr("name") {
                    push(defined, n.to_owned());
                }
            }
            "Apply" => {
                if let Some(f) = el.attr("function").filter(|f| f.contains('.')) {
                    if !applied.iter().any(|a| a == f) {
                        push(applied, f.to_owned());
                    }
                }
            }
            _ => {}
        }
        if el.depth == 2 && (local.ends_with("Model") || local == "Scorecard") {
            push(&mut self.models, local.to_owned());
        }
        let include = local == "include" && el.name.contains(':');
        for (k, v) in &el.attrs {
            let key = xml::local_name(k);
            if k == "xmlns" || k.starts_with("xmlns:") {
                continue;
            }
            if key == "schemaLocation" || key == "noNamespaceSchemaLocation" {
                // `namespace location` pairs: the locations are what a validating reader fetches.
                for url in v.split_whitespace().filter(|u| is_url(u)) {
                    if !is_dmg_schema(url) {
                        push(
                            &mut self.external_refs,
                            ExternalRef {
                                place: format!("<{}> {k}", el.name),
                                url: url.to_owned(),
                                include: false,
                            },
                        );
                    }
                }
                continue;
            }
            if (is_url(v) && REFERENCE_ATTRIBUTES.contains(&key)) || (include && key == "href") {
                push(
                    &mut self.external_refs,
                    ExternalRef {
                        place: format!("<{}> {k}", el.name),
                        url: crate::finding::clip(v, 300),
                        include,
                    },
                );
            }
        }
    }

    fn close_extension(&mut self, mut o: OpenExtension) {
        o.ext.exec_calls = exec_calls(&o.text);
        if !o.ext.exec_calls.is_empty() && o.ext.markers.is_empty() {
            o.ext
                .markers
                .push("text with process or code execution".into());
        }
        if o.ext.markers.is_empty() {
            return;
        }
        o.ext.excerpt = crate::finding::clip(o.text.trim(), 200);
        push(&mut self.extensions, o.ext);
    }
}

impl OpenExtension {
    /// An element inside (or the start of) the extension: markers and attribute text.
    fn inner(&mut self, el: &Element) {
        if el.depth != self.depth {
            let l = el.local().to_ascii_lowercase();
            if CODE_ELEMENTS.contains(&l.as_str()) {
                self.mark(format!("element <{}>", el.name));
            }
        }
        for (k, v) in &el.attrs {
            let key = xml::local_name(k).to_ascii_lowercase();
            if CODE_ATTRIBUTES.contains(&key.as_str()) {
                self.mark(format!("attribute {k}={v:?}"));
            }
            if key == "name" || key == "extender" {
                let n = v.to_ascii_lowercase();
                if CODE_NAMES
                    .iter()
                    .any(|c| n == *c || n.ends_with(&format!("-{c}")))
                {
                    self.mark(format!("{k}={v:?}"));
                }
            }
            self.push_text(v);
        }
    }

    fn mark(&mut self, m: String) {
        if self.ext.markers.len() < 8 && !self.ext.markers.contains(&m) {
            self.ext.markers.push(m);
        }
    }

    fn push_text(&mut self, t: &str) {
        let room = MAX_EXTENSION_TEXT.saturating_sub(self.text.len());
        if room == 0 {
            return;
        }
        let mut end = t.len().min(room);
        while !t.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        self.text.push_str(t.get(..end).unwrap_or_default());
        self.text.push('\n');
    }
}

fn push<T>(v: &mut Vec<T>, x: T) {
    if v.len() < MAX_FACTS {
        v.push(x);
    }
}

/// The PMML schema's own location on the Data Mining Group's site, which writers put in
/// `xsi:schemaLocation` and which is not a reference to attacker-chosen content.
fn is_dmg_schema(url: &str) -> bool {
    let l = url.to_ascii_lowercase();
    l.starts_with("http://www.dmg.org/")
        || l.starts_with("https://www.dmg.org/")
        || l.starts_with("http://dmg.org/")
        || l.starts_with("https://dmg.org/")
}

/// The `href` pseudo-attribute of a processing instruction's content.
fn href(content: &str) -> Option<String> {
    let at = content.find("href")?;
    let rest = content.get(at.saturating_add(4)..)?.trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let q = rest.chars().next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let body = rest.get(1..)?;
    Some(body.get(..body.find(q)?)?.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn read(s: &str) -> (Document, Result<(), PmmlError>) {
        Document::read(s.as_bytes())
    }

    const BENIGN: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" xmlns:data="http://jpmml.org/jpmml-model/InlineTable" version="4.4">
  <Header copyright="https://example.org/license"><Application name="SkLearn2PMML package" version="0.110.0"/></Header>
  <MiningBuildTask><Extension name="repr">PMMLPipeline(steps=[('classifier', DecisionTreeClassifier())])</Extension></MiningBuildTask>
  <DataDictionary><DataField name="y" optype="categorical" dataType="string"/></DataDictionary>
  <TransformationDictionary><DefineFunction name="my.fn" optype="continuous"><ParameterField name="x"/><FieldRef field="x"/></DefineFunction></TransformationDictionary>
  <TreeModel functionName="classification"><MiningSchema/><Node><True/><Apply function="my.fn"><FieldRef field="x"/></Apply></Node></TreeModel>
</PMML>"#;

    #[test]
    fn a_plain_document_has_nothing_to_report() {
        let (d, r) = read(BENIGN);
        r.unwrap();
        assert_eq!(d.version.as_deref(), Some("4.4"));
        assert_eq!(
            d.application.as_deref(),
            Some("SkLearn2PMML package 0.110.0")
        );
        assert_eq!(d.models, vec!["TreeModel".to_owned()]);
        assert_eq!(d.extension_count, 1);
        assert!(d.extensions.is_empty(), "{:?}", d.extensions);
        assert!(d.java_functions.is_empty());
        assert!(d.external_refs.is_empty());
        assert!(d.doctype.is_none());
    }

    #[test]
    fn hazards_are_collected() {
        let (d, r) = read(
            r#"<!DOCTYPE PMML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PMML version="4.4" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.dmg.org/PMML-4_4 http://evil.example/s.xsd">
<Header description="&xxe;"/><Annotation xlink:href="http://evil.example/a"/>
<Extension name="script" extender="x"><Script language="javascript">java.lang.Runtime.getRuntime().exec("id")</Script></Extension>
<RegressionModel><Apply function="com.example.Evil"/></RegressionModel>
</PMML>"#,
        );
        r.unwrap();
        assert!(d.doctype.as_ref().unwrap().is_external());
        assert_eq!(d.entity_refs, vec!["xxe".to_owned()]);
        assert_eq!(d.java_functions, vec!["com.example.Evil".to_owned()]);
        assert_eq!(d.external_refs.len(), 2, "{:?}", d.external_refs);
        assert_eq!(d.external_refs[0].url, "http://evil.example/s.xsd");
        assert_eq!(d.external_refs[1].url, "http://evil.example/a");
        assert_eq!(d.extensions.len(), 1);
        assert!(d.extensions[0]
            .exec_calls
            .contains(&"runtime.getruntime".to_owned()));
    }

    #[test]
    fn other_roots_and_broken_xml_are_errors_with_facts_kept() {
        assert_eq!(read("<net/>").1, Err(PmmlError::NotPmml("net".into())));
        let (d, r) = read("<PMML><Extension><Script>os.system('x')</Script></Extension><x>");
        assert!(r.is_err());
        assert_eq!(d.extensions.len(), 1);
    }
}
