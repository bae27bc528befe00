//! Feature services (which features a model reads) and models (what they learn from and how).

use super::{Kind, Validator};
use crate::diagnostic::Diagnostic;
use crate::raw::{RawModel, RawProject, RawService};
use crate::spec::{
    Algorithm, EntitySpec, FeatureRef, FeatureServiceSpec, FeatureViewSpec, LabelSpec, ModelSpec,
    SourceSpec, Task,
};
use crate::suggest::did_you_mean;
use crate::yaml::Spanned;
use freshet_engine::DataType;
use std::collections::{BTreeMap, HashSet};

impl Validator {
    pub(super) fn services(
        &mut self,
        raw: &RawProject,
        views: &[FeatureViewSpec],
    ) -> Vec<FeatureServiceSpec> {
        let dups = self.unique(
            "feature service",
            raw.feature_services.iter().filter_map(|s| s.name.as_ref()),
        );
        raw.feature_services
            .iter()
            .filter_map(|s| self.service(s, views))
            .filter(|s| !dups.contains(&s.name))
            .collect()
    }

    fn service(&mut self, s: &RawService, views: &[FeatureViewSpec]) -> Option<FeatureServiceSpec> {
        let name = s
            .name
            .as_ref()
            .and_then(|n| self.identifier(n, "feature service"));
        let list = s.features.as_ref()?;
        if list.value.is_empty() {
            self.report(
                Diagnostic::at(&list.at, "a feature service needs at least one feature")
                    .help("list `view:feature` references, or `view:*` for a whole view"),
            );
            return None;
        }
        let mut features = Vec::new();
        let mut seen = HashSet::new();
        let mut ok = true;
        for reference in &list.value {
            match self.feature_refs(reference, views) {
                Some(refs) => {
                    for r in refs {
                        if !seen.insert(r.clone()) {
                            ok = false;
                            self.report(
                                Diagnostic::at(
                                    &reference.at,
                                    format!("feature `{r}` is listed twice"),
                                )
                                .help("remove the repeated reference"),
                            );
                        }
                        features.push(r);
                    }
                }
                None => ok = false,
            }
        }
        ok.then_some(FeatureServiceSpec {
            name: name?,
            description: s.description.as_ref().map(|d| d.value.clone()),
            features,
        })
    }

    /// Resolves `view:feature` or `view:*`.
    fn feature_refs(
        &mut self,
        reference: &Spanned<String>,
        views: &[FeatureViewSpec],
    ) -> Option<Vec<FeatureRef>> {
        let Some((view_name, feature)) = reference.value.split_once(':') else {
            self.report(
                Diagnostic::at(
                    &reference.at,
                    format!("`{}` is not a feature reference", reference.value),
                )
                .help("write `view:feature`, or `view:*` for every feature of a view"),
            );
            return None;
        };
        let view_ref = Spanned {
            value: view_name.to_owned(),
            at: reference.at_offset(0..view_name.len()),
        };
        let view = self.resolve(&view_ref, Kind::View, views, |v| &v.name)?;
        let make = |feature: &str| FeatureRef {
            view: view.name.clone(),
            feature: feature.to_owned(),
        };
        if feature == "*" {
            return Some(view.features.iter().map(|f| make(&f.name)).collect());
        }
        if view.feature(feature).is_none() {
            let at = reference.at_offset(view_name.len() + 1..reference.value.len());
            let names = view.features.iter().map(|f| f.name.as_str());
            self.report(
                Diagnostic::at(
                    &at,
                    format!("feature view `{}` has no feature `{feature}`", view.name),
                )
                .help(did_you_mean(feature, names)),
            );
            return None;
        }
        Some(vec![make(feature)])
    }

    pub(super) fn models(
        &mut self,
        raw: &RawProject,
        services: &[FeatureServiceSpec],
        views: &[FeatureViewSpec],
        entities: &[EntitySpec],
        sources: &[SourceSpec],
    ) -> Vec<ModelSpec> {
        let dups = self.unique("model", raw.models.iter().filter_map(|m| m.name.as_ref()));
        raw.models
            .iter()
            .filter_map(|m| self.model(m, services, views, entities, sources))
            .filter(|m| !dups.contains(&m.name))
            .collect()
    }

