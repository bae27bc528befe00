//! Golden files for what people and programs read: the diagnostics of a project with many mistakes, in
//! both renderings, and the help text. Update with `INSTA_UPDATE=always cargo test`, then review the diff.

use super::{fixture, freshet, stderr, stdout};

#[test]
fn many_mistakes_are_all_reported_in_one_run() {
    let out = freshet(&fixture("many_mistakes"), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    let text = stderr(&out);
    assert!(
        text.matches("\nerror: ").count() + 1 >= 12,
        "expected a dozen errors:\n{text}"
    );
    insta::assert_snapshot!("many_mistakes_text", text);
}

#[test]
fn many_mistakes_as_json() {
    let out = freshet(&fixture("many_mistakes"), &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(json["ok"], false);
    insta::assert_snapshot!("many_mistakes_json", stdout(&out));
}

#[test]
fn help_shows_examples() {
    let out = freshet(&fixture("many_mistakes"), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("help", stdout(&out));
    for command in [
        "init", "validate", "plan", "apply", "history", "compact", "vacuum",
    ] {
        let out = freshet(&fixture("many_mistakes"), &[command, "--help"]);
        assert!(
            stdout(&out).contains("Examples:"),
            "{command} --help has no examples"
        );
        assert!(
            stdout(&out).contains("--project-dir"),
            "{command} --help lacks -p"
        );
    }
}
