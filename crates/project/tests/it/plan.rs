//! Plans: adds, removes, changes, and exactly which changes are breaking.

use super::{BASE, base_with, valid};
use freshet_project::plan::{Action, plan};

/// (object name, action, [(detail text, breaking)]) per change.
type Summary = Vec<(String, Action, Vec<(String, bool)>)>;

fn changes(old: &str, new: &str) -> Summary {
    plan(Some(&valid(old)), &valid(new))
        .changes
        .into_iter()
        .map(|c| {
            (
                c.name,
                c.action,
                c.details
                    .into_iter()
                    .map(|d| (d.text, d.breaking))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn first_apply_adds_everything() {
    let p = plan(None, &valid(BASE));
    assert_eq!(p.counts(), (4, 0, 0));
    assert_eq!(p.breaking().count(), 0);
}

#[test]
fn identical_specs_plan_nothing_even_with_cosmetic_edits() {
    let cosmetic = base_with(
        "filter: \"status = 'completed'\"",
        "filter: \"status='completed'\"",
    )
    .replace("ttl: 7d", "ttl: 168h");
    assert!(plan(Some(&valid(BASE)), &valid(&cosmetic)).is_empty());
}

#[test]
fn changed_window_is_breaking() {
    let new = base_with(
        "aggregation: count, window: 1h",
        "aggregation: count, window: 2h",
    );
    let c = changes(BASE, &new);
    assert_eq!(
        c,
        vec![(
            "driver_trips@v1".to_owned(),
            Action::Change,
            vec![(
                "~ feature trips_1h: count over 1h -> count over 2h".to_owned(),
                true
            )]
        )]
    );
}

#[test]
fn changed_filter_aggregation_and_column_are_breaking() {
    for (from, to) in [
        (
            "filter: \"status = 'completed'\"",
            "filter: \"status <> 'cancelled'\"",
        ),
        (
            "aggregation: sum, column: fare",
            "aggregation: max, column: fare",
        ),
        (
            "entities: [driver]\n    source: trips",
            "entities: [driver]\n    source: trips\n    columns: [{name: fare2, expr: \"fare * 2\"}]",
        ),
    ] {
        let new = base_with(from, to);
        let p = plan(Some(&valid(BASE)), &valid(&new));
        let breaking = p.breaking().count();
        let adds_column = to.contains("fare2");
        assert_eq!(breaking, usize::from(!adds_column), "{to}: {p}");
    }
}

#[test]
fn ttl_description_and_new_features_are_safe() {
    let new = base_with("ttl: 7d", "ttl: 3d\n    description: trips per driver").replace(
        "      - {name: fare_sum_24h",
        "      - {name: fare_max, aggregation: max, column: fare}\n      - {name: fare_sum_24h",
    );
    let p = plan(Some(&valid(BASE)), &valid(&new));
    assert_eq!(p.breaking().count(), 0, "{p}");
    assert_eq!(p.counts(), (0, 1, 0));
    let text = p.to_string();
    assert!(
        text.contains("~ ttl: 7d -> 3d")
            && text.contains("+ feature fare_max = max of fare over all time"),
        "{text}"
    );
}

#[test]
fn renaming_a_feature_or_bumping_the_version_is_not_breaking() {
    let renamed = base_with(
        "{name: trips_1h, aggregation: count, window: 1h}",
        "{name: trips_2h, aggregation: count, window: 2h}",
    )
    .replace("driver_trips:trips_1h", "driver_trips:trips_2h");
    let p = plan(Some(&valid(BASE)), &valid(&renamed));
    assert_eq!(p.breaking().count(), 0, "{p}");
    let bumped = base_with("    ttl: 7d\n", "    ttl: 7d\n    version: 2\n")
        .replace("window: 1h}", "window: 2h}");
    let p = plan(Some(&valid(BASE)), &valid(&bumped));
    assert_eq!(p.breaking().count(), 0, "{p}");
    let names: Vec<(&str, Action)> = p
        .changes
        .iter()
        .map(|c| (c.name.as_str(), c.action))
        .collect();
    assert_eq!(
        names,
        vec![
            ("driver_trips@v2", Action::Add),
            ("driver_trips@v1", Action::Remove)
        ]
    );
}

#[test]
fn source_column_type_and_join_key_changes_are_breaking() {
    let new = base_with("fare: float64", "fare: int64");
    assert_eq!(plan(Some(&valid(BASE)), &valid(&new)).breaking().count(), 1);
    let new = base_with("join_keys: [driver_id]", "join_keys: [driver_id, status]");
    let p = plan(Some(&valid(BASE)), &valid(&new));
    assert_eq!(
        p.breaking().map(|c| c.kind).collect::<Vec<_>>(),
        vec!["entity"]
    );
}

#[test]
fn connection_changes_are_listed_without_secrets() {
    let new = base_with("topic: trips", "topic: trips_v2");
    let p = plan(Some(&valid(BASE)), &valid(&new));
    assert_eq!(p.breaking().count(), 0);
    assert!(p.to_string().contains("trips_v2"));
}
