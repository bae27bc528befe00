//! Reading files of events (CSV and JSON lines, gzip-compressed when the name ends in `.gz`; Parquet in
//! [`read_parquet`]) into
//! decoded rows, with every bad record kept, with its line number and original text, for the dead-letter
//! sink. A bad record never stops the file: good rows are never lost because of bad ones. Only problems
//! with the file itself (unreadable, a CSV header missing schema columns) end the read.

mod parquet;

pub use parquet::read_parquet;

use crate::decode::{DecodeError, RowDecoder};
use freshet_engine::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Text formats [`read_records`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

/// One record of a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Decoded, in schema order.
    Row {
        /// 1-based line (for CSV, of the record's first line).
        line: u64,
        /// The values.
        row: Vec<Value>,
    },
    /// Not decodable; destined for the dead-letter sink.
    Bad {
        /// 1-based line.
        line: u64,
        /// Why.
        error: DecodeError,
        /// The record as written (lossily UTF-8).
        original: String,
    },
}

/// Problems with the file as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file's columns cannot hold the schema (a CSV header or Parquet column missing or mistyped).
    #[error("{path}: {error}")]
    Header {
        /// The file.
        path: PathBuf,
        /// What is missing.
        error: DecodeError,
    },
}

/// Counts of what a read produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Decoded rows.
    pub rows: u64,
    /// Bad records.
    pub bad: u64,
}

impl ReadSummary {
    /// Counts one record.
    pub(crate) fn count(&mut self, record: &Record) {
        match record {
            Record::Row { .. } => self.rows += 1,
            Record::Bad { .. } => self.bad += 1,
        }
    }
}

fn open(path: &Path) -> Result<Box<dyn Read>, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let gzipped = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if gzipped {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

/// Reads every record of `path`, handing each to `each` in file order.
pub fn read_records(
    path: &Path,
    format: TextFormat,
    decoder: &RowDecoder,
    mut each: impl FnMut(Record),
) -> Result<ReadSummary, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut summary = ReadSummary::default();
    let mut emit = |record: Record| {
        summary.count(&record);
        each(record);
    };
    let reader = BufReader::with_capacity(1 << 20, open(path)?);
    match format {
        TextFormat::JsonLines => {
            for (i, line) in reader.split(b'\n').enumerate() {
                let line = line.map_err(io)?;
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let number = i as u64 + 1;
                emit(match decoder.json_object(line) {
                    Ok(row) => Record::Row { line: number, row },
                    Err(error) => Record::Bad {
                        line: number,
                        error,
                        original: String::from_utf8_lossy(line).into_owned(),
                    },
                });
            }
        }
        TextFormat::Csv => {
            let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
            let header = csv.headers().map_err(|e| io(e.into()))?.clone();
            let columns = decoder
                .csv_columns(&header)
                .map_err(|error| ReadError::Header {
                    path: path.to_path_buf(),
                    error,
                })?;
            let mut record = csv::StringRecord::new();
            loop {
                let line = csv.position().line();
                match csv.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => emit(match decoder.csv_record(&columns, &record) {
                        Ok(row) => Record::Row { line, row },
                        Err(error) => Record::Bad {
                            line,
                            error,
                            original: record.iter().collect::<Vec<_>>().join(","),
                        },
                    }),
                    // Invalid UTF-8 or a broken quote: that record is bad, the rest of the file goes on.
                    Err(e) if !e.is_io_error() => emit(Record::Bad {
                        line,
                        error: DecodeError {
                            field: None,
                            reason: format!("invalid CSV: {e}"),
                            help: None,
                        },
                        original: String::new(),
                    }),
                    Err(e) => return Err(io(e.into())),
                }
            }
        }
    }
    Ok(summary)
}
