//! Ingesting a file source (Parquet, CSV, JSON lines).
//!
//! A file is identified by the SHA-256 of its content, not its name, and committed in chunks of a fixed
//! number of records. Each chunk's commit records, as Delta application transactions,
//! `freshet/file/<sha>` = `file number << 32 | chunks done` (with [`DONE`] set on the last) and
//! `freshet/files` = the highest file number handed out. So:
//! - ingesting the same file again (under any name) adds nothing;
//! - an ingest killed part-way resumes after the last committed chunk, with the same file number and so
//!   the same positions. Each commit also records the run's chunk size (`freshet/file/<sha>/chunk-records`),
//!   and a resumed run keeps it whatever `--chunk-records` it is given: chunk boundaries then depend
//!   only on the file, so nothing lands twice and nothing is skipped;
//! - records that fail decoding or the checks of a view fed by the source go to a dead-letter file
//!   (row, reason, field, original record), rebuilt whole on every run, so it is never half-written.
//!
//! Decoding runs on a blocking thread and hands full chunks to the async committer over a bounded
//! channel: the two overlap, and memory stays at two chunks.

use super::{
    IngestError, IngestOptions, Progress, field_index, ingest_time_of, original_text, refusal,
};
use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::layout::{MAX_FILE_NUMBER, file_position};
use crate::log::{LogError, LogRows, SourceLog};
use deltalake::kernel::Transaction;
use freshet_engine::ViewDef;
use freshet_project::spec::{Connector, FileFormat, SourceSpec};
use freshet_sources::decode::RowDecoder;
use freshet_sources::read::{ReadError, Record, TextFormat, read_parquet, read_records};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Set in a file's transaction version once its last chunk has landed.
pub const DONE: i64 = 1 << 31;
/// Application id holding the highest file number handed out.
const FILES_APP_ID: &str = "freshet/files";

/// What ingesting one file did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// SHA-256 of its content, hex.
    pub sha256: String,
    /// Records read (good and bad).
    pub records: u64,
    /// Events added to the log by this run.
    pub added: u64,
    /// Records refused, written to the dead-letter file.
    pub rejected: u64,
    /// Records of chunks an earlier, interrupted run had already committed.
    pub resumed_after: u64,
    /// The whole file was already in the log: nothing was read or added.
    pub already_logged: bool,
    /// The dead-letter file, when there were bad records.
    pub dead_letter: Option<PathBuf>,
}

