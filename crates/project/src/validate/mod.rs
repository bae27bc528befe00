//! Validation: the raw project becomes a resolved [`ProjectSpec`] plus compiled views, or a list of
//! every problem.
//!
//! Sections are checked in dependency order (stores, entities, sources, views, services, models) and each
//! check records its problems and carries on. A reference to something that was declared but is itself
//! invalid is not reported again: the user sees the root cause once, not a cascade.

mod assignment;
mod connectors;
mod models;
mod partitioning;
mod serving;
mod sources;
mod stores;
mod views;

use crate::CompiledView;
use crate::diagnostic::{At, Diagnostic};
use crate::duration::Duration;
use crate::raw::RawProject;
use crate::spec::{EntitySpec, ProjectSpec};
use crate::suggest::did_you_mean;
use crate::yaml::Spanned;
use std::collections::{HashMap, HashSet};

/// Validates a decoded project; `Err` carries every problem found (there is at least one).
pub(crate) fn validate(
    raw: RawProject,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<(ProjectSpec, Vec<CompiledView>), Vec<Diagnostic>> {
    let mut v = Validator {
        diagnostics: Vec::new(),
        declared: HashMap::new(),
    };
    v.declare_all(&raw);
    let project = raw
        .project
        .as_ref()
        .and_then(|p| v.identifier(p, "project"));
    let online_store = v.online_store(raw.online_store.as_ref());
    let offline_store = v.offline_store(raw.offline_store.as_ref());
    let serving = v.serving(raw.serving.as_ref());
    let entities = v.entities(&raw);
    let mut sources = v.sources(&raw);
    let (feature_views, compiled) = v.views(&raw, &entities, &sources);
    v.partition_keys(&raw, &mut sources, &feature_views, &entities);
    let feature_services = v.services(&raw, &feature_views);
    let models = v.models(&raw, &feature_services, &feature_views, &entities, &sources);
    diagnostics.append(&mut v.diagnostics);
    match (project, online_store, offline_store, serving) {
        (Some(project), Some(online_store), Some(offline_store), Some(serving))
            if diagnostics.is_empty() =>
        {
            Ok((
                ProjectSpec {
                    project,
                    online_store,
                    offline_store,
                    serving,
                    entities,
                    sources,
                    feature_views,
                    feature_services,
                    models,
                },
                compiled,
            ))
        }
        _ => Err(diagnostics),
    }
}

/// The kinds of named objects, for messages and for the declared-name index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Entity,
    Source,
    View,
    Service,
    Model,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Entity => "entity",
            Kind::Source => "source",
            Kind::View => "feature view",
            Kind::Service => "feature service",
            Kind::Model => "model",
        }
    }
}

struct Validator {
    diagnostics: Vec<Diagnostic>,
    /// Every name declared per kind, valid or not, to suppress cascading "unknown" errors.
    declared: HashMap<Kind, HashSet<String>>,
}

impl Validator {
    fn report(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn declare_all(&mut self, raw: &RawProject) {
        let names = |items: Vec<Option<&Spanned<String>>>| {
            items
                .into_iter()
                .flatten()
                .map(|n| n.value.clone())
                .collect::<HashSet<_>>()
        };
        let d = &mut self.declared;
        d.insert(
            Kind::Entity,
            names(raw.entities.iter().map(|e| e.name.as_ref()).collect()),
        );
        d.insert(
            Kind::Source,
            names(raw.sources.iter().map(|e| e.name.as_ref()).collect()),
        );
        d.insert(
            Kind::View,
            names(raw.feature_views.iter().map(|e| e.name.as_ref()).collect()),
        );
        d.insert(
            Kind::Service,
            names(
                raw.feature_services
                    .iter()
                    .map(|e| e.name.as_ref())
                    .collect(),
            ),
        );
        d.insert(
            Kind::Model,
            names(raw.models.iter().map(|e| e.name.as_ref()).collect()),
        );
    }

    /// Checks a name: a letter, then letters, digits or single underscores, at most 64 characters.
    ///
    /// Names become Redis keys, Parquet column names (`view__feature`), URLs and SQL identifiers, so they
    /// are restricted to what is safe everywhere; `__` is reserved as the view/feature separator.
    fn identifier(&mut self, name: &Spanned<String>, what: &str) -> Option<String> {
        let n = &name.value;
        let problem = if n.is_empty() {
            Some("is empty")
        } else if n.len() > 64 {
            Some("is longer than 64 characters")
        } else if !n.starts_with(|c: char| c.is_ascii_alphabetic()) {
            Some("must start with a letter")
        } else if !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Some("may contain only letters, digits and `_`")
        } else if n.contains("__") {
            Some("may not contain `__`, which separates view and feature in column names")
        } else {
            None
        };
        match problem {
            None => Some(n.clone()),
            Some(why) => {
                let suggestion: String = n
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let message = format!("invalid {what} name `{n}`: it {why}");
                let help = format!(
                    "use letters, digits and `_`, starting with a letter (e.g. `{}`)",
                    suggestion.trim_matches('_')
                );
                self.report(Diagnostic::at(&name.at, message).help(help));
                None
            }
        }
    }

