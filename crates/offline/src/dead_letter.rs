//! Dead-letter files: the records an ingest refused, one JSON object per line, with the file, the row
//! (1-based line for text, row number for Parquet), the field at fault when one is, the reason and the
//! original record, so a user can fix the data and ingest the corrected rows as a new file.
//!
//! The file for a source file (or for a PostgreSQL source's relation) is rebuilt whole on every run that reads it, staged and renamed into
//! place, so it is never half-written and never holds a record twice.

use std::io::Write;
use std::path::{Path, PathBuf};

/// One refused record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// 1-based row (line) in the source file.
    pub row: u64,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// Why the record was refused.
    pub reason: String,
    /// The record as written (text formats) or as decoded, in JSON (Parquet).
    pub original: String,
}

impl DeadLetter {
    /// The letter for record `row` that could not be decoded.
    pub fn undecodable(
        row: u64,
        error: &freshet_sources::decode::DecodeError,
        original: String,
    ) -> DeadLetter {
        DeadLetter {
            row,
            field: error.field.clone(),
            reason: error.reason.clone(),
            original,
        }
    }
}

/// Failing to write the dead-letter file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the dead-letter file {path}: {source}; check that the directory is writable")]
pub struct DeadLetterError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Where the dead letters of one source file go.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    path: PathBuf,
    file: String,
}

#[derive(serde::Serialize)]
struct Line<'a> {
    file: &'a str,
    #[serde(flatten)]
    letter: &'a DeadLetter,
}

impl DeadLetters {
    /// `<offline>/dead-letter/<source>/<file name>.<first 12 hex digits of its SHA-256>.jsonl`.
    pub fn new(offline_root: &Path, source: &str, file: &Path, sha256: &str) -> DeadLetters {
        let name = file
            .file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
        let tag: String = sha256.chars().take(12).collect();
        DeadLetters {
            path: offline_root
                .join("dead-letter")
                .join(source)
                .join(format!("{name}.{tag}.jsonl")),
            file: file.display().to_string(),
        }
    }

    /// `<offline>/dead-letter/<source>/postgres.jsonl`: the refused rows of a PostgreSQL source, whose
    /// every run reads the whole relation and so rebuilds the whole file. `relation` names the table or
    /// query in each line.
    pub fn for_relation(offline_root: &Path, source: &str, relation: &str) -> DeadLetters {
        DeadLetters {
            path: offline_root
                .join("dead-letter")
                .join(source)
                .join("postgres.jsonl"),
            file: relation.to_owned(),
        }
    }

    /// The file, if an earlier run wrote one.
    pub fn existing(&self) -> Option<PathBuf> {
        self.path.is_file().then(|| self.path.clone())
    }

    /// Writes `letters` (removing any earlier file when there are none); returns the file written.
    pub fn write(&self, letters: &[DeadLetter]) -> Result<Option<PathBuf>, DeadLetterError> {
        let fail = |source| DeadLetterError {
            path: self.path.clone(),
            source,
        };
        if letters.is_empty() {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(fail(e)),
            }
            return Ok(None);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(fail)?;
        let mut staged = freshet_project::files::stage_file(dir).map_err(fail)?;
        {
            let mut out = std::io::BufWriter::new(staged.as_file_mut());
            for letter in letters {
                let line = Line {
                    file: &self.file,
                    letter,
                };
                serde_json::to_writer(&mut out, &line).map_err(|e| fail(e.into()))?;
                out.write_all(b"\n").map_err(fail)?;
            }
            out.flush().map_err(fail)?;
        }
        // On disk before the log's commit can record the file as ingested: a re-run skips a file
        // the log holds, so a dead-letter file lost with the machine would never be rebuilt.
        staged.as_file().sync_all().map_err(fail)?;
        staged.persist(&self.path).map_err(|e| fail(e.error))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
        Ok(Some(self.path.clone()))
    }
}
