//! The everyday workflow through the binary, and its failure modes with their exit codes.

use super::{fixture, freshet, stderr, stdout};
use std::fs;

#[test]
fn init_validate_plan_apply_history() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    let out = freshet(root, &["init", "rides"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("init", stdout(&out));

    let out = freshet(root, &["validate", "-p", "rides"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("validate", stdout(&out));

    let out = freshet(root, &["plan", "-p", "rides"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("first_plan", stdout(&out));

    let out = freshet(root, &["apply", "-p", "rides"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("applied version 1 of project `rides`"));

    let out = freshet(root, &["apply", "-p", "rides"]);
    assert_eq!(
        stdout(&out),
        "no changes; the registry stays at version 1\n"
    );

    // A safe change applies; a breaking one is refused until forced.
    let file = root.join("rides/freshet.yaml");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(
        &file,
        text.replace(
            "ttl: 7d\n    features:\n      - {name: trips_1h",
            "ttl: 3d\n    features:\n      - {name: trips_1h",
        ),
    )
    .unwrap();
    let out = freshet(root, &["apply", "-p", "rides"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("~ ttl: 7d -> 3d"));

    let text = fs::read_to_string(&file).unwrap();
    fs::write(
        &file,
        text.replace(
            "{name: trips_1h, aggregation: count, window: 1h}",
            "{name: trips_1h, aggregation: count, window: 2h}",
        ),
    )
    .unwrap();
    let out = freshet(root, &["plan", "-p", "rides"]);
    insta::assert_snapshot!("breaking_plan", stdout(&out));
    let out = freshet(root, &["apply", "-p", "rides"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refusing to apply breaking changes to feature view driver_trips@v1")
    );
    let out = freshet(root, &["apply", "-p", "rides", "--force", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (json["version"].as_u64(), json["forced"].as_bool()),
        (Some(3), Some(true))
    );

    let out = freshet(root, &["history", "-p", "rides", "--json"]);
    let history: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let versions: Vec<u64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
    let out = freshet(root, &["history", "2", "-p", "rides", "--json"]);
    let v2: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v2["spec"]["feature_views"][0]["ttl"], "3d");
    let out = freshet(root, &["history", "9", "-p", "rides"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("versions run from 1 to 3"));
}

#[test]
fn an_invalid_project_writes_nothing_to_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        fixture("many_mistakes").join("freshet.yaml"),
        dir.path().join("freshet.yaml"),
    )
    .unwrap();
    for command in ["plan", "apply"] {
        let out = freshet(dir.path(), &[command]);
        assert_eq!(out.status.code(), Some(2), "{command}");
    }
    assert!(!dir.path().join(".freshet").exists());
}

#[test]
fn missing_project_and_existing_project() {
    let dir = tempfile::tempdir().unwrap();
    let out = freshet(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no project file at ./freshet.yaml"));
    assert!(stderr(&out).contains("freshet init"));

    assert_eq!(freshet(dir.path(), &["init"]).status.code(), Some(0));
    // Running it again over the untouched starter is fine (the README's first command, twice).
    let out = freshet(dir.path(), &["init"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("already holds the starter project; nothing written"));
    // A project the user changed is never overwritten.
    let file = dir.path().join("freshet.yaml");
    let changed = fs::read_to_string(&file)
        .unwrap()
        .replace("ttl: 7d", "ttl: 3d");
    fs::write(&file, &changed).unwrap();
    let out = freshet(dir.path(), &["init", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("already holds a freshet.yaml"));
    assert_eq!(fs::read_to_string(&file).unwrap(), changed);
}

#[test]
fn missing_environment_variable_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    freshet(dir.path(), &["init"]);
    let file = dir.path().join("freshet.yaml");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(&file, text.replace("online_store: {type: embedded, path: .freshet/online}", "online_store: {type: redis, url: \"redis://:${FRESHET_TEST_UNSET_PASSWORD}@127.0.0.1:6379\"}")).unwrap();
    let out = freshet(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("environment variable `FRESHET_TEST_UNSET_PASSWORD` is not set"));
}

#[test]
fn unreadable_registry_is_a_failure_not_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    freshet(dir.path(), &["init"]);
    fs::create_dir_all(dir.path().join(".freshet/registry")).unwrap();
    fs::write(dir.path().join(".freshet/registry/v000001.json"), "{").unwrap();
    let out = freshet(dir.path(), &["plan"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("v000001.json is corrupt"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn generate_is_reproducible_and_refuses_bad_output_names() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "--events",
        "3000",
        "--entities",
        "50",
        "--seed",
        "9",
        "--out",
    ];
    for name in ["a.parquet", "b.parquet"] {
        let out = freshet(dir.path(), &[&args[..], &[name]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("wrote 3000 rides events"));
    }
    let a = fs::read(dir.path().join("a.parquet")).unwrap();
    assert_eq!(
        a,
        fs::read(dir.path().join("b.parquet")).unwrap(),
        "same arguments, same bytes"
    );

    let out = freshet(dir.path(), &["generate", "--out", "x.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("name the file *.parquet or *.jsonl"));
    let out = freshet(
        dir.path(),
        &["generate", "--entities", "0", "--out", "x.parquet"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("x.parquet").exists());
}