/// The files a file source's `path` names (a file, a directory's files, or a glob), sorted by name.
pub fn source_files(project_dir: &Path, source: &SourceSpec) -> Result<Vec<PathBuf>, IngestError> {
    let Connector::File { path, .. } = &source.connector else {
        return Err(IngestError::NotABatchSource {
            source_name: source.name.clone(),
            kind: source.connector.kind(),
        });
    };
    let pattern = project_dir.join(path.resolved());
    let text = pattern.to_string_lossy().into_owned();
    let bad_pattern = |reason: String| IngestError::Pattern {
        source_name: source.name.clone(),
        pattern: path.template().to_owned(),
        reason,
    };
    let mut files: Vec<PathBuf> = if pattern.is_dir() {
        std::fs::read_dir(&pattern)
            .map_err(|e| bad_pattern(e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && !is_hidden(p))
            .collect()
    } else if text.contains(['*', '?', '[']) {
        glob::glob(&text)
            .map_err(|e| bad_pattern(e.to_string()))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    } else if pattern.is_file() {
        vec![pattern]
    } else {
        Vec::new()
    };
    files.sort();
    if files.is_empty() {
        return Err(IngestError::NoFiles {
            source_name: source.name.clone(),
            pattern: path.template().to_owned(),
        });
    }
    Ok(files)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn sha256_of(path: &Path) -> Result<String, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Everything a decoding thread needs to turn a file into chunks of accepted events.
struct Decoding {
    source: SourceSpec,
    path: PathBuf,
    format: FileFormat,
    decoder: RowDecoder,
    views: Vec<ViewDef>,
    timestamp_column: usize,
    ingest_time_column: Option<usize>,
    file_number: u64,
    chunk_records: u64,
}

/// One chunk of a file: its number, its accepted events and its refused records.
struct Chunk {
    index: u64,
    records: u64,
    rows: LogRows,
}

impl Decoding {
    /// Reads the file, sending each full chunk through `send`; returns the dead letters.
    fn run(
        &self,
        mut send: impl FnMut(Chunk) -> bool,
        mut progress: impl FnMut(u64),
    ) -> Result<(u64, Vec<DeadLetter>), ReadError> {
        let mut chunk = Chunk {
            index: 0,
            records: 0,
            rows: LogRows::default(),
        };
        let mut dead = Vec::new();
        let mut records = 0u64;
        let mut stopped = false;
        let mut each = |record: Record| {
            if stopped {
                return;
            }
            records += 1;
            chunk.records += 1;
            match record {
                Record::Row { line, row } => match refusal(&self.source, &self.views, &row) {
                    Some(letter) => dead.push(DeadLetter {
                        row: line,
                        original: original_text(self.decoder.fields(), &row),
                        ..letter
                    }),
                    None => {
                        let ingest_time =
                            ingest_time_of(&row, self.timestamp_column, self.ingest_time_column);
                        let position = file_position(self.file_number, line);
                        chunk.rows.push(row, ingest_time, position);
                    }
                },
                Record::Bad {
                    line,
                    error,
                    original,
                } => dead.push(DeadLetter::undecodable(line, &error, original)),
            }
            if chunk.records == self.chunk_records {
                progress(records);
                let next = Chunk {
                    index: chunk.index + 1,
                    records: 0,
                    rows: LogRows::default(),
                };
                stopped = !send(std::mem::replace(&mut chunk, next));
            }
        };
        match self.format {
            FileFormat::Parquet => read_parquet(&self.path, &self.decoder, &mut each)?,
            FileFormat::Csv => read_records(&self.path, TextFormat::Csv, &self.decoder, &mut each)?,
            FileFormat::JsonLines => {
                read_records(&self.path, TextFormat::JsonLines, &self.decoder, &mut each)?
            }
        };
        progress(records);
        // The last chunk, possibly empty, carries the DONE mark.
        if !stopped {
            send(chunk);
        }
        Ok((records, dead))
    }
}

/// Ingests every file of `source` into its log. `views` are the engine definitions of the feature
/// views the source feeds: a record they would refuse is refused here, so the log holds only events.
pub async fn ingest_source(
    log: &mut SourceLog,
    project_dir: &Path,
    offline_root: &Path,
    source: &SourceSpec,
    views: &[ViewDef],
    options: &IngestOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<FileReport>, IngestError> {
    let Connector::File { format, .. } = &source.connector else {
        return Err(IngestError::NotABatchSource {
            source_name: source.name.clone(),
            kind: source.connector.kind(),
        });
    };
    let mut reports = Vec::new();
    for path in source_files(project_dir, source)? {
        let target = Target {
            offline_root,
            source,
            views,
            options,
        };
        let report = ingest_file(log, &path, *format, &target, progress).await?;
        reports.push(report);
    }
    Ok(reports)
}

/// What every file of one ingest shares.
struct Target<'a> {
    offline_root: &'a Path,
    source: &'a SourceSpec,
    views: &'a [ViewDef],
    options: &'a IngestOptions,
}

async fn ingest_file(
    log: &mut SourceLog,
    path: &Path,
    format: FileFormat,
    target: &Target<'_>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<FileReport, IngestError> {
    let Target {
        offline_root,
        source,
        views,
        options,
    } = *target;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    progress(Progress::File { bytes });
    let sha = sha256_of(path)?;
    let app_id = format!("freshet/file/{sha}");
    log.refresh().await?;
    let mut report = FileReport {
        path: path.to_path_buf(),
        sha256: sha.clone(),
        records: 0,
        added: 0,
        rejected: 0,
        resumed_after: 0,
        already_logged: false,
        dead_letter: None,
    };
    let dead_letters = DeadLetters::new(offline_root, &source.name, path, &sha);
    let recorded = log.transaction_version(&app_id).await?;
    if recorded.is_some_and(|v| v & DONE != 0) {
        report.already_logged = true;
        report.dead_letter = dead_letters.existing();
        return Ok(report);
    }
    let chunk_size_id = chunk_size_app_id(&app_id);
    let given = options.chunk_records.max(1);
    let (file_number, chunks_done, chunk_records) = match recorded {
        Some(v) => {
            // Logs written before the chunk size was recorded resume with the size given, as then.
            let recorded_size = log.transaction_version(&chunk_size_id).await?;
            let size = recorded_size.map_or(given, |n| (n as u64).max(1));
            ((v >> 32) as u64, (v & (DONE - 1)) as u64, size)
        }
        None => {
            let highest = log.transaction_version(FILES_APP_ID).await?.unwrap_or(0);
            let next = highest as u64 + 1;
            if next > MAX_FILE_NUMBER {
                return Err(IngestError::TooManyFiles(source.name.clone()));
            }
            (next, 0, given)
        }
    };
    if chunks_done > 0 && chunk_records != given {
        tracing::info!(
            file = %path.display(),
            chunk_records,
            "resuming in the interrupted run's chunks, not the size given"
        );
    }
    let commit = ChunkCommit {
        app_id: &app_id,
        chunk_size_id: &chunk_size_id,
        file_number,
        chunk_records,
    };
    let decoding = Decoding {
        source: source.clone(),
        path: path.to_path_buf(),
        format,
        decoder: RowDecoder::for_source(source),
        views: views.to_vec(),
        timestamp_column: field_index(source, &source.timestamp_field),
        ingest_time_column: source
            .ingest_time_field
            .as_deref()
            .map(|f| field_index(source, f)),
        file_number,
        chunk_records,
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Chunk>(1);
    let (progress_sender, mut progress_receiver) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let reader = tokio::task::spawn_blocking(move || {
        decoding.run(
            |chunk| sender.blocking_send(chunk).is_ok(),
            |n| {
                let _ = progress_sender.send(n);
            },
        )
    });
    // The last chunk marks the file done, after which a re-run skips it: it is committed only once
    // the dead-letter file is on disk, so no crash can leave a file logged without its dead letters.
    let mut failure = None;
    let mut last_chunk = None;
    loop {
        tokio::select! {
            Some(n) = progress_receiver.recv() => progress(Progress::Records(n)),
            chunk = receiver.recv() => {
                let Some(chunk) = chunk else { break };
                if chunk.index < chunks_done {
                    report.resumed_after += chunk.records;
                    continue;
                }
                if chunk.records < chunk_records {
                    last_chunk = Some(chunk);
                    break;
                }
                let transactions = commit.transactions(chunk.index, false);
                match log.append(&chunk.rows, transactions).await {
                    Ok(_) => report.added += chunk.rows.len() as u64,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
    }
    drop(receiver);
    while let Ok(n) = progress_receiver.try_recv() {
        progress(Progress::Records(n));
    }
    let decoded = reader.await.map_err(|e| LogError::Io {
        dir: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    let (records, dead) = decoded?;
    report.records = records;
    report.rejected = dead.len() as u64;
    report.dead_letter = dead_letters.write(&dead)?;
    if let Some(chunk) = last_chunk {
        let transactions = commit.transactions(chunk.index, true);
        log.append(&chunk.rows, transactions).await?;
        report.added += chunk.rows.len() as u64;
    }
    Ok(report)
}

/// The application id recording the chunk size of the file whose progress is under `app_id`.
fn chunk_size_app_id(app_id: &str) -> String {
    format!("{app_id}/chunk-records")
}

/// What each chunk commit of one file records beside its events.
struct ChunkCommit<'a> {
    app_id: &'a str,
    chunk_size_id: &'a str,
    file_number: u64,
    chunk_records: u64,
}

impl ChunkCommit<'_> {
    /// The application transactions of chunk `index`: the file's progress (chunks done, with
    /// [`DONE`] on the last), the chunk size that progress counts in, and the highest file number
    /// handed out.
    fn transactions(&self, index: u64, last: bool) -> Vec<Transaction> {
        let done = if last { DONE } else { 0 };
        let version = ((self.file_number as i64) << 32) | done | (index as i64 + 1);
        vec![
            Transaction::new(self.app_id, version),
            Transaction::new(self.chunk_size_id, self.chunk_records as i64),
            Transaction::new(FILES_APP_ID, self.file_number as i64),
        ]
    }
}
