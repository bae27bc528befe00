//! B5: predictions over HTTP, and training speed on 1,000,000 rows x 50 features.
//!
//! 1. The B1 project gains a label source and a 100-tree GBDT classifier over its 50 features, and
//!    the seeded rides events for 1,000,000 drivers are ingested (not timed).
//! 2. Training rows: each row is a random driver at a random instant of the last 7 days, its 50
//!    features read as of that instant through the engine (the point-in-time path), and a label drawn
//!    from a planted rule over three of them, so the fitted model has real signal to find. Building
//!    the rows is reported but is B3's subject; **training** is timed as `freshet train` runs it:
//!    time split, the GBDT fit, the linear baseline, and validation.
//! 3. The model is stored and promoted in the project's registry, every driver's record is written
//!    to the embedded store, and the feature server starts on one thread and loads the model.
//! 4. B5: `POST /predict` for one random driver, open-loop at each rate (see [`crate::http_load`]):
//!    the 50 features are read from the store and the 100 trees evaluated per request.
//!
//! Targets (PRODUCT.md section 8 and issue 7): B5 p99 <= 2 ms; training on 1M rows x 50 features in
//! under a minute.

use crate::b1::{Seeded, client_runtime, materialize, project_text, report, seed, serve};
use crate::http_load::{Load, server_side_line};
use freshet_engine::EntityKey;
use freshet_models::input::model_input;
use freshet_models::{Dataset, FeatureDefinition, ModelArtifact, Stage, TrainOptions};
use freshet_online::OnlineStore;
use rand::{RngExt, SeedableRng};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Distinct drivers.
    #[arg(long, default_value_t = 1_000_000)]
    entities: u64,
    /// Events (over 7 days).
    #[arg(long, default_value_t = 5_000_000)]
    events: u64,
    /// Labelled training rows.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// The model's algorithm: `gbdt` (the B5 model) or `linear` (to time the linear model on all rows).
    #[arg(long, default_value = "gbdt", value_parser = ["gbdt", "linear"])]
    algorithm: String,
    /// Trees in the model.
    #[arg(long, default_value_t = 100)]
    trees: u32,
    /// Their depth.
    #[arg(long, default_value_t = 5)]
    max_depth: u32,
    /// Seconds each load step runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Request rates to try (requests/s).
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    rates: Vec<u64>,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Server worker threads (the load generator runs on its own thread besides).
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
}

/// The label source and the model, added to the B1 project.
fn model_yaml(args: &Args) -> (String, String) {
    let source = "  - {name: labels, type: push, timestamp_field: event_time, schema: {driver_id: int64, event_time: timestamp, churned: int64}}\n".to_owned();
    let params = if args.algorithm == "gbdt" {
        format!("{{trees: {}, max_depth: {}}}", args.trees, args.max_depth)
    } else {
        "{}".to_owned()
    };
    let model = format!(
        "models:\n  - {{name: b5, feature_service: b1, label: {{source: labels, column: churned}}, algorithm: {}, params: {params}}}\n",
        args.algorithm
    );
    (source, model)
}

/// The body of a `/predict` request for the B5 model.
fn predict_body(ids: &str) -> String {
    format!(r#"{{"model": "b5", "entities": {{"driver_id": [{ids}]}}}}"#)
}

/// Mean and standard deviation of a column's present values.
fn moments(column: &[f64]) -> (f64, f64) {
    let present: Vec<f64> = column.iter().copied().filter(|x| !x.is_nan()).collect();
    let n = present.len().max(1) as f64;
    let mean = present.iter().sum::<f64>() / n;
    let variance = present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt().max(f64::MIN_POSITIVE))
}

/// `args.rows` labelled rows: a random driver at a random instant of the 7 days before `newest`,
/// its features as of then, and a label drawn from a planted logistic rule.
fn training_rows(seeded: &Seeded, features: &[FeatureDefinition], args: &Args) -> Dataset {
    const WEEK: i64 = 7 * 24 * 3_600 * 1_000_000;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed ^ 0xb5);
    let rows = args.rows;
    let mut values = vec![f64::NAN; rows * features.len()];
    let mut times = Vec::with_capacity(rows);
    for row in 0..rows {
        let driver = EntityKey::int(rng.random_range(1..=args.entities as i64));
        let at = seeded.newest - rng.random_range(0..WEEK);
        times.push(at);
        if let Ok(answer) = seeded.state.read(&driver, at, i64::MAX) {
            for (f, value) in answer.values.iter().enumerate() {
                values[f * rows + row] = model_input(value);
            }
        }
    }
    let position = |name: &str| features.iter().position(|f| f.feature == name).unwrap_or(0);
    let planted = [
        position("fare_count_7d"),
        position("fare_mean_24h"),
        position("distance_max_6h"),
    ];
    let columns: Vec<&[f64]> = planted
        .iter()
        .map(|&f| &values[f * rows..(f + 1) * rows])
        .collect();
    let scales: Vec<(f64, f64)> = columns.iter().map(|c| moments(c)).collect();
    let labels = (0..rows)
        .map(|row| {
            let z: Vec<f64> = columns
                .iter()
                .zip(&scales)
                .map(|(c, (mean, sd))| {
                    let x = (c[row] - mean) / sd;
                    if x.is_nan() { 0.0 } else { x }
                })
                .collect();
            let logit: f64 = 1.2 * z[0] - 0.8 * z[1] + 0.6 * z[0] * z[2];
            let p = 1.0 / (1.0 + (-logit).exp());
            f64::from(u8::from(rng.random::<f64>() < p))
        })
        .collect();
    Dataset {
        features: features.iter().map(FeatureDefinition::reference).collect(),
        values,
        labels,
        times,
    }
}

