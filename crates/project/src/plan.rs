//! Plans: what applying a project would change in the registry, and which changes are breaking.
//!
//! A change is *breaking* when it alters the meaning of values that may already have been served or used
//! for training: a feature's aggregation, column, window or list length; a view's entities, source or
//! filter; a derived column a feature reads; an entity's join keys; a source's time or event-id column or
//! a column's type. Such changes must get a new name (rename the feature, or bump the view's `version`,
//! which makes it a new view) or be forced. Everything else (new objects, removals, TTLs, descriptions,
//! connection settings) is safe to apply in place.

use crate::spec::{FeatureSpec, FeatureViewSpec, ProjectSpec};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::{self, Display};

/// What happens to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// It is new.
    Add,
    /// It is gone from the project.
    Remove,
    /// It exists in both with differences.
    Change,
}

/// One difference inside a changed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// What changed, e.g. "window: 1h -> 2h".
    pub text: String,
    /// Whether it changes the meaning of existing data.
    pub breaking: bool,
}

/// One object's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The kind of object ("entity", "source", "feature view", ...).
    pub kind: &'static str,
    /// Its name (`name@vN` for views).
    pub name: String,
    /// Added, removed or changed.
    pub action: Action,
    /// For changes, each difference.
    pub details: Vec<Detail>,
}

impl Change {
    /// Whether any detail is breaking.
    pub fn is_breaking(&self) -> bool {
        self.details.iter().any(|d| d.breaking)
    }
}

/// Every change between the applied spec and the new one, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The changes.
    pub changes: Vec<Change>,
}

impl Plan {
    /// Whether applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Changes with at least one breaking detail.
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.is_breaking())
    }

    /// Counts of added, changed and removed objects.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |a| self.changes.iter().filter(|c| c.action == a).count();
        (
            count(Action::Add),
            count(Action::Change),
            count(Action::Remove),
        )
    }
}

/// Compares the applied spec (`None` for a first apply) with the new one.
pub fn plan(old: Option<&ProjectSpec>, new: &ProjectSpec) -> Plan {
    let mut changes = Vec::new();
    let empty;
    let old = match old {
        Some(o) => o,
        None => {
            empty = ProjectSpec {
                entities: vec![],
                sources: vec![],
                feature_views: vec![],
                feature_services: vec![],
                models: vec![],
                ..new.clone()
            };
            &empty
        }
    };
    let mut store = Vec::new();
    diff_field(
        &mut store,
        "online_store",
        &json(&old.online_store),
        &json(&new.online_store),
        false,
    );
    diff_field(
        &mut store,
        "offline_store",
        &json(&old.offline_store),
        &json(&new.offline_store),
        false,
    );
    diff_field(
        &mut store,
        "serving",
        &json(&old.serving),
        &json(&new.serving),
        false,
    );
    if !store.is_empty() {
        changes.push(Change {
            kind: "project",
            name: new.project.clone(),
            action: Action::Change,
            details: store,
        });
    }
    compare(
        &mut changes,
        "entity",
        &old.entities,
        &new.entities,
        |e| e.name.clone(),
        |d, o, n| {
            diff_field(
                d,
                "join_keys",
                &o.join_keys.join(", "),
                &n.join_keys.join(", "),
                true,
            );
            diff_description(d, &o.description, &n.description);
        },
    );
    compare(
        &mut changes,
        "source",
        &old.sources,
        &new.sources,
        |s| s.name.clone(),
        |d, o, n| {
            diff_field(
                d,
                "timestamp_field",
                &o.timestamp_field,
                &n.timestamp_field,
                true,
            );
            diff_field(
                d,
                "event_id_field",
                &opt(&o.event_id_field),
                &opt(&n.event_id_field),
                true,
            );
            diff_field(
                d,
                "ingest_time_field",
                &opt(&o.ingest_time_field),
                &opt(&n.ingest_time_field),
                true,
            );
            diff_field(d, "timezone", &opt(&o.timezone), &opt(&n.timezone), true);
            for field in &n.schema {
                match o.field(&field.name) {
                    None => d.push(Detail {
                        text: format!("+ column {}: {}", field.name, field.data_type),
                        breaking: false,
                    }),
                    Some(old) => diff_field(
                        d,
                        &format!("column {}", field.name),
                        &old.data_type,
                        &field.data_type,
                        true,
                    ),
                }
            }
            for field in o.schema.iter().filter(|f| n.field(&f.name).is_none()) {
                d.push(Detail {
                    text: format!("- column {}", field.name),
                    breaking: false,
                });
            }
            diff_field(
                d,
                "connector",
                &json(&o.connector),
                &json(&n.connector),
                false,
            );
            diff_description(d, &o.description, &n.description);
        },
    );
    compare(
        &mut changes,
        "feature view",
        &old.feature_views,
        &new.feature_views,
        |v| format!("{}@v{}", v.name, v.version),
        diff_view,
    );
    compare(
        &mut changes,
        "feature service",
        &old.feature_services,
        &new.feature_services,
        |s| s.name.clone(),
        |d, o, n| {
            let list = |s: &crate::spec::FeatureServiceSpec| {
                s.features
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            diff_field(d, "features", &list(o), &list(n), false);
            diff_description(d, &o.description, &n.description);
        },
    );
    compare(
        &mut changes,
        "model",
        &old.models,
        &new.models,
        |m| m.name.clone(),
        |d, o, n| {
            diff_field(
                d,
                "definition",
                &json(&(&o.feature_service, &o.label, o.task, o.algorithm, &o.params)),
                &json(&(&n.feature_service, &n.label, n.task, n.algorithm, &n.params)),
                false,
            );
            diff_description(d, &o.description, &n.description);
        },
    );
    Plan { changes }
}

fn diff_view(d: &mut Vec<Detail>, o: &FeatureViewSpec, n: &FeatureViewSpec) {
    diff_field(
        d,
        "entities",
        &o.entities.join(", "),
        &n.entities.join(", "),
        true,
    );
    diff_field(d, "source", &o.source, &n.source, true);
    diff_field(d, "filter", &opt(&o.filter), &opt(&n.filter), true);
    diff_field(d, "ttl", &opt(&o.ttl), &opt(&n.ttl), false);
    diff_description(d, &o.description, &n.description);
    // A derived column change is breaking only through the features that read it.
    let derived = |v: &FeatureViewSpec, name: &str| {
        v.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c.expr.clone(), c.data_type))
    };
    for c in &n.columns {
        match derived(o, &c.name) {
            None => d.push(Detail {
                text: format!("+ column {} = {}", c.name, c.expr),
                breaking: false,
            }),
            Some(old) if old != (c.expr.clone(), c.data_type) => {
                let readers: Vec<&str> = n
                    .features
                    .iter()
                    .filter(|f| {
                        f.column.as_deref() == Some(&c.name) && o.feature(&f.name).is_some()
                    })
                    .map(|f| f.name.as_str())
                    .collect();
                let used = if readers.is_empty() {
                    String::new()
                } else {
                    format!(" (read by {})", readers.join(", "))
                };
                d.push(Detail {
                    text: format!("~ column {}: {} -> {}{used}", c.name, old.0, c.expr),
                    breaking: !readers.is_empty(),
                });
            }
            Some(_) => {}
        }
    }
    for c in o.columns.iter().filter(|c| derived(n, &c.name).is_none()) {
        d.push(Detail {
            text: format!("- column {}", c.name),
            breaking: false,
        });
    }
    for f in &n.features {
        match o.feature(&f.name) {
            None => d.push(Detail {
                text: format!("+ feature {}", describe(f)),
                breaking: false,
            }),
            Some(old) if definition(old) != definition(f) => d.push(Detail {
                text: format!(
                    "~ feature {}: {} -> {}",
                    f.name,
                    definition(old),
                    definition(f)
                ),
                breaking: true,
            }),
            Some(old) => diff_field(
                d,
                &format!("feature {} description", f.name),
                &opt(&old.description),
                &opt(&f.description),
                false,
            ),
        }
    }
    for f in o.features.iter().filter(|f| n.feature(&f.name).is_none()) {
        d.push(Detail {
            text: format!("- feature {}", f.name),
            breaking: false,
        });
    }
}

