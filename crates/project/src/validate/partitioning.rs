//! Partition keys of Kafka sources.
//!
//! freshet keeps each Kafka partition's state apart (that is what lets workers of one consumer group
//! split a topic and hand partitions over). That is only right if every event of an entity lands in
//! one partition, so a Kafka source must be keyed by a join key of every view it feeds: a topic of
//! trips keyed by `driver_id` can feed a driver view, or a (driver, city) view, but not a rider view,
//! whose riders' events would be spread over partitions. The key is the one written, or else the
//! join key the fed views share.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::raw::RawProject;
use crate::spec::{Connector, EntitySpec, FeatureViewSpec, SourceSpec};

impl Validator {
    pub(super) fn partition_keys(
        &mut self,
        raw: &RawProject,
        sources: &mut [SourceSpec],
        views: &[FeatureViewSpec],
        entities: &[EntitySpec],
    ) {
        for source in sources.iter_mut() {
            let Connector::Kafka { key, .. } = &mut source.connector else {
                continue;
            };
            let Some(raw_source) = raw
                .sources
                .iter()
                .find(|s| s.name.as_ref().is_some_and(|n| n.value == source.name))
            else {
                continue;
            };
            let fed: Vec<(&str, Vec<&str>)> = views
                .iter()
                .filter(|v| v.source == source.name)
                .map(|v| {
                    let keys = v
                        .entities
                        .iter()
                        .filter_map(|e| entities.iter().find(|x| &x.name == e))
                        .flat_map(|e| e.join_keys.iter().map(String::as_str))
                        .collect();
                    (v.name.as_str(), keys)
                })
                .collect();
            match (&raw_source.key, key.clone()) {
                (Some(written), Some(k)) => {
                    if source.field(&k).is_none() {
                        self.report(
                            Diagnostic::at(&written.at, format!("the schema has no field `{k}`"))
                                .help("name the payload field the topic's records are keyed by"),
                        );
                    }
                    for (view, keys) in &fed {
                        if !keys.contains(&k.as_str()) {
                            self.report(
                                Diagnostic::at(
                                    &written.at,
                                    format!(
                                        "view `{view}` is keyed by {}, not by `{k}`: its entities' events would be spread over partitions",
                                        keys.join(", ")
                                    ),
                                )
                                .help(format!(
                                    "feed `{view}` from a topic keyed by one of {}",
                                    keys.join(", ")
                                )),
                            );
                        }
                    }
                }
                _ => {
                    let common = fed.first().map(|(_, first)| {
                        first
                            .iter()
                            .find(|k| fed.iter().all(|(_, keys)| keys.contains(k)))
                    });
                    match common {
                        Some(Some(k)) => *key = Some((*k).to_owned()),
                        Some(None) => self.report(
                            Diagnostic::at(
                                &raw_source.at,
                                format!(
                                    "the views fed by Kafka source `{}` share no join key ({}), so no partitioning keeps each entity's events together",
                                    source.name,
                                    fed.iter()
                                        .map(|(v, k)| format!("{v}: {}", k.join(", ")))
                                        .collect::<Vec<_>>()
                                        .join("; ")
                                ),
                            )
                            .help("give each entity its own topic, keyed by its join key"),
                        ),
                        None => {}
                    }
                }
            }
        }
    }
}
