//! Each kind of mistake gets one precise message: where, what, and how to fix it.

use super::{BASE, base_with, single_error, valid};

#[test]
fn invalid_yaml_syntax() {
    let text = base_with("    ttl: 7d\n", "    ttl: [7d\n");
    let (line, _, path, message, help) = single_error(&text);
    assert!(message.starts_with("invalid YAML"), "{message}");
    assert!(line >= 17, "line {line}");
    assert_eq!(path, "(document)");
    assert!(help.contains("indentation"));
}

#[test]
fn top_level_must_be_a_mapping() {
    let (_, _, _, message, help) = single_error("- just\n- a list\n");
    assert_eq!(
        message,
        "the project file must be a mapping at the top level"
    );
    assert!(help.contains("freshet init"));
}

#[test]
fn wrong_type() {
    let text = base_with("join_keys: [driver_id]", "join_keys: driver_id");
    assert_eq!(
        single_error(&text),
        (
            4,
            16,
            "entities[0].join_keys".into(),
            "expected a list, found a scalar".into(),
            "write `[a, b]` or one `- item` per line".into()
        )
    );
}

#[test]
fn quoted_number_is_not_a_number() {
    let text = base_with("    ttl: 7d\n", "    ttl: 7d\n    version: \"2\"\n");
    let (_, _, path, message, help) = single_error(&text);
    assert_eq!(
        (path.as_str(), message.as_str(), help.as_str()),
        (
            "feature_views[0].version",
            "expected an integer, found a scalar",
            "remove the quotes"
        )
    );
}

#[test]
fn unknown_field_with_suggestion() {
    let text = base_with(
        "aggregation: count, window: 1h",
        "aggregation: count, windw: 1h",
    );
    assert_eq!(
        single_error(&text),
        (
            19,
            46,
            "feature_views[0].features[0].windw".into(),
            "unknown field `windw`".into(),
            "did you mean `window`?".into()
        )
    );
}

#[test]
fn duplicate_name() {
    let text = base_with(
        "      - {name: fare_sum_24h",
        "      - {name: trips_1h, aggregation: count}\n      - {name: fare_sum_24h",
    );
    let (line, col, path, message, help) = single_error(&text);
    assert_eq!((line, col), (20, 16));
    assert_eq!(path, "feature_views[0].features[1].name");
    assert_eq!(message, "duplicate feature name `trips_1h`");
    assert!(help.contains("already declared at feature_views[0].features[0].name"));
}

#[test]
fn duplicate_yaml_key() {
    let text = base_with("    ttl: 7d\n", "    ttl: 7d\n    ttl: 1d\n");
    let (line, _, _, message, _) = single_error(&text);
    assert_eq!((line, message.as_str()), (18, "duplicate key `ttl`"));
}

#[test]
fn dangling_references() {
    let text = base_with("source: trips\n    filter", "source: trip\n    filter");
    assert_eq!(
        single_error(&text),
        (
            15,
            13,
            "feature_views[0].source".into(),
            "unknown source `trip`".into(),
            "did you mean `trips`?".into()
        )
    );
    let text = base_with("\"driver_trips:trips_1h\"", "\"driver_trips:trips_2h\"");
    let (line, col, _, message, help) = single_error(&text);
    assert_eq!((line, col), (22, 47));
    assert_eq!(
        message,
        "feature view `driver_trips` has no feature `trips_2h`"
    );
    assert_eq!(help, "did you mean `trips_1h`?");
}

#[test]
fn bad_duration() {
    let text = base_with("ttl: 7d", "ttl: 1w");
    assert_eq!(
        single_error(&text),
        (
            17,
            10,
            "feature_views[0].ttl".into(),
            "invalid duration `1w`: units are ms, s, m, h and d".into(),
            "write a number and a unit, e.g. `500ms`, `30s`, `15m`, `1h`, `7d` or `1h30m`".into()
        )
    );
}

#[test]
fn incompatible_aggregation() {
    let text = base_with(
        "aggregation: sum, column: fare",
        "aggregation: sum, column: status",
    );
    let (line, col, path, message, _) = single_error(&text);
    assert_eq!((line, col), (20, 56));
    assert_eq!(path, "feature_views[0].features[1].column");
    assert_eq!(
        message,
        "`sum` cannot aggregate a string column; it accepts int64 or float64"
    );
}

#[test]
fn expression_that_does_not_parse() {
    let text = base_with(
        "filter: \"status = 'completed'\"",
        "filter: \"status = = 'completed'\"",
    );
    let (line, col, path, message, _) = single_error(&text);
    assert_eq!(
        (line, col, path.as_str()),
        (16, 23, "feature_views[0].filter")
    );
    assert_eq!(
        message,
        "in the filter: invalid SQL expression: expected an expression, found ="
    );
}

