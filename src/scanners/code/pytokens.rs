//! Just enough Python lexing to look for calls without being fooled by comments and string
//! literals: [`code_only`] blanks out comments and the contents of string literals (keeping line
//! breaks, so line numbers stay right), and [`find_token`] finds a needle with an identifier
//! boundary in front of it.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

/// `text` with comments and string-literal contents replaced by spaces. Quotes are kept, so
/// `eval("x")` stays recognisable as a call. Triple-quoted strings, escapes and string prefixes
/// (`r`, `b`, `f`, …) are handled; an unterminated literal runs to the end of the text.
pub fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0usize;
    let n = chars.len();
    let at = |k: usize| chars.get(k).copied();
    while i < n {
        let Some(c) = at(i) else { break };
        if c == '#' {
            while i < n && at(i) != Some('\n') {
                out.push(' ');
                i = i.saturating_add(1);
            }
            continue;
        }
        if c == '"' || c == '\'' {
            let triple = at(i.saturating_add(1)) == Some(c) && at(i.saturating_add(2)) == Some(c);
            let raw = i > 0 && matches!(at(i.saturating_sub(1)), Some('r' | 'R'));
            let qlen = if triple { 3 } else { 1 };
            for _ in 0..qlen {
                out.push(c);
            }
            i = i.saturating_add(qlen);
            while let Some(d) = at(i) {
                if d == '\\' && !raw {
                    out.push(' ');
                    i = i.saturating_add(1);
                    if let Some(e) = at(i) {
                        out.push(if e == '\n' { '\n' } else { ' ' });
                        i = i.saturating_add(1);
                    }
                    continue;
                }
                if d == c
                    && (!triple
                        || (at(i.saturating_add(1)) == Some(c)
                            && at(i.saturating_add(2)) == Some(c)))
                {
                    for _ in 0..qlen {
                        out.push(c);
                    }
                    i = i.saturating_add(qlen);
                    break;
                }
                if d == '\n' && !triple {
                    // Unterminated single-line string: stop at the line end.
                    break;
                }
                out.push(if d == '\n' { '\n' } else { ' ' });
                i = i.saturating_add(1);
            }
            continue;
        }
        out.push(c);
        i = i.saturating_add(1);
    }
    out
}

/// The first position of `needle` in `line`; with `free`, only where it is not preceded by an
/// identifier character or a `.` (so `model.eval(` and `re.compile(` do not count as `eval(` /
/// `compile(`).
pub fn find_token(line: &str, needle: &str, free: bool) -> Option<usize> {
    let mut from = 0usize;
    while let Some(rel) = line.get(from..).and_then(|r| r.find(needle)) {
        let pos = from.saturating_add(rel);
        let before = line.get(..pos).and_then(|b| b.chars().last());
        let ok = !free || !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        // An identifier needle must also end at a boundary (`os.` ends with `.` already).
        let after = line
            .get(pos.saturating_add(needle.len())..)
            .and_then(|a| a.chars().next());
        let ends_ident = needle
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let ok_end = !ends_ident || !after.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if ok && ok_end {
            return Some(pos);
        }
        from = pos.saturating_add(needle.len().max(1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_strings_and_comments() {
        let s = code_only("x = 'os.system'  # eval(\ny = eval(\"1\")\n\"\"\"doc\nexec(\"\"\"\n");
        assert!(!s.contains("os.system"));
        assert!(!s.contains("exec"));
        assert!(s.contains("eval(\""));
        assert_eq!(s.lines().count(), 4);
    }

    #[test]
    fn token_boundaries() {
        assert!(find_token("model.eval()", "eval(", true).is_none());
        assert!(find_token("y = eval(x)", "eval(", true).is_some());
        assert!(find_token("pos.x", "os.", true).is_none());
        assert!(find_token("import subprocess32", "subprocess", false).is_none());
        assert!(find_token("import subprocess", "subprocess", false).is_some());
    }
}
