//! `freshet demo`: the whole platform on embedded defaults, with no external service.
//!
//! It writes a project (a temporary one unless `--dir`), then does what a team would: `run` streams
//! the ride-hailing generator into the event log and the online store while serving; as soon as the
//! stream's history has poured in, labels are written from the generator's ground truth (did the
//! driver churn within a week of each daily observation?), the churn model is trained on them with
//! the point-in-time path, promoted, and loaded by the running server. From then on `/predict`
//! answers from live features. Training runs on a thread of its own, so the stream and the server
//! never wait for it.

use crate::cli::DemoArgs;
use crate::output::{Failure, print_json, print_text};
use arrow_array::{ArrayRef, BooleanArray, Int64Array, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, TimeUnit};
use freshet_models::{ModelArtifact, TrainOptions};
use freshet_project::Project;
use freshet_runtime::{RunOptions, Status};
use freshet_server::{AppState, Clock, ServerConfig};
use freshet_sources::generator::{RidesConfig, RidesGenerator};
use indicatif::{HumanCount, ProgressBar};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::train::refused;

const TEMPLATE: &str = include_str!("../../templates/demo.yaml");
const DAY: i64 = 86_400_000_000;
/// Simulated seconds per wall-clock second, as in the template.
const SPEEDUP: f64 = 3_600.0;
/// How far ahead a label looks, and how much feature history precedes the first label.
const HORIZON: i64 = 7 * DAY;

/// Where training stands, for the status line and the final report.
enum Training {
    Waiting,
    Done(Box<ModelArtifact>),
    Failed(String),
}

pub(crate) fn run(args: &DemoArgs, json: bool) -> Result<(), Failure> {
    let history: freshet_project::duration::Duration = args.history.parse().map_err(|_| {
        refused(
            format!("--history `{}` is not a duration", args.history),
            "write e.g. 21d",
        )
    })?;
    if history.micros() < 2 * HORIZON + DAY {
        return Err(refused(
            format!("--history {} is too short to learn churn", args.history),
            "give at least 15d: a week of features before the first label and a week of outcome after the last",
        ));
    }
    let (dir, _temporary) = project_dir(args)?;
    let text = TEMPLATE
        .replace("{{RATE}}", &args.rate.to_string())
        .replace("{{DRIVERS}}", &args.drivers.to_string())
        .replace("{{HISTORY}}", &args.history);
    std::fs::create_dir_all(dir.join("labels"))
        .and_then(|()| std::fs::write(dir.join(freshet_project::PROJECT_FILE), text))
        .map_err(|e| {
            refused(
                format!("cannot write the demo project in {}: {e}", dir.display()),
                "pick another --dir",
            )
        })?;
    let project = super::load(&dir)?;
    let outcome = stream_train_serve(&project, args, json)?;
    report(&dir, args, &outcome, json);
    Ok(())
}

