//! Package names: PEP 503 normalisation and the "confusable with a vetted name" test used for
//! `package/lookalike`.
//!
//! A typosquat is an unvetted name that a person (or a tired `pip install`) would take for a vetted
//! one. Four families are checked, each cheap and each chosen because it occurs in real PyPI
//! typosquatting campaigns:
//! - separator games: `torch-vision` for `torchvision`, `python_dateutil` is the *same* name after
//!   PEP 503 normalisation and is not a lookalike at all;
//! - Unicode confusables (UTS #39 skeletons, via `unicode-security`): Cyrillic `а` for Latin `a`;
//! - ASCII homoglyphs that survive normalisation: `0`/`o`, `1`/`l`/`i`, `rn`/`m`, `vv`/`w`;
//! - small edit distance (Damerau–Levenshtein, so a transposition such as `reqeusts` is one edit),
//!   scaled with the length so short names (`six`, `sip`) do not collide.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

/// PEP 503 normalisation: runs of `-`, `_` and `.` become one `-`, and the name is lowercased.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// Why an unvetted name looks like a vetted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confusion {
    /// Equal once separators are removed (`torch-vision` / `torchvision`).
    Separators,
    /// Equal after mapping Unicode confusables and ASCII homoglyphs (`reqυests`, `tensorfl0w`).
    Homoglyphs,
    /// A small number of typing edits away (`reqeusts`, `numpyy`).
    EditDistance(usize),
}

impl Confusion {
    pub fn describe(self) -> String {
        match self {
            Confusion::Separators => "differs only in separators".to_owned(),
            Confusion::Homoglyphs => "uses look-alike characters".to_owned(),
            Confusion::EditDistance(d) => format!("is {d} typing edit(s) away"),
        }
    }
}

/// The skeleton used for homoglyph comparison: UTS #39 confusable skeleton, lowercased, with
/// separators dropped and the usual ASCII look-alikes folded.
fn skeleton(normalized: &str) -> String {
    let s: String = unicode_security::confusable_detection::skeleton(normalized)
        .flat_map(char::to_lowercase)
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .collect();
    let s = s.replace("rn", "m").replace("vv", "w").replace("cl", "d");
    s.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' | '|' => 'l',
            '5' => 's',
            '3' => 'e',
            '4' => 'a',
            '7' => 't',
            '8' => 'b',
            c => c,
        })
        .collect()
}

fn strip_separators(normalized: &str) -> String {
    normalized.chars().filter(|c| *c != '-').collect()
}

/// Largest edit distance accepted as a typo for a name of `len` characters.
fn max_edits(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=9 => 1,
        _ => 2,
    }
}

/// Whether the (normalised, unvetted) `candidate` is confusable with the (normalised, vetted)
/// `vetted` name. Identical names are not confusable (they are the same package).
pub fn confusable(candidate: &str, vetted: &str) -> Option<Confusion> {
    if candidate == vetted || candidate.is_empty() || vetted.is_empty() {
        return None;
    }
    let (cs, vs) = (strip_separators(candidate), strip_separators(vetted));
    if cs == vs {
        return Some(Confusion::Separators);
    }
    if skeleton(candidate) == skeleton(vetted) {
        return Some(Confusion::Homoglyphs);
    }
    // Names that only add a trailing major-version digit are usually distinct real projects
    // (`boto`/`boto3`, `jinja`/`jinja2`); they are not flagged as typos.
    let digit_suffix = |a: &str, b: &str| {
        a.strip_prefix(b)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
    };
    if digit_suffix(&cs, &vs) || digit_suffix(&vs, &cs) {
        return None;
    }
    let shorter = cs.chars().count().min(vs.chars().count());
    let allowed = max_edits(shorter);
    if allowed == 0 {
        return None;
    }
    let d = strsim::damerau_levenshtein(&cs, &vs);
    (d > 0 && d <= allowed).then_some(Confusion::EditDistance(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_normalisation() {
        assert_eq!(normalize("Friendly.Bard"), "friendly-bard");
        assert_eq!(normalize("friendly_bard"), "friendly-bard");
        assert_eq!(normalize("FRIENDLY--BARD"), "friendly-bard");
        assert_eq!(normalize("six"), "six");
        assert_eq!(normalize("zope.interface"), "zope-interface");
    }

    #[test]
    fn lookalikes() {
        assert_eq!(
            confusable("reqeusts", "requests"),
            Some(Confusion::EditDistance(1))
        );
        assert_eq!(
            confusable("torch-vision", "torchvision"),
            Some(Confusion::Separators)
        );
        assert_eq!(
            confusable("tensorfl0w", "tensorflow"),
            Some(Confusion::Homoglyphs)
        );
        assert_eq!(
            confusable(&normalize("reqυests"), "requests"),
            Some(Confusion::Homoglyphs)
        );
        assert_eq!(
            confusable(&normalize("nurnpy"), "numpy"),
            Some(Confusion::Homoglyphs)
        );
        assert_eq!(confusable("sip", "six"), None);
        assert_eq!(confusable("boto3", "boto"), None);
        assert_eq!(confusable("attrs", "attr"), None);
        assert_eq!(confusable("requests", "requests"), None);
        assert_eq!(confusable("pandas", "numpy"), None);
        assert_eq!(confusable("idna", "six"), None);
    }
}
