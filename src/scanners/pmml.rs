//! PMML documents (`.pmml`, XML with a `<PMML>` root; see [`crate::formats::pmml`]): XML entity
//! declarations and external DTDs (XXE and entity-expansion bombs against the evaluator's XML
//! parser), Java user-defined functions JPMML loads by class name, extensions that carry code,
//! and URLs a validating or transforming reader fetches. The document is read as a stream
//! without expanding any entity.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::pmml::Document;
use crate::formats::xml::foreign_encoding;
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://dmg.org/pmml/v4-4-1/GeneralStructure.html",
    "https://github.com/jpmml/jpmml-evaluator/blob/master/pmml-evaluator/src/main/java/org/jpmml/evaluator/FunctionRegistry.java",
    "https://owasp.org/www-community/vulnerabilities/XML_External_Entity_(XXE)_Processing",
];

pub const MODEL: Code = Code {
    id: "pmml/model",
    severity: Severity::Info,
    summary: "A PMML document, with its version, producing application and models.",
    detects: "An XML document whose root element is `<PMML>` (any namespace prefix).",
    why: "Informational: lists what the document holds so that the AI-BOM and reviewers see it.",
    example: "`<PMML version=\"4.4\">` with a `TreeModel` written by SkLearn2PMML.",
    remediation: "None needed.",
    references: REFS,
};

pub const DOCTYPE: Code = Code {
    id: "pmml/doctype",
    severity: Severity::High,
    summary: "The PMML document carries a document type declaration with entities or an external DTD (XXE).",
    detects: "A `<!DOCTYPE>` in a PMML document: high when it declares entities or names an external DTD (external `SYSTEM`/`PUBLIC` entities, parameter entities, internal entities that can nest into an expansion bomb); low for a bare declaration.",
    why: "PMML is defined by an XML Schema and has no DTD, so no writer emits one. An entity declaration is the vehicle of XML external entity attacks: an evaluator whose XML parser resolves entities reads local files (`file:///etc/passwd`) or makes requests (`http://169.254.169.254/…`) on the model server, or exhausts memory expanding nested entities. modelgate never expands them; it reports them.",
    example: "`<!DOCTYPE PMML [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>` with `&xxe;` in a field name.",
    remediation: "Reject the document; re-export the model from its source. Configure the evaluator's XML parser to refuse DTDs.",
    references: REFS,
};

pub const JAVA_FUNCTION: Code = Code {
    id: "pmml/java-function",
    severity: Severity::Medium,
    summary: "The PMML document calls a function by a Java class name, which JPMML loads from the class path.",
    detects: "An `<Apply function=\"…\">` whose name contains a dot and is not defined by a `<DefineFunction>` in the document.",
    why: "JPMML-Evaluator resolves a function that is neither built in nor defined in the document by loading a class of that name from the application's class path and instantiating it (`FunctionRegistry.loadJavaFunction`). The model chooses which code on the server runs; the class itself is not in the model, so what it does depends on the deployment.",
    example: "`<Apply function=\"com.example.udf.Score\">`.",
    remediation: "Check that the named classes are ones you deploy on purpose; otherwise reject the model.",
    references: REFS,
};

pub const EXTENSION_CODE: Code = Code {
    id: "pmml/extension-code",
    severity: Severity::High,
    summary: "A PMML `<Extension>` carries code (a script, a lambda, a process or code-execution call).",
    detects: "An `<Extension>` with a script-like element (`<Script>`, `<Code>`, `<Lambda>`, `<Python>`, …), a `language`/`script`/`engine` attribute, a name such as `script` or `python`, or text calling process or code execution (`Runtime.getRuntime`, `ProcessBuilder`, `os.system`, `subprocess`, `eval(`, `exec(`, …). Critical when such a call is present.",
    why: "Extensions are where evaluators and scoring tools put what the standard does not cover; a tool that acts on its own extension runs the code the model carries. The standard evaluators ignore unknown extensions, but the gate cannot know which reader a deployment uses, and no plain model needs code in an extension.",
    example: "`<Extension name=\"script\"><Script language=\"javascript\">java.lang.Runtime.getRuntime().exec(\"id\")</Script></Extension>`.",
    remediation: "Reject the model, or remove the extension and re-export it from its source.",
    references: REFS,
};

pub const EXTERNAL_REFERENCE: Code = Code {
    id: "pmml/external-reference",
    severity: Severity::Medium,
    summary: "The PMML document references an external URL that a reader may fetch.",
    detects: "URLs (`http`, `https`, `ftp`, `file`, `jar`, `jndi`, `ldap`, UNC paths, …) in attributes a reader follows (`href`, `src`, `url`, `uri`, `location`, `file`, `path`, `resource`, `source`, `base`) and in `xml-stylesheet` processing instructions, and `xsi:schemaLocation` locations other than the Data Mining Group's own; an XInclude `<xi:include href>` is high. A URL in descriptive text (`copyright`, `description`) is not reported.",
    why: "A validating parser fetches schema locations, a transforming one fetches style sheets, and an XInclude-aware one replaces the include with the referenced file: requests from the model server to places the model chooses (server-side request forgery) or local files pulled into the document.",
    example: "`xsi:schemaLocation=\"http://www.dmg.org/PMML-4_4 http://attacker.example/pmml.xsd\"`.",
    remediation: "Remove the references and re-export the model; do not validate models against schemas they name themselves.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "pmml/malformed",
    severity: Severity::Medium,
    summary: "A PMML document could not be read to its end.",
    detects: "Not well-formed XML (mismatched or unclosed tags, a second root, text outside the root), a root other than `<PMML>` in a `.pmml` file, an encoding other than UTF-8, a reference to an undeclared entity, one event larger than 16 MiB or nesting deeper than 10,000 levels.",
    why: "What cannot be read cannot be vouched for: an evaluator with a more lenient parser (or one that transcodes) may still load the document and act on what the scanner did not see.",
    example: "A document cut off inside `<TreeModel>`.",
    remediation: "Re-export the model and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[
    &MODEL,
    &DOCTYPE,
    &JAVA_FUNCTION,
    &EXTENSION_CODE,
    &EXTERNAL_REFERENCE,
    &MALFORMED,
];