/// The project directory, and the temporary directory to remove at the end (if not `--dir`).
fn project_dir(args: &DemoArgs) -> Result<(PathBuf, Option<tempfile::TempDir>), Failure> {
    match &args.dir {
        Some(dir) if dir.join(freshet_project::PROJECT_FILE).exists() => Err(refused(
            format!("{} already holds a project", dir.display()),
            "remove it, or pick another --dir",
        )),
        Some(dir) => Ok((dir.clone(), None)),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("freshet-demo-")
                .tempdir()
                .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

struct Outcome {
    status: Status,
    training: Training,
}

fn stream_train_serve(project: &Project, args: &DemoArgs, json: bool) -> Result<Outcome, Failure> {
    let clock = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_micros()));
    let config = ServerConfig {
        clock: Clock::Manual(clock.clone()),
        ..ServerConfig::default()
    };
    let options = RunOptions {
        duration: args.duration.map(Duration::from_secs_f64),
        checkpoint_interval: Duration::from_secs(5),
        ..RunOptions::default()
    };
    let bar = crate::output::spinner(json, "{spinner} {msg}");
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let store = super::serving::open_store(project).await?;
        let (listener, address) = super::serving::listen("127.0.0.1", args.port).await?;
        let state = Arc::new(AppState::new(project, store.clone(), config));
        let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(freshet_server::serve(listener, state.clone(), async {
            let _ = server_stopped.await;
        }));
        let say = |text: String| {
            if !json {
                bar.suspend(|| print_text(&format!("{text}\n")));
            }
        };
        say(format!(
            "freshet demo: ride-hailing driver churn on an accelerated clock (one simulated hour per second)\n  project  {}\n  serving  http://{address}\n  releasing {} of history, then training the churn model ...",
            project.dir.display(),
            args.history
        ));
        let latest = Arc::new(Mutex::new(Status::default()));
        let training = Arc::new(Mutex::new(Training::Waiting));
        let stopping = Arc::new(AtomicBool::new(false));
        let trainer = spawn_trainer(project, &state, &latest, &training, &stopping);
        let mut guided = false;
        let mut reported = Status::default();
        let started = Instant::now();
        let mut status = |s: Status| {
            super::serving::publish_status(&state.metrics, &reported, &s);
            if let Ok(mut l) = latest.lock() {
                *l = s.clone();
            }
            if !guided && let Ok(t) = training.lock() {
                match &*t {
                    Training::Done(a) => {
                        say(guide(a, &address.to_string(), started.elapsed()));
                        guided = true;
                    }
                    Training::Failed(e) => {
                        say(format!("training failed: {e}"));
                        guided = true;
                    }
                    Training::Waiting => {}
                }
            }
            bar.set_message(status_line(&s, &state));
            bar.tick();
            reported = s;
        };
        let outcome = freshet_runtime::run(
            project,
            &store,
            clock,
            &options,
            freshet_server::shutdown_signal(),
            &mut status,
        )
        .await;
        stopping.store(true, Ordering::Relaxed);
        let _ = stop_server.send(());
        let _ = server.await;
        let _ = tokio::task::spawn_blocking(move || trainer.join()).await;
        bar.finish_and_clear();
        let status = outcome.map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
        let training = std::mem::replace(
            &mut *training.lock().map_err(|_| Failure::Other(anyhow::anyhow!("the trainer panicked")))?,
            Training::Waiting,
        );
        Ok(Outcome { status, training })
    })
}

/// Events/s, stream time, freshness, predictions served and the p99 of recent requests.
fn status_line(s: &Status, state: &AppState) -> String {
    let at = chrono::DateTime::from_timestamp_micros(s.simulated_now)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M").to_string());
    let freshness = s.newest_event_time.map_or_else(
        || "-".to_owned(),
        |newest| {
            format!(
                "{:.2} s",
                (s.simulated_now - newest).max(0) as f64 / 1e6 / SPEEDUP
            )
        },
    );
    let p99 = state
        .metrics
        .recent_p99()
        .map_or_else(|| "-".to_owned(), |p| format!("{:.2} ms", p * 1e3));
    format!(
        "{} events ({:.0}/s)  stream time {at}  freshness {freshness}  {} predictions  p99 {p99}",
        HumanCount(s.events),
        s.events_per_second,
        HumanCount(state.metrics.predictions_served()),
    )
}

