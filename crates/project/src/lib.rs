//! The freshet project model: `freshet.yaml` read, validated and resolved, plus the registry of applied
//! versions.
//!
//! Loading is a pipeline of separate phases, in the manner of ripgrep's raw-then-validated configuration:
//!
//! 1. `yaml` parses the text into a tree where every node knows its line and column;
//! 2. `raw` reads that tree for *shape* (mappings, lists, known keys), reporting unknown keys with a
//!    suggestion and `${VAR}` references that are not set;
//! 3. `validate` checks *meaning* (names, references, types, durations, SQL expressions) and produces
//!    a [`ProjectSpec`], the resolved model every other crate consumes, together with the compiled
//!    [`CompiledView`]s the engine evaluates.
//!
//! No phase stops at the first mistake: all problems come back at once as [`Diagnostics`], each with its
//! `file:line:column`, field path and fix. [`registry`] stores applied specs and [`plan`] compares them.

#![forbid(unsafe_code)]

pub mod diagnostic;
pub mod duration;
pub mod env;
pub mod files;
pub mod plan;
pub mod registry;
pub mod scenarios;
pub mod spec;
pub mod starter;

mod raw;
mod sql;
mod suggest;
mod validate;
mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, SourceFile};
pub use env::{Env, ProcessEnv, Templated};
pub use spec::ProjectSpec;

use spec::Field;
use std::path::{Path, PathBuf};

/// The project file's name inside a project directory.
pub const PROJECT_FILE: &str = "freshet.yaml";

/// A feature view ready for the engine: its row layout and the engine's definition of it.
///
/// A row handed to the engine is the source schema's columns in declaration order; the engine appends the
/// derived columns, so [`CompiledView::columns`] lists both, and every index in [`CompiledView::def`]
/// refers to that extended row.
#[derive(Debug, Clone)]
pub struct CompiledView {
    /// Source columns, then derived columns.
    pub columns: Vec<Field>,
    /// The definition every path (streaming, backfill, training sets) evaluates.
    pub def: freshet_engine::ViewDef,
}

/// A loaded, valid project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// The resolved model.
    pub spec: ProjectSpec,
    /// Compiled views, in the order of `spec.feature_views`.
    pub views: Vec<CompiledView>,
}

/// Why a project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The project file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The project file is invalid; every problem is listed.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Loads and validates `<dir>/freshet.yaml`.
pub fn load_project(dir: &Path, env: &dyn Env) -> Result<Project, LoadError> {
    let path = dir.join(PROJECT_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })?;
    let shown = if dir == Path::new(".") {
        PathBuf::from(PROJECT_FILE)
    } else {
        path
    };
    let file = SourceFile::new(shown.display().to_string(), text);
    let (spec, views) = parse_project(file, env).map_err(LoadError::Invalid)?;
    Ok(Project {
        dir: dir.to_path_buf(),
        spec,
        views,
    })
}

/// Validates project text; the pure core of [`load_project`], used directly by tests.
pub fn parse_project(
    file: SourceFile,
    env: &dyn Env,
) -> Result<(ProjectSpec, Vec<CompiledView>), Diagnostics> {
    let root = match yaml::parse(&file) {
        Ok(root) => root,
        Err(d) => return Err(Diagnostics::new(file, vec![d])),
    };
    let mut decoder = yaml::Decoder::new(&file, env);
    let raw = raw::decode(&mut decoder, &root);
    let diagnostics = std::mem::take(&mut decoder.diagnostics);
    validate::validate(raw, diagnostics).map_err(|items| Diagnostics::new(file, items))
}
