//! `freshet train`: a model's training set built from its labels with the point-in-time path, a
//! time split, a fitted model and its validation report, stored as the model's next version.
//!
//! The heavy lifting is elsewhere: labels and features come from `freshet-offline` (the same engine
//! code that serves online), learning and the registry from `freshet-models`. This module joins them,
//! and [`train_model`] is what `freshet demo` calls too.

use crate::cli::TrainArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_models::input::{check_type, model_input};
use freshet_models::{Dataset, FeatureDefinition, ModelArtifact, Stage, TrainOptions};
use freshet_offline::labels::label_spine;
use freshet_offline::training::{SpineAnswers, answer_spine};
use freshet_project::Project;
use freshet_project::spec::{FeatureRef, ModelSpec, Task};
use indicatif::{HumanCount, ProgressBar};
use std::path::Path;
use std::time::{Duration, Instant};

/// A refusal with a fix.
pub(crate) fn refused(message: impl Into<String>, help: impl Into<String>) -> Failure {
    Failure::Refused {
        message: message.into(),
        help: help.into(),
    }
}

/// The model `name` of `project`, or a refusal listing the models there are.
pub(crate) fn model_spec<'p>(project: &'p Project, name: &str) -> Result<&'p ModelSpec, Failure> {
    project
        .spec
        .models
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = project
                .spec
                .models
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            refused(
                format!("the project has no model `{name}`"),
                if names.is_empty() {
                    "declare one under `models:` in freshet.yaml (see docs/models.md)".to_owned()
                } else {
                    format!("its models: {}", names.join(", "))
                },
            )
        })
}

/// Each row's inputs, column-major, from a spine's answers: one column per `features`, in order,
/// through the conversion serving uses.
pub(crate) fn model_inputs(
    answers: &SpineAnswers,
    features: &[FeatureDefinition],
    keep: &[usize],
) -> Result<Vec<f64>, Failure> {
    let mut values = Vec::with_capacity(features.len() * keep.len());
    for f in features {
        let located = answers.views.iter().enumerate().find_map(|(v, view)| {
            if view.name != f.view {
                return None;
            }
            let index = view.def.features.iter().position(|x| x.name == f.feature)?;
            Some((v, index))
        });
        let Some((v, index)) = located else {
            return Err(refused(
                format!("feature `{}` is not in the project", f.reference()),
                "restore it, or retrain the model",
            ));
        };
        values.extend(
            keep.iter()
                .map(|&r| model_input(&answers.rows[v][r].values[index])),
        );
    }
    Ok(values)
}