    /// Reports the second and later uses of a name within one kind, pointing back at the first.
    fn unique<'a>(
        &mut self,
        kind: &str,
        names: impl Iterator<Item = &'a Spanned<String>>,
    ) -> HashSet<String> {
        let mut first: HashMap<&str, &At> = HashMap::new();
        let mut duplicates = HashSet::new();
        let mut found = Vec::new();
        for name in names {
            match first.get(name.value.as_str()) {
                Some(at) => {
                    found.push(
                        Diagnostic::at(&name.at, format!("duplicate {kind} name `{}`", name.value))
                            .help(format!(
                                "`{}` is already declared at {}; rename one of them",
                                name.value, at.path
                            )),
                    );
                    duplicates.insert(name.value.clone());
                }
                None => {
                    first.insert(&name.value, &name.at);
                }
            }
        }
        self.diagnostics.extend(found);
        duplicates
    }

    /// Looks a reference up among valid objects; reports it unless the name was declared (and is invalid).
    fn resolve<'s, T>(
        &mut self,
        reference: &Spanned<String>,
        kind: Kind,
        candidates: &'s [T],
        name: impl Fn(&T) -> &str,
    ) -> Option<&'s T> {
        if let Some(found) = candidates.iter().find(|c| name(c) == reference.value) {
            return Some(found);
        }
        let declared = self.declared.get(&kind);
        if !declared.is_some_and(|d| d.contains(&reference.value)) {
            // Suggest among everything declared, valid or not: the closest name may be the broken one.
            let mut names: Vec<&str> = declared.into_iter().flatten().map(String::as_str).collect();
            names.sort_unstable();
            let message = format!("unknown {} `{}`", kind.noun(), reference.value);
            let help = did_you_mean(&reference.value, names);
            self.report(Diagnostic::at(&reference.at, message).help(help));
        }
        None
    }

    /// One of a fixed set of keywords.
    fn choice<T: Copy>(
        &mut self,
        value: &Spanned<String>,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        if let Some((_, t)) = options.iter().find(|(k, _)| *k == value.value) {
            return Some(*t);
        }
        let message = format!("unknown {what} `{}`", value.value);
        let help = did_you_mean(&value.value, options.iter().map(|(k, _)| *k));
        self.report(Diagnostic::at(&value.at, message).help(help));
        None
    }

    /// A required setting of a source or store: reported as missing only if the key is absent from the
    /// file (a present value that failed to decode has been reported already).
    fn require<'r, T>(
        &mut self,
        section: (&At, &[&str]),
        value: Option<&'r Spanned<T>>,
        key: &str,
        example: &str,
    ) -> Option<&'r Spanned<T>> {
        let (at, present) = section;
        if value.is_none() && !present.contains(&key) {
            self.report(
                Diagnostic::at(at, format!("missing required field `{key}`"))
                    .help(format!("add `{key}: {example}`")),
            );
        }
        value
    }

    fn duration(&mut self, value: &Spanned<String>) -> Option<Duration> {
        match value.value.parse() {
            Ok(d) => Some(d),
            Err(e) => {
                self.report(Diagnostic::at(&value.at, e.to_string()).help(
                    "write a number and a unit, e.g. `500ms`, `30s`, `15m`, `1h`, `7d` or `1h30m`",
                ));
                None
            }
        }
    }

    fn entities(&mut self, raw: &RawProject) -> Vec<EntitySpec> {
        let dups = self.unique(
            "entity",
            raw.entities.iter().filter_map(|e| e.name.as_ref()),
        );
        let mut out = Vec::new();
        for e in &raw.entities {
            let name = e.name.as_ref().and_then(|n| self.identifier(n, "entity"));
            let mut keys = Vec::new();
            if let Some(join_keys) = &e.join_keys {
                if join_keys.value.is_empty() {
                    self.report(
                        Diagnostic::at(&join_keys.at, "an entity needs at least one join key")
                            .help(
                                "list the columns that identify it, e.g. `join_keys: [driver_id]`",
                            ),
                    );
                }
                self.unique("join key", join_keys.value.iter());
                keys = join_keys
                    .value
                    .iter()
                    .filter_map(|k| self.identifier(k, "join key"))
                    .collect();
            }
            let complete = e
                .join_keys
                .as_ref()
                .is_some_and(|k| !k.value.is_empty() && keys.len() == k.value.len());
            if let Some(name) = name.filter(|n| complete && !dups.contains(n)) {
                out.push(EntitySpec {
                    name,
                    join_keys: keys,
                    description: e.description.as_ref().map(|d| d.value.clone()),
                });
            }
        }
        out
    }
}