/// The part of a feature that fixes the meaning of its values.
fn definition(f: &FeatureSpec) -> String {
    let mut s = f.aggregation.to_string();
    if let Some(n) = f.n {
        s.push_str(&format!("({n})"));
    }
    if let Some(c) = &f.column {
        s.push_str(&format!(" of {c}"));
    }
    match f.window {
        Some(w) => s.push_str(&format!(" over {w}")),
        None => s.push_str(" over all time"),
    }
    s
}

fn describe(f: &FeatureSpec) -> String {
    format!("{} = {}", f.name, definition(f))
}

/// Pairs objects by key and records adds, removes and (via `details`) changes.
fn compare<T>(
    changes: &mut Vec<Change>,
    kind: &'static str,
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> String,
    details: impl Fn(&mut Vec<Detail>, &T, &T),
) {
    let old_by_key: BTreeMap<String, &T> = old.iter().map(|o| (key(o), o)).collect();
    let new_keys: std::collections::BTreeSet<String> = new.iter().map(&key).collect();
    for n in new {
        let name = key(n);
        let (action, found) = match old_by_key.get(&name) {
            None => (Action::Add, Vec::new()),
            Some(o) => {
                let mut d = Vec::new();
                details(&mut d, o, n);
                (Action::Change, d)
            }
        };
        if action == Action::Add || !found.is_empty() {
            changes.push(Change {
                kind,
                name,
                action,
                details: found,
            });
        }
    }
    for (name, _) in old_by_key.iter().filter(|(k, _)| !new_keys.contains(*k)) {
        changes.push(Change {
            kind,
            name: name.clone(),
            action: Action::Remove,
            details: Vec::new(),
        });
    }
}

fn diff_field<T: Display + PartialEq + ?Sized>(
    details: &mut Vec<Detail>,
    name: &str,
    old: &T,
    new: &T,
    breaking: bool,
) {
    if old != new {
        details.push(Detail {
            text: format!("~ {name}: {old} -> {new}"),
            breaking,
        });
    }
}

fn diff_description(details: &mut Vec<Detail>, old: &Option<String>, new: &Option<String>) {
    diff_field(details, "description", &opt(old), &opt(new), false);
}

fn opt<T: Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), ToString::to_string)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            let sign = match c.action {
                Action::Add => '+',
                Action::Remove => '-',
                Action::Change => '~',
            };
            writeln!(f, "{sign} {} {}", c.kind, c.name)?;
            for d in &c.details {
                let mark = if d.breaking { "   [breaking]" } else { "" };
                writeln!(f, "    {}{mark}", d.text)?;
            }
        }
        Ok(())
    }
}