pub struct PmmlScanner;

impl Scanner for PmmlScanner {
    fn id(&self) -> &'static str {
        "pmml"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Pmml]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(
        &self,
        a: &Artifact,
        _cx: &dyn ScannerContext,
        out: &mut Sink,
    ) -> Result<(), ScanError> {
        let head = a.content.head(512)?;
        if let Some(enc) = foreign_encoding(&head) {
            out.push(malformed(
                a,
                &format!("the document is encoded as {enc}, which modelgate does not transcode; it cannot be inspected"),
            ));
            return Ok(());
        }
        let (doc, result) = Document::read(a.content.open()?);
        report(&doc, a, out);
        if let Err(e) = result {
            out.push(malformed(a, &e.to_string()));
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn report(doc: &Document, a: &Artifact, out: &mut Sink) {
    if doc.is_pmml {
        summary(doc, a, out);
    }
    hazards(doc, a, out);
}

fn summary(doc: &Document, a: &Artifact, out: &mut Sink) {
    let mut summary = Finding::new(
        &MODEL,
        a.location.clone(),
        format!(
            "PMML {} document with {}",
            doc.version.as_deref().unwrap_or("(no version)"),
            if doc.models.is_empty() {
                "no model element".to_owned()
            } else {
                doc.models.join(", ")
            }
        ),
    )
    .evidence("extensions", doc.extension_count.to_string());
    if let Some(app) = &doc.application {
        summary = summary.evidence("application", app.clone());
    }
    out.push(summary);
}

fn hazards(doc: &Document, a: &Artifact, out: &mut Sink) {
    if let Some(d) = &doc.doctype {
        let hostile = d.is_external() || !d.entities.is_empty();
        let mut f = Finding::new(
            &DOCTYPE,
            a.location.clone(),
            if hostile {
                format!(
                    "document type declaration with {} entit{} and {}: an entity-resolving XML parser reads or fetches what it names",
                    d.entities.len(),
                    if d.entities.len() == 1 { "y" } else { "ies" },
                    match &d.external_dtd {
                        Some(u) => format!("the external DTD {u}"),
                        None => "no external DTD".to_owned(),
                    }
                )
            } else {
                "document type declaration (PMML has none; nothing is declared in it)".to_owned()
            },
        )
        .evidence("doctype", d.raw.clone());
        if !hostile {
            f = f.severity(Severity::Low);
        }
        let external: Vec<String> = d
            .entities
            .iter()
            .filter_map(|e| e.system.as_ref().map(|s| format!("{} -> {s}", e.name)))
            .collect();
        if !external.is_empty() {
            f = f.evidence("external-entities", external.join(", "));
        }
        if !doc.entity_refs.is_empty() {
            f = f.evidence("referenced", doc.entity_refs.join(", "));
        }
        out.push(f);
    }
    // References to entities that nothing declares: XML parsers reject the document.
    let declared = |n: &str| {
        doc.doctype
            .as_ref()
            .is_some_and(|d| d.entities.iter().any(|e| e.name == n))
    };
    let undeclared: Vec<&str> = doc
        .entity_refs
        .iter()
        .map(String::as_str)
        .filter(|n| !declared(n))
        .collect();
    if !undeclared.is_empty() {
        out.push(malformed(
            a,
            &format!("references undeclared entities: {}", undeclared.join(", ")),
        ));
    }

    for f in &doc.java_functions {
        out.push(
            Finding::new(
                &JAVA_FUNCTION,
                a.location.clone(),
                format!("Apply function {f:?}: JPMML loads and instantiates the Java class of that name"),
            )
            .evidence("function", f.clone()),
        );
    }

    for e in &doc.extensions {
        let mut f = Finding::new(
            &EXTENSION_CODE,
            a.location.clone(),
            format!(
                "Extension {}carries code: {}",
                e.name
                    .as_ref()
                    .map(|n| format!("{n:?} "))
                    .unwrap_or_default(),
                e.markers.join("; ")
            ),
        )
        .evidence("excerpt", e.excerpt.clone());
        if !e.exec_calls.is_empty() {
            f = f
                .severity(Severity::Critical)
                .evidence("calls", e.exec_calls.join(", "));
        }
        out.push(f);
    }

    for r in &doc.external_refs {
        let mut f = Finding::new(
            &EXTERNAL_REFERENCE,
            a.location.clone(),
            if r.include {
                format!(
                    "{} includes {}: an XInclude-aware parser reads it into the document",
                    r.place, r.url
                )
            } else {
                format!("{} references {}", r.place, r.url)
            },
        )
        .evidence("url", r.url.clone());
        if r.include {
            f = f.severity(Severity::High);
        }
        out.push(f);
    }
}