#[test]
fn expression_with_unknown_column() {
    let text = base_with(
        "filter: \"status = 'completed'\"",
        "filter: \"stat = 'completed'\"",
    );
    assert_eq!(
        single_error(&text),
        (
            16,
            14,
            "feature_views[0].filter".into(),
            "in the filter: unknown column `stat`".into(),
            "did you mean `status`?".into()
        )
    );
}

#[test]
fn expression_type_errors() {
    let text = base_with("filter: \"status = 'completed'\"", "filter: \"fare\"");
    let (_, _, _, message, _) = single_error(&text);
    assert_eq!(
        message,
        "the filter must be a true/false condition, but it is float64"
    );
    let text = base_with("filter: \"status = 'completed'\"", "filter: \"status > 3\"");
    let (_, _, _, message, help) = single_error(&text);
    assert_eq!(message, "in the filter: cannot compare string with int64");
    assert!(help.contains("CAST"));
}

#[test]
fn missing_environment_variable_and_secret_never_printed() {
    let text = format!(
        "{BASE}online_store: {{type: redis, url: \"redis://:${{NOT_SET_ANYWHERE}}@h:6379\"}}\n"
    );
    let (line, col, path, message, help) = single_error(&text);
    assert_eq!((line, col, path.as_str()), (23, 44, "online_store.url"));
    assert_eq!(
        message,
        "environment variable `NOT_SET_ANYWHERE` is not set"
    );
    assert!(help.starts_with("export NOT_SET_ANYWHERE="));
    // A set secret is resolved for use but appears nowhere in the spec's text forms.
    let text = format!(
        "{BASE}online_store: {{type: redis, url: \"redis://:${{REDIS_PASSWORD}}@h:6379\"}}\n"
    );
    let spec = super::valid(&text);
    let json = serde_json::to_string(&spec).unwrap();
    assert!(!json.contains("hunter2") && !format!("{spec:?}").contains("hunter2"));
    match spec.online_store {
        freshet_project::spec::OnlineStoreSpec::Redis { url } => {
            assert_eq!(url.resolved(), "redis://:hunter2@h:6379")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_identifier() {
    let text = BASE.replace("driver_trips", "driver-trips");
    let (_, _, _, message, help) = single_error(&text);
    assert_eq!(
        message,
        "invalid feature view name `driver-trips`: it may contain only letters, digits and `_`"
    );
    assert!(help.contains("driver_trips"));
    let text = base_with("name: trips_1h", "name: trips__1h");
    assert!(single_error(&text).3.contains("may not contain `__`"));
}

#[test]
fn timestamp_field_present_and_typed() {
    let text = base_with("timestamp_field: event_time", "timestamp_field: event_tim");
    let (_, _, _, message, help) = single_error(&text);
    assert_eq!(
        (message.as_str(), help.as_str()),
        (
            "the schema has no column `event_tim`",
            "did you mean `event_time`?"
        )
    );
    let text = base_with("timestamp_field: event_time", "timestamp_field: fare");
    assert_eq!(
        single_error(&text).3,
        "`timestamp_field` must name a timestamp column, but `fare` is float64"
    );
    let text = base_with("    timestamp_field: event_time\n", "");
    assert_eq!(
        single_error(&text).3,
        "missing required field `timestamp_field`"
    );
}

#[test]
fn join_keys_must_be_in_the_source() {
    let text = base_with("join_keys: [driver_id]", "join_keys: [driver_uuid]");
    let (_, _, path, message, _) = single_error(&text);
    assert_eq!(path, "feature_views[0].entities[0]");
    assert_eq!(
        message,
        "source `trips` has no column `driver_uuid`, a join key of entity `driver`"
    );
}

#[test]
fn last_n_needs_n_and_only_last_n_takes_it() {
    let text = base_with(
        "aggregation: count, window: 1h}",
        "aggregation: last_n, column: fare}",
    );
    assert_eq!(
        single_error(&text).3,
        "`last_n` needs `n`, the number of values to keep"
    );
    let text = base_with(
        "aggregation: count, window: 1h}",
        "aggregation: count, n: 3}",
    );
    assert_eq!(
        single_error(&text).3,
        "`n` only applies to `last_n`, not `count`"
    );
}

#[test]
fn source_settings_per_kind() {
    let text = base_with("    topic: trips\n", "");
    assert_eq!(single_error(&text).3, "missing required field `topic`");
    let text = base_with("    topic: trips\n", "    topic: trips\n    path: x.csv\n");
    let (_, _, _, message, help) = single_error(&text);
    assert_eq!(message, "unknown field `path`");
    assert!(help.starts_with("expected one of"), "{help}");
    let text = base_with("type: kafka", "type: kafak");
    assert_eq!(single_error(&text).4, "did you mean `kafka`?");
}

#[test]
fn a_broken_object_is_reported_once() {
    // The source's bad column type makes the source invalid; the view using it must not add errors.
    let text = base_with("status: string", "status: strin");
    let (_, _, path, message, _) = single_error(&text);
    assert_eq!(
        (path.as_str(), message.as_str()),
        ("sources[0].schema.status", "unknown column type `strin`")
    );
}

/// The event log's own columns start with `_freshet_`; identifiers must start with a letter, so a source
/// column can never collide with them.
#[test]
fn event_log_column_names_cannot_be_declared() {
    let text = base_with("status: string,", "status: string, _freshet_date: string,");
    let (line, _, path, message, _) = single_error(&text);
    assert_eq!(line, 11);
    assert_eq!(path, "sources[0].schema._freshet_date");
    assert!(message.contains("must start with a letter"), "{message}");
}

#[test]
fn serving_settings_are_checked() {
    let cases = [
        (
            "serving: {port: 70000}\n",
            "serving.port",
            "port 70000 is not a TCP port",
            "1 to 65535",
        ),
        (
            "serving: {max_entities: 0}\n",
            "serving.max_entities",
            "max_entities must be at least 1, found 0",
            "default (1000)",
        ),
        (
            "serving: {auth_tokens: [hunter2]}\n",
            "serving.auth_tokens[0]",
            "a bearer token written in the project file",
            "${API_TOKEN}",
        ),
        (
            "serving: {auth_tokens: [\"${EMPTY}\"]}\n",
            "serving.auth_tokens[0]",
            "`${EMPTY}` is empty",
            "long random token",
        ),
        (
            "serving: {prot: 1}\n",
            "serving.prot",
            "unknown field `prot`",
            "did you mean `port`?",
        ),
    ];
    for (yaml, path, message, help) in cases {
        let text = format!("{BASE}{yaml}");
        let (_, _, got_path, got_message, got_help) = single_error(&text);
        assert_eq!(
            (got_path.as_str(), got_message.as_str()),
            (path, message),
            "{yaml}"
        );
        assert!(got_help.contains(help), "{got_help}");
    }
}

#[test]
fn serving_tokens_are_kept_as_templates_never_as_secrets() {
    let spec = valid(&format!(
        "{BASE}serving: {{auth_tokens: [\"${{API_TOKEN}}\"], port: 8080}}\n"
    ));
    assert_eq!(spec.serving.port, 8080);
    assert_eq!(
        spec.serving.auth_tokens[0].resolved(),
        "a-long-random-token"
    );
    let stored = serde_json::to_string(&spec).unwrap();
    assert!(
        stored.contains("${API_TOKEN}") && !stored.contains("a-long-random-token"),
        "{stored}"
    );
}

#[test]
fn a_fixed_assignment_names_a_worker_that_exists() {
    let with = |line: &str| {
        let text = base_with("    topic: trips\n", &format!("    topic: trips\n{line}"));
        let (_, _, path, message, help) = single_error(&text);
        (path, message, help)
    };
    let (path, message, help) = with("    assignment: {worker: 3, workers: 3}\n");
    assert_eq!(path, "sources[0].assignment.worker");
    assert_eq!(message, "`worker` is 3, but workers are numbered 0 to 2");
    assert!(help.contains("from 0 to 2"), "{help}");
    // From the environment: the template is named, never the value.
    let (path, message, _) = with("    assignment: {worker: \"${BAD_WORKER_ID}\", workers: 2}\n");
    assert_eq!(path, "sources[0].assignment.worker");
    assert_eq!(
        message,
        "`worker` (`${BAD_WORKER_ID}`) is not a whole number"
    );
    let (_, message, help) = with("    assignment: {worker: 0}\n");
    assert_eq!(message, "the assignment needs `workers`");
    assert!(help.contains("workers: 2"), "{help}");
    let (path, message, _) = with("    assignment: {worker: 0, workers: 0}\n");
    assert_eq!(path, "sources[0].assignment.workers");
    assert_eq!(message, "`workers` is 0, not a count of workers");
    let (_, message, help) = with("    assignment: fixd\n");
    assert_eq!(message, "unknown partition assignment `fixd`");
    assert_eq!(help, "did you mean `fixed`?");
    let (path, message, help) = with("    assignment: {worker: 0, workers: 2, group: x}\n");
    assert_eq!(path, "sources[0].assignment.group");
    assert_eq!(message, "unknown field `group`");
    assert!(help.is_empty() || help.contains("workers"), "{help}");
}

#[test]
fn a_worker_number_from_an_unset_variable_is_reported_once() {
    let text = base_with(
        "    topic: trips\n",
        "    topic: trips\n    assignment: {worker: \"${NO_WORKER_ID}\", workers: 2}\n",
    );
    let (_, _, path, message, help) = single_error(&text);
    assert_eq!(path, "sources[0].assignment.worker");
    assert_eq!(message, "environment variable `NO_WORKER_ID` is not set");
    assert!(help.starts_with("export NO_WORKER_ID="), "{help}");
}