/// Trains the model on `data` as `freshet train` does, reporting each stage's time; returns the
/// artifact.
fn train(
    project: &freshet_project::Project,
    features: Vec<FeatureDefinition>,
    data: &Dataset,
) -> anyhow::Result<ModelArtifact> {
    let spec = project
        .spec
        .models
        .first()
        .ok_or_else(|| anyhow::anyhow!("the B5 project has no model"))?;
    let started = Instant::now();
    let mut stage_started = started;
    let mut stage = String::new();
    let mut progress = |next: Stage| {
        if !stage.is_empty() {
            report(&format!(
                "      {stage}: {:.1} s",
                stage_started.elapsed().as_secs_f64()
            ));
        }
        stage = match next {
            Stage::Fitting(rows) => format!("fitting the model on {rows} rows"),
            Stage::Baseline(rows) => format!("fitting the linear baseline on {rows} rows"),
            Stage::Evaluating(rows) => format!("scoring {rows} validation rows"),
        };
        stage_started = Instant::now();
    };
    let trained = freshet_models::train(spec, data, 0, &TrainOptions::default(), &mut progress)?;
    let seconds = started.elapsed().as_secs_f64();
    report(&format!(
        "B5t:  trained on {} rows x {} features in {seconds:.1} s (target < 60 s): {}",
        data.rows(),
        data.features.len(),
        trained.metrics
    ));
    if let Some(baseline) = &trained.baseline {
        report(&format!("      linear baseline: {baseline}"));
    }
    Ok(ModelArtifact::new(
        spec,
        features,
        trained,
        chrono::Utc::now().to_rfc3339(),
    ))
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (label_source, model) = model_yaml(args);
    let text = project_text("{type: embedded, path: online}", &label_source, &model);
    let seeded = seed(dir.path(), &text, args.entities, args.events, args.seed)?;
    let features = FeatureDefinition::of_service(&seeded.project, "b1")
        .ok_or_else(|| anyhow::anyhow!("the B5 project has no service b1"))?;

    let started = Instant::now();
    let data = training_rows(&seeded, &features, args);
    let positives = data.labels.iter().sum::<f64>() / data.rows() as f64;
    report(&format!(
        "rows: {} labelled rows read point-in-time in {:.1} s ({:.0}% positive; not timed below)",
        data.rows(),
        started.elapsed().as_secs_f64(),
        positives * 100.0
    ));
    let mut artifact = train(&seeded.project, features, &data)?;
    drop(data);
    let registry = freshet_server::model_registry(&seeded.project);
    let version = registry.save(&mut artifact)?;
    registry.promote("b5", version)?;

    let runtime = crate::b1::server_runtime(args.server_threads)?;
    let store = runtime.block_on(OnlineStore::open(&seeded.project))?;
    materialize(&runtime, &store, &seeded.state)?;
    let Seeded {
        project, newest, ..
    } = seeded;
    let (app, address) = serve(&runtime, &project, store, newest)?;
    if let Some((name, Err(reason))) = app.models().status().into_iter().next() {
        anyhow::bail!("model {name} did not load: {reason}");
    }
    let client = client_runtime()?;
    let predictions = |rate: u64, seconds: f64, seed: u64| Load {
        address,
        path: "/predict",
        rate,
        seconds,
        per_request: 1,
        entities: args.entities,
        seed,
        body: predict_body,
    };
    // Warm up connections and caches.
    client.block_on(predictions(1_000, 1.0, args.seed).run());
    let model = if args.algorithm == "gbdt" {
        format!("{} trees", args.trees)
    } else {
        "a linear model".to_owned()
    };
    for &rate in &args.rates {
        let step = client.block_on(predictions(rate, args.seconds, args.seed ^ rate).run());
        report(&format!(
            "B5:   1 entity x 50 features x {model} at {rate} req/s offered: {} (target p99 <= 2 ms)",
            step.summary()
        ));
        report(&server_side_line(&app.metrics.encode(), "/predict", rate));
    }
    Ok(())
}
