//! The model registry: versioned artifacts and the production pointer, as plain files.
//!
//! Layout under the registry root (`<offline store>/models`, so it travels with training sets):
//! `<model>/v<N>.json` holds version N's [`ModelArtifact`]; `<model>/production.json` names the version
//! serving and, newest last, the versions that served before it, which is what rollback pops. Every
//! file is written beside its destination and renamed (or hard-linked, for new versions, which must
//! never overwrite) into place, so a crash leaves either the old state or the new one. Two trainers
//! racing for the same version number cannot both win: the loser takes the next number.

use crate::ModelError;
use crate::artifact::ModelArtifact;
use crate::metrics::Evaluation;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A model registry rooted at a directory.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

/// One stored version, without its estimator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Version number.
    pub version: u32,
    /// When it was trained.
    pub created_at: String,
    /// Validation metrics.
    pub metrics: Evaluation,
    /// Labelled rows trained and validated on.
    pub rows: usize,
    /// Fingerprint of those rows.
    pub fingerprint: String,
    /// Whether it is the production version.
    pub production: bool,
}

/// `production.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Production {
    version: Option<u32>,
    previous: Vec<u32>,
}

/// The parts of an artifact a listing needs; the estimator is skipped unparsed.
#[derive(Deserialize)]
struct Summary {
    version: u32,
    created_at: String,
    metrics: Evaluation,
    training: crate::artifact::TrainingSummary,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Registry {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl Registry {
    /// The registry at `root` (created on first save).
    pub fn new(root: impl Into<PathBuf>) -> Registry {
        Registry { root: root.into() }
    }

    fn dir(&self, model: &str) -> PathBuf {
        self.root.join(model)
    }

    fn version_path(&self, model: &str, version: u32) -> PathBuf {
        self.dir(model).join(format!("v{version}.json"))
    }

    /// Version numbers stored for `model`, ascending.
    pub fn version_numbers(&self, model: &str) -> Result<Vec<u32>, ModelError> {
        let dir = self.dir(model);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&dir, e)),
        };
        let mut versions: Vec<u32> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix('v')?.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Stores `artifact` as the next version of its model and returns the number.
    pub fn save(&self, artifact: &mut ModelArtifact) -> Result<u32, ModelError> {
        let dir = self.dir(&artifact.model);
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let mut version = self
            .version_numbers(&artifact.model)?
            .last()
            .map_or(1, |v| v + 1);
        loop {
            artifact.version = version;
            let bytes = serde_json::to_vec(artifact).map_err(|e| io_error(&dir, e))?;
            let staged = freshet_project::files::stage_file(&dir).map_err(|e| io_error(&dir, e))?;
            std::fs::write(staged.path(), &bytes).map_err(|e| io_error(staged.path(), e))?;
            let target = self.version_path(&artifact.model, version);
            // A hard link fails when the name exists, so a concurrent save never overwrites.
            match std::fs::hard_link(staged.path(), &target) {
                Ok(()) => return Ok(version),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => version += 1,
                Err(e) => return Err(io_error(&target, e)),
            }
        }
    }

    /// Loads one version.
    pub fn load(&self, model: &str, version: u32) -> Result<ModelArtifact, ModelError> {
        let path = self.version_path(model, version);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.unknown(model, version));
            }
            Err(e) => return Err(io_error(&path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| io_error(&path, e))
    }

    fn unknown(&self, model: &str, version: u32) -> ModelError {
        let available = self
            .version_numbers(model)
            .unwrap_or_default()
            .iter()
            .map(|v| format!("v{v}"))
            .collect::<Vec<_>>();
        ModelError::Unknown(if available.is_empty() {
            format!(
                "model `{model}` has no trained versions; train one with `freshet train --model {model}`"
            )
        } else {
            format!(
                "model `{model}` has no version v{version}; it has {}",
                available.join(", ")
            )
        })
    }

    /// Every version, oldest first, with its metrics.
    pub fn versions(&self, model: &str) -> Result<Vec<VersionInfo>, ModelError> {
        let production = self.read_production(model)?.version;
        self.version_numbers(model)?
            .into_iter()
            .map(|v| {
                let path = self.version_path(model, v);
                let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
                let s: Summary = serde_json::from_slice(&bytes).map_err(|e| io_error(&path, e))?;
                Ok(VersionInfo {
                    version: s.version,
                    created_at: s.created_at,
                    metrics: s.metrics,
                    rows: s.training.rows,
                    fingerprint: s.training.fingerprint,
                    production: production == Some(s.version),
                })
            })
            .collect()
    }

    fn production_path(&self, model: &str) -> PathBuf {
        self.dir(model).join("production.json")
    }

    fn read_production(&self, model: &str) -> Result<Production, ModelError> {
        let path = self.production_path(model);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io_error(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Production::default()),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    fn write_production(&self, model: &str, state: &Production) -> Result<(), ModelError> {
        let dir = self.dir(model);
        let path = self.production_path(model);
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| io_error(&path, e))?;
        let staged = freshet_project::files::stage_file(&dir).map_err(|e| io_error(&dir, e))?;
        std::fs::write(staged.path(), bytes).map_err(|e| io_error(staged.path(), e))?;
        staged
            .persist(&path)
            .map_err(|e| io_error(&path, e.error))?;
        Ok(())
    }

    /// The production version of `model`, if one was promoted.
    pub fn production(&self, model: &str) -> Result<Option<u32>, ModelError> {
        Ok(self.read_production(model)?.version)
    }

    /// Makes `version` the production version; the one it replaces is remembered for rollback.
    pub fn promote(&self, model: &str, version: u32) -> Result<(), ModelError> {
        if !self.version_path(model, version).exists() {
            return Err(self.unknown(model, version));
        }
        let mut state = self.read_production(model)?;
        if state.version == Some(version) {
            return Ok(());
        }
        if let Some(current) = state.version {
            state.previous.push(current);
        }
        state.version = Some(version);
        self.write_production(model, &state)
    }

    /// Returns production to the version it had before the last promotion; returns that version.
    pub fn rollback(&self, model: &str) -> Result<u32, ModelError> {
        let mut state = self.read_production(model)?;
        let Some(previous) = state.previous.pop() else {
            return Err(ModelError::Unknown(format!(
                "model `{model}` has no earlier production version to roll back to; promote one with `freshet model promote {model} VERSION`"
            )));
        };
        state.version = Some(previous);
        self.write_production(model, &state)?;
        Ok(previous)
    }

    /// The production artifact of `model`, if one was promoted.
    pub fn load_production(&self, model: &str) -> Result<Option<ModelArtifact>, ModelError> {
        match self.production(model)? {
            Some(v) => self.load(model, v).map(Some),
            None => Ok(None),
        }
    }
}
