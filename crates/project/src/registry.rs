//! The registry: every applied version of the project, kept as an append-only directory of JSON files.
//!
//! `freshet apply` writes version N+1 as `vNNNNNN.json` under `<project>/.freshet/registry/`. The file is
//! written to a uniquely named temporary file, flushed to disk, then moved to its final name only if that
//! name is free (`tempfile`'s no-clobber persist). So a crash mid-write leaves at most a stray temporary
//! file (ignored), never a half-written version, and two concurrent applies cannot both claim the same
//! version number. Old versions are never rewritten: the directory is the history.

use crate::plan::Plan;
use crate::spec::ProjectSpec;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the registry lives, relative to the project directory.
pub const REGISTRY_DIR: &str = ".freshet/registry";

/// One applied version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedVersion {
    /// 1, 2, 3, ... in apply order.
    pub version: u64,
    /// When it was applied.
    pub applied_at: DateTime<Utc>,
    /// Whether breaking changes were forced through.
    pub forced: bool,
    /// SHA-256 of the spec's canonical JSON, to tell versions apart at a glance.
    pub fingerprint: String,
    /// One line per changed object, as `plan` showed it.
    pub summary: Vec<String>,
    /// The project as applied.
    pub spec: ProjectSpec,
}

/// Registry failures; each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file or directory could not be read or written.
    #[error("registry i/o on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A version file does not parse.
    #[error(
        "registry file {path} is corrupt ({reason}); restore it from a backup, or remove it and every later version to roll the history back"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another apply wrote the same version first.
    #[error("version {0} was applied concurrently by another process; run `freshet plan` again")]
    Conflict(u64),
}

/// The registry of one project.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The registry of the project in `project_dir` (nothing is read or created yet).
    pub fn for_project(project_dir: &Path) -> Registry {
        Registry {
            dir: project_dir.join(REGISTRY_DIR),
        }
    }

    /// The registry directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
        move |source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Version numbers present, ascending. Temporary files from interrupted applies are ignored.
    fn versions(&self) -> Result<Vec<u64>, RegistryError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io(&self.dir)(e)),
        };
        let mut versions = Vec::new();
        for entry in entries {
            let name = entry.map_err(Self::io(&self.dir))?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_prefix('v').and_then(|r| r.strip_suffix(".json"))
                && let Ok(v) = n.parse()
            {
                versions.push(v);
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    fn path_of(&self, version: u64) -> PathBuf {
        self.dir.join(format!("v{version:06}.json"))
    }

    fn read(&self, version: u64) -> Result<AppliedVersion, RegistryError> {
        let path = self.path_of(version);
        let text = fs::read_to_string(&path).map_err(Self::io(&path))?;
        let applied: AppliedVersion =
            serde_json::from_str(&text).map_err(|e| RegistryError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if applied.version != version {
            return Err(RegistryError::Corrupt {
                path,
                reason: format!("it says version {}", applied.version),
            });
        }
        Ok(applied)
    }

    /// The newest applied version, if any.
    pub fn latest(&self) -> Result<Option<AppliedVersion>, RegistryError> {
        self.versions()?.last().map(|v| self.read(*v)).transpose()
    }

    /// Every applied version, oldest first.
    pub fn history(&self) -> Result<Vec<AppliedVersion>, RegistryError> {
        self.versions()?.into_iter().map(|v| self.read(v)).collect()
    }

    /// Records `spec` as the next version, atomically. `plan` is the plan shown to the user.
    pub fn record(
        &self,
        spec: &ProjectSpec,
        plan: &Plan,
        forced: bool,
        now: DateTime<Utc>,
    ) -> Result<AppliedVersion, RegistryError> {
        fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let version = self.versions()?.last().map_or(1, |v| v + 1);
        let applied = AppliedVersion {
            version,
            applied_at: now,
            forced,
            fingerprint: fingerprint(spec),
            summary: plan
                .to_string()
                .lines()
                .filter(|l| !l.starts_with(' '))
                .map(str::to_owned)
                .collect(),
            spec: spec.clone(),
        };
        let json = serde_json::to_vec_pretty(&applied).map_err(|e| RegistryError::Corrupt {
            path: self.path_of(version),
            reason: format!("cannot encode: {e}"),
        })?;
        self.write_new(version, &json)?;
        Ok(applied)
    }

    /// Writes a new version file: staged in a uniquely named temporary file, flushed, then persisted
    /// under its final name only if that name is still free.
    fn write_new(&self, version: u64, bytes: &[u8]) -> Result<(), RegistryError> {
        let target = self.path_of(version);
        let mut staged = crate::files::stage_file(&self.dir).map_err(Self::io(&self.dir))?;
        staged.write_all(bytes).map_err(Self::io(staged.path()))?;
        staged.as_file().sync_all().map_err(Self::io(&target))?;
        match staged.persist_noclobber(&target) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RegistryError::Conflict(version));
            }
            Err(e) => return Err(Self::io(&target)(e.error)),
        }
        // Make the new directory entry durable too.
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(Self::io(&self.dir))
    }
}

/// SHA-256 of a spec's JSON, hex-encoded.
pub fn fingerprint(spec: &ProjectSpec) -> String {
    let json = serde_json::to_vec(spec).unwrap_or_default();
    Sha256::digest(&json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `applied_at` as shown to people.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