    fn model(
        &mut self,
        m: &RawModel,
        services: &[FeatureServiceSpec],
        views: &[FeatureViewSpec],
        entities: &[EntitySpec],
        sources: &[SourceSpec],
    ) -> Option<ModelSpec> {
        let name = m.name.as_ref().and_then(|n| self.identifier(n, "model"));
        let service = m
            .feature_service
            .as_ref()
            .and_then(|s| self.resolve(s, Kind::Service, services, |x| &x.name));
        let task = match &m.task {
            Some(t) => self.choice(
                t,
                "task",
                &[
                    ("classification", Task::Classification),
                    ("regression", Task::Regression),
                ],
            ),
            None => Some(Task::Classification),
        };
        let algorithm = m.algorithm.as_ref().and_then(|a| {
            self.choice(
                a,
                "algorithm",
                &[("gbdt", Algorithm::Gbdt), ("linear", Algorithm::Linear)],
            )
        });
        let params = algorithm.and_then(|a| self.params(m, a));
        let source = m
            .label_source
            .as_ref()
            .and_then(|s| self.resolve(s, Kind::Source, sources, |x| &x.name));
        let label = self.label(m, source, task, service, views, entities);
        Some(ModelSpec {
            name: name?,
            description: m.description.as_ref().map(|d| d.value.clone()),
            feature_service: service?.name.clone(),
            label: label?,
            task: task?,
            algorithm: algorithm?,
            params: params?,
        })
    }

    /// The label column must fit the task, and the label source must carry the service's join keys.
    fn label(
        &mut self,
        m: &RawModel,
        source: Option<&SourceSpec>,
        task: Option<Task>,
        service: Option<&FeatureServiceSpec>,
        views: &[FeatureViewSpec],
        entities: &[EntitySpec],
    ) -> Option<LabelSpec> {
        let (source, column) = (source?, m.label_column.as_ref()?);
        let Some(field) = source.field(&column.value) else {
            let names = source.schema.iter().map(|f| f.name.as_str());
            self.report(
                Diagnostic::at(
                    &column.at,
                    format!("source `{}` has no column `{}`", source.name, column.value),
                )
                .help(did_you_mean(&column.value, names)),
            );
            return None;
        };
        let fits = match task? {
            Task::Classification => matches!(field.data_type, DataType::Bool | DataType::Int64),
            Task::Regression => field.data_type.is_numeric(),
        };
        if !fits {
            let expected = if task == Some(Task::Classification) {
                "bool or int64 (0/1)"
            } else {
                "int64 or float64"
            };
            self.report(
                Diagnostic::at(
                    &column.at,
                    format!(
                        "label `{}` is {}, but a {} label must be {expected}",
                        field.name,
                        field.data_type,
                        if task == Some(Task::Classification) {
                            "classification"
                        } else {
                            "regression"
                        }
                    ),
                )
                .help("pick another column, or change `task`"),
            );
            return None;
        }
        let keys: Vec<&str> = service?
            .features
            .iter()
            .filter_map(|r| views.iter().find(|v| v.name == r.view))
            .flat_map(|v| v.entities.iter())
            .filter_map(|e| entities.iter().find(|x| &x.name == e))
            .flat_map(|e| e.join_keys.iter().map(String::as_str))
            .collect();
        let missing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| source.field(k).is_none())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let at = m.label_source.as_ref().map_or(&m.at, |s| &s.at);
            self.report(
                Diagnostic::at(
                    at,
                    format!(
                        "label source `{}` lacks join key(s) {} used by the model's features",
                        source.name,
                        missing.join(", ")
                    ),
                )
                .help("labels must carry every join key of the feature service's entities"),
            );
            return None;
        }
        Some(LabelSpec {
            source: source.name.clone(),
            column: field.name.clone(),
        })
    }

    fn params(&mut self, m: &RawModel, algorithm: Algorithm) -> Option<BTreeMap<String, f64>> {
        let Some(params) = &m.params else {
            return Some(BTreeMap::new());
        };
        let known = algorithm.params();
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in &params.value {
            let Some((_, min, max)) = known.iter().find(|(k, ..)| *k == key.value) else {
                ok = false;
                let names = known.iter().map(|(k, ..)| *k);
                self.report(
                    Diagnostic::at(
                        &key.at,
                        format!("unknown parameter `{}` for this algorithm", key.value),
                    )
                    .help(did_you_mean(&key.value, names)),
                );
                continue;
            };
            let integral = !matches!(
                key.value.as_str(),
                "learning_rate" | "l2" | "min_leaf_weight"
            );
            if !(*min..=*max).contains(&value.value) || (integral && value.value.fract() != 0.0) {
                ok = false;
                let kind = if integral {
                    "a whole number"
                } else {
                    "a number"
                };
                self.report(
                    Diagnostic::at(
                        &value.at,
                        format!("`{}` must be {kind} from {min} to {max}", key.value),
                    )
                    .help("see docs/project-file.md for each parameter"),
                );
                continue;
            }
            out.insert(key.value.clone(), value.value);
        }
        ok.then_some(out)
    }
}