/// Waits for the history to be in, writes labels, trains, promotes and hands the model to the server.
fn spawn_trainer(
    project: &Project,
    state: &Arc<AppState>,
    latest: &Arc<Mutex<Status>>,
    training: &Arc<Mutex<Training>>,
    stopping: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let (project, state, latest, training, stopping) = (
        project.clone(),
        state.clone(),
        latest.clone(),
        training.clone(),
        stopping.clone(),
    );
    std::thread::spawn(move || {
        let status = loop {
            if stopping.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
            let s = latest.lock().map(|s| s.clone()).unwrap_or_default();
            if s.caught_up && s.events > 0 && !s.generator_starts.is_empty() {
                break s;
            }
        };
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                if let Ok(mut t) = training.lock() {
                    *t = Training::Failed(format!("no runtime to train on: {e}"));
                }
                return;
            }
        };
        let result = runtime.block_on(async {
            if !history_logged(&project, &status, &stopping).await? {
                return Ok(None);
            }
            write_labels(&project, &status)?;
            super::train::train_model(
                &project,
                "churn",
                &TrainOptions::default(),
                true,
                &ProgressBar::hidden(),
            )
            .await
            .map(Some)
        });
        let outcome = match result {
            // Stopped before the history was in the log, as when stopped before it was released.
            Ok(None) => return,
            Ok(Some(artifact)) => {
                state.reload_models(&project);
                Training::Done(Box::new(artifact))
            }
            Err(Failure::Refused { message, help }) => {
                Training::Failed(format!("{message} ({help})"))
            }
            Err(other) => Training::Failed(format!("{other:?}")),
        };
        if let Ok(mut t) = training.lock() {
            *t = outcome;
        }
    })
}

/// The demo project's `trips` generator source.
fn trips_source(project: &Project) -> Result<&freshet_project::spec::SourceSpec, Failure> {
    project
        .spec
        .sources
        .iter()
        .find(|s| s.name == "trips")
        .ok_or_else(|| {
            refused(
                "the demo project lost its `trips` source",
                "rerun `freshet demo`",
            )
        })
}

/// Waits until the event log holds every `trips` event the stream had released when `status` was
/// reported: the stream commits its log in the background (at most once a second), so the newest
/// events of a caught-up stream, up to a few hundred thousand of history, may still be on their way,
/// and a training set read before they land would miss them. False if the demo stops first.
async fn history_logged(
    project: &Project,
    status: &Status,
    stopping: &AtomicBool,
) -> Result<bool, Failure> {
    let released = status
        .positions
        .iter()
        .find(|(name, _)| name == "trips")
        .map_or(0, |(_, next)| *next);
    let source = trips_source(project)?;
    let root = freshet_offline::offline_root(project);
    let log_failed = |e: freshet_offline::LogError| Failure::Other(anyhow::Error::new(e));
    let mut log =
        freshet_offline::SourceLog::open(&root, "trips", &source.schema, &source.timestamp_field)
            .await
            .map_err(log_failed)?;
    let app_id = freshet_runtime::generator::app_id("trips");
    while !stopping.load(Ordering::Relaxed) {
        log.refresh().await.map_err(log_failed)?;
        let logged = log.transaction_version(&app_id).await.map_err(log_failed)?;
        if logged.is_some_and(|next| u64::try_from(next).unwrap_or(0) >= released) {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(false)
}

/// Daily churn labels, from a week into the history until a week before the stream's clock (later
/// observations have not seen their outcome yet), from the generator's ground truth.
fn write_labels(project: &Project, status: &Status) -> Result<usize, Failure> {
    let source = trips_source(project)?;
    let start = status
        .generator_starts
        .iter()
        .find(|(name, _)| name == "trips")
        .map(|(_, at)| *at)
        .ok_or_else(|| refused("the `trips` stream did not start", "rerun `freshet demo`"))?;
    let live = freshet_runtime::generator::live_config(source, start)
        .map_err(|e| refused(e, "rerun `freshet demo`"))?;
    let common = live.common();
    let generator = RidesGenerator::new(&RidesConfig::from(common.clone()))
        .map_err(|e| refused(e.to_string(), "see `freshet demo --help`"))?;
    let rows = generator.churn_labels(
        common.start_micros + HORIZON,
        status.simulated_now - HORIZON,
        DAY,
        HORIZON,
    );
    let columns: Vec<(Field, ArrayRef)> = vec![
        (
            Field::new("driver_id", DataType::Int64, false),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        ),
        (
            Field::new(
                "observed_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
        ),
        (
            Field::new("churned", DataType::Boolean, false),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.2)))),
        ),
    ];
    let path = project.dir.join("labels/churn.parquet");
    freshet_offline::training::write_parquet(&path, columns)
        .map_err(|e| refused(e.to_string(), "check the disk"))?;
    Ok(rows.len())
}

