//! `freshet predict`: the production model from the shell, for a few entities (online features,
//! through the code `POST /predict` runs) or for every row of a spine file (point-in-time features,
//! through the code training runs), so batch scores and served scores can be compared.

use crate::cli::PredictArgs;
use crate::output::{Failure, print_json, print_text};
use arrow_array::{ArrayRef, Float64Array};
use arrow_schema::{DataType, Field};
use freshet_models::Dataset;
use freshet_offline::spine::Spine;
use freshet_offline::training::{answer_spine, spine_columns, write_parquet};
use freshet_server::Catalog;
use freshet_server::predict::{Models, PredictRequest, predict};
use std::path::Path;
use std::sync::Arc;

use super::train::refused;

pub(crate) fn run(dir: &Path, args: &PredictArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    super::train::model_spec(&project, &args.model)?;
    let catalog = Catalog::new(&project);
    let models = Models::load(
        &project,
        &catalog,
        &freshet_server::app::model_registry(&project),
    );
    let model = models.get(&args.model).map_err(|e| {
        refused(
            e.message,
            "train and promote a version whose features match the project",
        )
    })?;
    let runtime = super::runtime()?;
    match (&args.spine, args.entity.is_empty()) {
        (Some(spine), true) => {
            let Some(out) = &args.out else {
                return Err(refused(
                    "--spine needs --out FILE.parquet",
                    "name where the scores go, e.g. --out scores.parquet",
                ));
            };
            runtime.block_on(batch(&project, &model, spine, args, out, json))
        }
        (None, false) => runtime.block_on(online(&project, &catalog, &model, args, json)),
        _ => Err(refused(
            "give either --entity NAME=VALUE (online) or --spine FILE (batch)",
            "see `freshet predict --help`",
        )),
    }
}

async fn online(
    project: &freshet_project::Project,
    catalog: &Catalog,
    model: &freshet_server::predict::ServedModel,
    args: &PredictArgs,
    json: bool,
) -> Result<(), Failure> {
    let entities = super::get::entities(&args.entity)?;
    let mut features = serde_json::Map::new();
    for pair in &args.set {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(refused(
                format!("--set `{pair}` is not view:feature=value"),
                "write e.g. --set driver_trips:trips_24h=0",
            ));
        };
        let value: serde_json::Value = serde_json::from_str(value).map_err(|_| {
            refused(
                format!("--set `{pair}`: `{value}` is not a number, true, false or null"),
                "write e.g. --set driver_trips:trips_24h=0",
            )
        })?;
        features.insert(name.to_owned(), serde_json::Value::Array(vec![value]));
    }
    let now = match &args.at {
        Some(at) => super::parse_instant("--at", at)?,
        None => chrono::Utc::now().timestamp_micros(),
    };
    let request = PredictRequest {
        model: args.model.clone(),
        entities,
        features,
        return_features: true,
    };
    let store = super::serving::open_store(project).await?;
    let answer = predict(catalog, &store, model, &request, now)
        .await
        .map_err(|e| {
            refused(
                e.message,
                "check the entity's join keys and the online store",
            )
        })?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    let mut text = format!(
        "{} v{}: {}\n",
        answer.model,
        answer.version,
        answer.predictions.first().copied().unwrap_or(f64::NAN)
    );
    if let Some(used) = &answer.features {
        let width = used.names.iter().map(String::len).max().unwrap_or(0);
        for (i, name) in used.names.iter().enumerate() {
            let value = used
                .values
                .first()
                .and_then(|row| row[i])
                .map_or_else(|| "missing".to_owned(), |v| v.to_string());
            text.push_str(&format!("  {name:<width$}  {value}\n"));
        }
    }
    print_text(&text);
    Ok(())
}

async fn batch(
    project: &freshet_project::Project,
    model: &Arc<freshet_server::predict::ServedModel>,
    spine_path: &Path,
    args: &PredictArgs,
    out: &Path,
    json: bool,
) -> Result<(), Failure> {
    let offline = |e: freshet_offline::training::TrainingError| {
        refused(
            e.to_string(),
            "fix the spine file, or the flags that describe it",
        )
    };
    let artifact = &model.artifact;
    let features = &artifact.features;
    let keys: Vec<&str> = project
        .spec
        .entities
        .iter()
        .flat_map(|e| e.join_keys.iter().map(String::as_str))
        .collect();
    let (spine, time_column) =
        Spine::read_timed(spine_path, &keys, args.timestamp_column.as_deref())
            .map_err(|e| offline(e.into()))?;
    let refs = super::train::feature_refs(features);
    let answers = answer_spine(project, &refs, &spine, &time_column, false)
        .await
        .map_err(offline)?;
    let keep: Vec<usize> = (0..spine.rows()).collect();
    let dataset = Dataset {
        features: features
            .iter()
            .map(freshet_models::FeatureDefinition::reference)
            .collect(),
        values: super::train::model_inputs(&answers, features, &keep)?,
        labels: vec![f64::NAN; keep.len()],
        times: answers.times.clone(),
    };
    let predictions = artifact.estimator.predict(&dataset);
    let mut columns = spine_columns(&spine, out).map_err(offline)?;
    for (f, name) in dataset.features.iter().enumerate() {
        let values: ArrayRef = Arc::new(Float64Array::from_iter(
            dataset
                .column(f)
                .iter()
                .map(|v| (!v.is_nan()).then_some(*v)),
        ));
        columns.push((
            Field::new(name.replace(':', "__"), DataType::Float64, true),
            values,
        ));
    }
    columns.push((
        Field::new("prediction", DataType::Float64, false),
        Arc::new(Float64Array::from(predictions)),
    ));
    write_parquet(out, columns).map_err(offline)?;
    if json {
        print_json(&serde_json::json!({
            "model": artifact.model, "version": artifact.version,
            "rows": keep.len(), "out": out,
        }));
    } else {
        print_text(&format!(
            "scored {} rows with {} into {}\n",
            keep.len(),
            artifact.label(),
            out.display()
        ));
    }
    Ok(())
}
