//! Models: what freshet learns from its own point-in-time training sets, and what it serves.
//!
//! The crate is the pure middle of the model path. Callers (the CLI, the demo, the server) fetch
//! feature values with the same engine code online and offline; this crate turns them into model
//! inputs with one function ([`input::model_input`]), so training and serving read identical numbers.
//! It then splits labelled rows **by time** (every validation row is later than every training row),
//! fits gradient-boosted trees (`forust-ml`) or the linear baseline (`linfa`), measures both on the
//! validation rows, and writes a versioned [`ModelArtifact`] into the [`Registry`]: the fitted model
//! together with the exact feature definitions it was trained on, so a server can refuse a model whose
//! features have since changed meaning.
//!
//! Nothing here touches the network or the event log; the registry is plain files written atomically.

#![forbid(unsafe_code)]

pub mod artifact;
pub mod dataset;
pub mod estimator;
pub mod input;
mod linear;
pub mod metrics;
pub mod registry;
pub mod train;

pub use artifact::{FeatureDefinition, Mismatch, ModelArtifact};
pub use dataset::{Dataset, Split};
pub use estimator::Estimator;
pub use metrics::Evaluation;
pub use registry::{Registry, VersionInfo};
pub use train::{Stage, TrainOptions, Trained, train};

use std::path::PathBuf;

/// Why training, saving or loading a model failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not enough labelled rows to train and validate.
    #[error("model `{model}` has {rows} labelled rows; training needs at least {needed}")]
    TooFewRows {
        /// The model.
        model: String,
        /// Rows found.
        rows: usize,
        /// Rows needed.
        needed: usize,
    },
    /// Every label has the same value, so there is nothing to learn.
    #[error("model `{model}`: every {part} label is {value}; a classifier needs both classes")]
    OneClass {
        /// The model.
        model: String,
        /// `training` or `validation`.
        part: &'static str,
        /// The only value seen.
        value: f64,
    },
    /// The rows cannot be split by time.
    #[error(
        "model `{model}`: cannot split {rows} labelled rows by time ({reason}); labels must span several instants"
    )]
    Split {
        /// The model.
        model: String,
        /// Rows found.
        rows: usize,
        /// What went wrong.
        reason: String,
    },
    /// A feature a model cannot read.
    #[error("feature `{feature}` is {data_type}; models read numeric, bool and timestamp features")]
    UnsupportedFeature {
        /// `view:feature`.
        feature: String,
        /// Its output type.
        data_type: String,
    },
    /// The learning library refused the data.
    #[error("training {algorithm} failed: {reason}")]
    Fit {
        /// `gbdt` or `linear`.
        algorithm: &'static str,
        /// The library's message.
        reason: String,
    },
    /// A registry file could not be read or written.
    #[error("model registry at {path}: {reason}")]
    Registry {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// No such model or version in the registry.
    #[error("{0}")]
    Unknown(String),
    /// A row of inputs of the wrong width.
    #[error("model `{model}` reads {expected} features, got {got}")]
    Width {
        /// The model.
        model: String,
        /// Features it reads.
        expected: usize,
        /// Values given.
        got: usize,
    },
}