fn guide(a: &ModelArtifact, address: &str, took: Duration) -> String {
    let baseline = a
        .baseline
        .as_ref()
        .map_or_else(String::new, |b| format!("\n  linear baseline  {}", b));
    format!(
        "trained {} on {} labelled rows ({:.1} s after start)\n  validation       {}{baseline}\n\
         try:\n  curl -s {address}/get-online-features -d '{{\"feature_service\": \"churn_features\", \"entities\": {{\"driver_id\": [7]}}}}'\n  \
         curl -s {address}/predict -d '{{\"model\": \"churn\", \"entities\": {{\"driver_id\": [7, 8, 9]}}, \"return_features\": true}}'\n  \
         curl -s {address}/metrics | grep '^freshet_'\n\
         Ctrl-C stops.",
        a.label(),
        a.training.rows,
        took.as_secs_f64(),
        a.metrics,
    )
}

fn report(dir: &Path, args: &DemoArgs, outcome: &Outcome, json: bool) {
    let kept = args.dir.is_some();
    if json {
        let model = match &outcome.training {
            Training::Done(a) => super::model::summary_json(a),
            Training::Failed(e) => serde_json::json!({"error": e}),
            Training::Waiting => serde_json::Value::Null,
        };
        print_json(&serde_json::json!({
            "ok": !matches!(outcome.training, Training::Failed(_)),
            "project": if kept { serde_json::json!(dir) } else { serde_json::Value::Null },
            "run": outcome.status,
            "model": model,
        }));
        return;
    }
    let mut text = format!("stopped after {} events", HumanCount(outcome.status.events));
    match &outcome.training {
        Training::Done(a) => text.push_str(&format!("; served {}", a.label())),
        Training::Failed(e) => text.push_str(&format!("; training failed: {e}")),
        Training::Waiting => text.push_str("; stopped before the model was trained"),
    }
    if kept {
        text.push_str(&format!("\nthe project is kept in {}", dir.display()));
    }
    text.push('\n');
    print_text(&text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_offline::{LogRows, SourceLog, Transaction};
    use freshet_runtime::generator::app_id;

    async fn commit_position(log: &mut SourceLog, next: i64) {
        let transaction = Transaction::new(app_id("trips"), next);
        log.append(&LogRows::default(), vec![transaction])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn training_waits_until_the_log_holds_what_the_stream_released() {
        let dir = tempfile::tempdir().unwrap();
        let text = TEMPLATE
            .replace("{{RATE}}", "100")
            .replace("{{DRIVERS}}", "10")
            .replace("{{HISTORY}}", "21d");
        std::fs::write(dir.path().join(freshet_project::PROJECT_FILE), text).unwrap();
        let project = super::super::load(dir.path()).unwrap();
        let source = &project.spec.sources[0];
        let root = freshet_offline::offline_root(&project);
        let mut log = SourceLog::open(&root, "trips", &source.schema, &source.timestamp_field)
            .await
            .unwrap();
        commit_position(&mut log, 10).await;
        let released = |next| Status {
            positions: vec![("trips".to_owned(), next)],
            ..Status::default()
        };
        let (running, stopped) = (AtomicBool::new(false), AtomicBool::new(true));
        assert!(
            history_logged(&project, &released(10), &running)
                .await
                .unwrap()
        );
        // A stopping demo gives up waiting.
        assert!(
            !history_logged(&project, &released(11), &stopped)
                .await
                .unwrap()
        );
        // Released beyond what the log holds: it waits until another writer's commit lands.
        let ahead = released(11);
        let mut waiting = std::pin::pin!(history_logged(&project, &ahead, &running));
        let early = tokio::time::timeout(Duration::from_millis(600), &mut waiting).await;
        assert!(
            early.is_err(),
            "it returned before the log held position 11"
        );
        commit_position(&mut log, 11).await;
        let logged = tokio::time::timeout(Duration::from_secs(20), waiting)
            .await
            .expect("the wait sees the landed commit");
        assert!(logged.unwrap());
    }
}
