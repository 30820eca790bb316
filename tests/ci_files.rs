//! The CI integration files validate against their published JSON schemas (vendored under
//! testdata/ci-schemas/ from the PyPI package check-jsonschema; see its README): the composite
//! action (action.yml), the GitHub Actions workflow snippet and the GitLab CI snippet. The
//! pre-commit hook manifest is checked for the fields pre-commit requires.

mod common;

use serde_json::Value;

fn yaml(rel: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn assert_valid(schema: &str, rel: &str) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(common::testdata(&format!("ci-schemas/{schema}")))
            .expect("vendored schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("compile schema");
    let instance = yaml(rel);
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{rel} against {schema}:\n{}",
        errors.join("\n")
    );
}

#[test]
fn action_matches_the_github_action_schema() {
    assert_valid("github-actions.json", "action.yml");
    let action = yaml("action.yml");
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_array().expect("steps");
    assert!(steps.iter().any(|s| s["uses"]
        .as_str()
        .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))));
}

#[test]
fn workflow_snippet_matches_the_github_workflow_schema() {
    assert_valid("github-workflows.json", "ci/github-workflow.yml");
}

#[test]
fn gitlab_snippet_matches_the_gitlab_ci_schema() {
    assert_valid("gitlab-ci.json", "ci/gitlab-ci.yml");
    let ci = yaml("ci/gitlab-ci.yml");
    assert_eq!(
        ci["modelgate"]["artifacts"]["reports"]["sast"],
        "gl-sast-report.json"
    );
}

#[test]
fn a_broken_file_fails_the_schema() {
    // The schemas are real: an action without `runs` is rejected.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(common::testdata("ci-schemas/github-actions.json"))
            .expect("schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("compile schema");
    let mut action = yaml("action.yml");
    action.as_object_mut().expect("map").remove("runs");
    assert!(!validator.is_valid(&action));
}

#[test]
fn pre_commit_hook_manifest_has_the_required_fields() {
    let hooks = yaml(".pre-commit-hooks.yaml");
    let hook = &hooks[0];
    for key in ["id", "name", "entry", "language"] {
        assert!(hook[key].is_string(), "{key} in {hook}");
    }
    assert_eq!(hook["id"], "modelgate");
    let entry = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(hook["entry"].as_str().expect("entry"));
    assert!(entry.is_file(), "{}", entry.display());
}