/// The join keys the features need, for reading key columns as text from CSV.
fn key_columns(project: &Project, features: &[FeatureDefinition]) -> Vec<String> {
    let mut keys: Vec<String> = features
        .iter()
        .filter_map(|f| project.spec.feature_views.iter().find(|v| v.name == f.view))
        .flat_map(|v| v.entities.iter())
        .filter_map(|e| project.spec.entities.iter().find(|x| &x.name == e))
        .flat_map(|e| e.join_keys.iter().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// `view:feature` references of definitions.
pub(crate) fn feature_refs(features: &[FeatureDefinition]) -> Vec<FeatureRef> {
    features
        .iter()
        .map(|f| FeatureRef {
            view: f.view.clone(),
            feature: f.feature.clone(),
        })
        .collect()
}

/// The labelled rows of `spec`: features as of each label's time, labels with nulls dropped.
async fn labelled_rows(
    project: &Project,
    spec: &ModelSpec,
    features: &[FeatureDefinition],
) -> Result<(Dataset, usize), Failure> {
    let offline = |e: freshet_offline::training::TrainingError| {
        refused(
            e.to_string(),
            "labels are read from the label source's files, its PostgreSQL table or query, or (other sources) its event log",
        )
    };
    let keys = key_columns(project, features);
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let (spine, time_column) = label_spine(project, &spec.label.source, &key_refs)
        .await
        .map_err(offline)?;
    let labels = spine
        .numbers(&spec.label.column)
        .map_err(|e| offline(e.into()))?;
    let answers = answer_spine(
        project,
        &feature_refs(features),
        &spine,
        &time_column,
        false,
    )
    .await
    .map_err(offline)?;
    let keep: Vec<usize> = (0..labels.len()).filter(|&r| !labels[r].is_nan()).collect();
    if spec.task == Task::Classification
        && let Some(&bad) = keep.iter().find(|&&r| labels[r] != 0.0 && labels[r] != 1.0)
    {
        return Err(refused(
            format!(
                "label `{}` of source `{}` is {} in row {}; a classification label must be 0/1 or true/false",
                spec.label.column,
                spec.label.source,
                labels[bad],
                bad + 1
            ),
            "fix the labels, or set `task: regression`",
        ));
    }
    let dataset = Dataset {
        features: features.iter().map(FeatureDefinition::reference).collect(),
        values: model_inputs(&answers, features, &keep)?,
        labels: keep.iter().map(|&r| labels[r]).collect(),
        times: keep.iter().map(|&r| answers.times[r]).collect(),
    };
    Ok((dataset, labels.len() - keep.len()))
}

/// Trains `name`, stores it as the next version and, with `promote`, makes it production.
pub(crate) async fn train_model(
    project: &Project,
    name: &str,
    options: &TrainOptions,
    promote: bool,
    bar: &ProgressBar,
) -> Result<ModelArtifact, Failure> {
    let spec = model_spec(project, name)?;
    let features =
        FeatureDefinition::of_service(project, &spec.feature_service).ok_or_else(|| {
            refused(
                format!(
                    "feature service `{}` is not in the project",
                    spec.feature_service
                ),
                "fix the model's `feature_service`",
            )
        })?;
    for f in &features {
        let output = project
            .spec
            .feature_views
            .iter()
            .find(|v| v.name == f.view)
            .and_then(|v| v.feature(&f.feature))
            .map(|x| x.output_type);
        if let Some(output) = output {
            check_type(&f.reference(), output).map_err(|e| {
                refused(
                    e.to_string(),
                    "leave it out of the model's feature service, or derive a number from it",
                )
            })?;
        }
    }
    bar.set_message(format!("reading the labels of `{}`", spec.label.source));
    let (dataset, dropped) = labelled_rows(project, spec, &features).await?;
    let trained = freshet_models::train(spec, &dataset, dropped, options, &mut |stage| {
        bar.set_message(match stage {
            Stage::Fitting(rows) => {
                format!(
                    "fitting {:?} on {} rows",
                    spec.algorithm,
                    HumanCount(rows as u64)
                )
            }
            Stage::Baseline(rows) => format!(
                "fitting the linear baseline on {} rows",
                HumanCount(rows as u64)
            ),
            Stage::Evaluating(rows) => {
                format!("scoring {} validation rows", HumanCount(rows as u64))
            }
        });
    })
    .map_err(|e| refused(e.to_string(), "see docs/models.md for what training needs"))?;
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut artifact = ModelArtifact::new(spec, features, trained, created);
    let registry = freshet_server::app::model_registry(project);
    registry
        .save(&mut artifact)
        .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    if promote {
        registry
            .promote(name, artifact.version)
            .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    }
    Ok(artifact)
}

pub(crate) fn run(dir: &Path, args: &TrainArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    if !(0.01..=0.9).contains(&args.validation_fraction) {
        return Err(refused(
            format!(
                "--validation-fraction {} is out of range",
                args.validation_fraction
            ),
            "give a share from 0.01 to 0.9, e.g. 0.2",
        ));
    }
    let options = TrainOptions {
        validation_fraction: args.validation_fraction,
        ..TrainOptions::default()
    };
    let bar = crate::output::spinner(json, "{spinner} training `{prefix}`: {msg}  {elapsed}");
    bar.set_prefix(args.model.clone());
    bar.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let runtime = super::runtime()?;
    let result = runtime.block_on(train_model(
        &project,
        &args.model,
        &options,
        args.promote,
        &bar,
    ));
    bar.finish_and_clear();
    let artifact = result?;
    if json {
        print_json(&super::model::summary_json(&artifact));
    } else {
        let production = freshet_server::app::model_registry(&project)
            .production(&artifact.model)
            .ok()
            .flatten();
        print_text(&super::model::report(
            &artifact,
            started.elapsed(),
            production,
        ));
    }
    Ok(())
}
