//! The pre-commit hook (.pre-commit-hooks.yaml): `pre-commit try-repo` on this checkout, in a
//! temporary git repository, fails and names the file when a malicious pickle is staged, and
//! passes when only benign files (models and non-models) are staged.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A git repository holding `files` (copied from testdata under the given names), staged.
fn staged_repo(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    git(&repo, &["init", "-q"]);
    for (name, source) in files {
        std::fs::copy(common::testdata(source), repo.join(name)).expect("copy fixture");
    }
    std::fs::write(repo.join("README.md"), "# a model repository\n").expect("readme");
    git(&repo, &["add", "."]);
    repo
}

fn try_repo(pre_commit: &Path, repo: &Path, home: &Path) -> Output {
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_modelgate"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(pre_commit)
        .arg("try-repo")
        .arg(root())
        .arg("modelgate")
        .current_dir(repo)
        .env("PATH", path)
        .env("PRE_COMMIT_HOME", home)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("run pre-commit")
}

#[test]
fn hook_fails_on_a_staged_malicious_pickle_and_passes_benign_files() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let pre_commit = venv.join("bin/pre-commit");
    assert!(
        pre_commit.is_file(),
        "pre-commit is installed in the test venv by tests/setup.sh (tests/requirements.txt)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("pre-commit-home");

    let bad = tmp.path().join("bad");
    let repo = staged_repo(
        &bad,
        &[
            ("weights.pkl", "pickle/malicious/base64_blob.pkl"),
            ("data.pkl", "pickle/benign/data_proto4.pkl"),
        ],
    );
    let out = try_repo(&pre_commit, &repo, &home);
    let said = common::output_text(&out);
    assert!(!out.status.success(), "the hook must fail:\n{said}");
    assert!(said.contains("weights.pkl"), "names the file:\n{said}");
    assert!(said.contains("pickle/unsafe-global"), "says why:\n{said}");

    let good = tmp.path().join("good");
    let repo = staged_repo(&good, &[("data.pkl", "pickle/benign/data_proto4.pkl")]);
    let out = try_repo(&pre_commit, &repo, &home);
    assert!(
        out.status.success(),
        "benign files pass:\n{}",
        common::output_text(&out)
    );

    // Non-model files only: nothing to scan is a pass for the hook.
    let docs = tmp.path().join("docs");
    let repo = staged_repo(&docs, &[]);
    let out = try_repo(&pre_commit, &repo, &home);
    assert!(
        out.status.success(),
        "non-model files pass:\n{}",
        common::output_text(&out)
    );
}
