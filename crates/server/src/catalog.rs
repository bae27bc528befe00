//! What can be asked for: the project's feature views, their features and join keys, and the feature
//! services, resolved once when the server starts. A request's feature list is resolved against it
//! before any store I/O, so an unknown name is a 400 that costs nothing.

use crate::error::ApiError;
use freshet_engine::{DataType, FeatureType, RecordReader};
use freshet_project::spec::FeatureViewSpec;
use freshet_project::{CompiledView, Project, ProjectSpec};
use std::collections::HashMap;

/// One feature view as served.
#[derive(Debug, Clone)]
pub struct ServedView {
    /// View name.
    pub name: String,
    /// Reads its records.
    pub reader: RecordReader,
    /// Join keys (names and types) in key order.
    pub join_keys: Vec<(String, DataType)>,
    /// Feature names and output types, in definition order.
    pub features: Vec<(String, FeatureType)>,
    /// Each feature's full name, `view__feature`, made once rather than per request.
    pub full_names: Vec<String>,
    /// Each feature's name and full name as JSON strings (quoted, escaped), made once for the
    /// answer's writer rather than scanned for characters to escape in every answer.
    json_names: Vec<[Box<[u8]>; 2]>,
}

impl ServedView {
    /// The name of feature `feature`'s column in an answer: `feature`, or `view__feature`.
    pub fn column_name(&self, feature: usize, full: bool) -> &str {
        if full {
            &self.full_names[feature]
        } else {
            &self.features[feature].0
        }
    }

    /// [`ServedView::column_name`] as a JSON string.
    pub fn json_column_name(&self, feature: usize, full: bool) -> &[u8] {
        &self.json_names[feature][usize::from(full)]
    }
}

/// `text` as a JSON string, quoted and escaped.
fn json_string(text: &str) -> Box<[u8]> {
    // Serializing a string cannot fail: a vector's writes always succeed.
    serde_json::to_vec(text).unwrap_or_default().into()
}

/// A resolved feature: its view and its index in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureRef {
    /// Index into [`Catalog::views`].
    pub view: usize,
    /// Index into that view's features.
    pub feature: usize,
}

/// Everything a request may name.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Project name.
    pub project: String,
    /// Served views.
    pub views: Vec<ServedView>,
    services: HashMap<String, Vec<FeatureRef>>,
    service_names: Vec<String>,
}

impl Catalog {
    /// The catalog of a loaded project.
    pub fn new(project: &Project) -> Catalog {
        let spec = &project.spec;
        let views: Vec<ServedView> = spec
            .feature_views
            .iter()
            .zip(&project.views)
            .map(|(view, compiled)| served_view(spec, view, compiled))
            .collect();
        let mut catalog = Catalog {
            project: spec.project.clone(),
            views,
            services: HashMap::new(),
            service_names: spec
                .feature_services
                .iter()
                .map(|s| s.name.clone())
                .collect(),
        };
        for service in &spec.feature_services {
            let refs = service
                .features
                .iter()
                .filter_map(|r| catalog.find(&r.view, &r.feature))
                .collect();
            catalog.services.insert(service.name.clone(), refs);
        }
        catalog
    }

    fn find(&self, view: &str, feature: &str) -> Option<FeatureRef> {
        let v = self.views.iter().position(|x| x.name == view)?;
        let f = self.views[v].features.iter().position(|x| x.0 == feature)?;
        Some(FeatureRef {
            view: v,
            feature: f,
        })
    }

    /// The features of a feature service.
    pub fn service(&self, name: &str) -> Result<Vec<FeatureRef>, ApiError> {
        self.services.get(name).cloned().ok_or_else(|| {
            ApiError::bad_request(
                "unknown_feature_service",
                format!(
                    "unknown feature service `{name}`{}",
                    suggestion(name, self.service_names.iter().map(String::as_str))
                ),
            )
        })
    }

    /// Resolves `view:feature` references (`view:*` for all of a view's features), in order.
    /// `path` names the request field for messages.
    pub fn features(&self, names: &[String], path: &str) -> Result<Vec<FeatureRef>, ApiError> {
        let mut refs = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let Some((view, feature)) = name.split_once(':') else {
                return Err(ApiError::bad_request(
                    "invalid_feature_reference",
                    format!(
                        "{at}: `{name}` is not `view:feature`; write e.g. `driver_stats:trips_24h`"
                    ),
                ));
            };
            let Some(v) = self.views.iter().position(|x| x.name == view) else {
                return Err(ApiError::bad_request(
                    "unknown_feature_view",
                    format!(
                        "{at}: unknown feature view `{view}`{}",
                        suggestion(view, self.views.iter().map(|v| v.name.as_str()))
                    ),
                ));
            };
            if feature == "*" {
                refs.extend((0..self.views[v].features.len()).map(|f| FeatureRef {
                    view: v,
                    feature: f,
                }));
                continue;
            }
            match self.find(view, feature) {
                Some(r) => refs.push(r),
                None => {
                    return Err(ApiError::bad_request(
                        "unknown_feature",
                        format!(
                            "{at}: feature view `{view}` has no feature `{feature}`{}",
                            suggestion(
                                feature,
                                self.views[v].features.iter().map(|f| f.0.as_str())
                            )
                        ),
                    ));
                }
            }
        }
        Ok(refs)
    }
}

/// How `view` is served: its reader, join keys with their types, and its features' names.
fn served_view(spec: &ProjectSpec, view: &FeatureViewSpec, compiled: &CompiledView) -> ServedView {
    let source = spec.sources.iter().find(|s| s.name == view.source);
    let join_keys = view
        .entities
        .iter()
        .filter_map(|e| spec.entities.iter().find(|x| &x.name == e))
        .flat_map(|e| e.join_keys.iter())
        .map(|k| {
            let t = source
                .and_then(|s| s.field(k))
                .map_or(DataType::String, |f| f.data_type);
            (k.clone(), t)
        })
        .collect();
    let full_names: Vec<String> = view
        .features
        .iter()
        .map(|f| format!("{}__{}", view.name, f.name))
        .collect();
    ServedView {
        json_names: view
            .features
            .iter()
            .zip(&full_names)
            .map(|(f, full)| [json_string(&f.name), json_string(full)])
            .collect(),
        full_names,
        name: view.name.clone(),
        reader: RecordReader::new(&compiled.def),
        join_keys,
        features: view
            .features
            .iter()
            .map(|f| (f.name.clone(), f.output_type))
            .collect(),
    }
}

/// `; did you mean `x`?` for the closest candidate, or a list of what exists.
fn suggestion<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let candidates: Vec<&str> = candidates.collect();
    let closest = candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((_, c)) => format!("; did you mean `{c}`?"),
        None if candidates.is_empty() => String::new(),
        None => format!(" (known: {})", candidates.join(", ")),
    }
}
