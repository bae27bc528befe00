//! Dead letters of a stream: the records of one Kafka partition that could not be decoded or
//! validated, appended to `<offline>/dead-letter/<source>/partition-<p>.jsonl`, one JSON object per
//! line with the topic, partition, offset, record timestamp, key, the field at fault, the reason and
//! the original bytes (`original` when they are UTF-8, else `original_base64`). A `postgres_cdc`
//! source writes the same lines with the table as topic, partition 0, its transaction's commit
//! end LSN as offset and the row's place in the transaction as `change`.
//!
//! Replays after a crash must not write a record twice: on open the file's highest (offset, change)
//! is read back (a torn last line from a crash is cut off first), and records at or below it are
//! skipped.

use base64::Engine as _;
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};

/// A record the stream refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) reason: String,
    pub(crate) field: Option<String>,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Vec<u8>,
    pub(crate) timestamp_millis: Option<i64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    topic: String,
    partition: i32,
    offset: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    change: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    timestamp_millis: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    field: Option<String>,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    original: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    original_base64: Option<String>,
}

/// Failing to write a dead letter stops the run: dropping it silently would lose the record.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the dead-letter file {path}: {source}; check that the directory is writable")]
pub struct DeadLetterError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// The dead-letter file of one partition.
#[derive(Debug)]
pub(crate) struct PartitionDeadLetters {
    path: PathBuf,
    topic: String,
    partition: i32,
    /// Records below this (offset, change) are in the file already.
    next: (i64, u64),
}

impl PartitionDeadLetters {
    pub(crate) fn open(
        offline_root: &Path,
        source: &str,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionDeadLetters, DeadLetterError> {
        let path = offline_root
            .join("dead-letter")
            .join(source)
            .join(format!("partition-{partition}.jsonl"));
        let next = recover(&path).map_err(|source| DeadLetterError {
            path: path.clone(),
            source,
        })?;
        Ok(PartitionDeadLetters {
            path,
            topic: topic.to_owned(),
            partition,
            next,
        })
    }

    /// Appends the records not yet written; returns how many were new.
    pub(crate) fn append(&mut self, refused: &[(i64, &Refused)]) -> Result<usize, DeadLetterError> {
        let keyed: Vec<((i64, Option<u64>), &Refused)> =
            refused.iter().map(|(o, r)| ((*o, None), *r)).collect();
        self.append_keyed(&keyed)
    }

    /// Appends the records not yet written, each at an offset and, within it, a change number;
    /// returns how many were new.
    pub(crate) fn append_keyed(
        &mut self,
        refused: &[((i64, Option<u64>), &Refused)],
    ) -> Result<usize, DeadLetterError> {
        let fail = |source| DeadLetterError {
            path: self.path.clone(),
            source,
        };
        let mut text = Vec::new();
        let mut written = 0;
        let from = self.next;
        for ((offset, change), r) in refused
            .iter()
            .filter(|((o, c), _)| (*o, c.unwrap_or(0)) >= from)
        {
            let (original, original_base64) = match std::str::from_utf8(&r.payload) {
                Ok(s) => (Some(s.to_owned()), None),
                Err(_) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(&r.payload)),
                ),
            };
            let line = Line {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: *offset,
                change: *change,
                timestamp_millis: r.timestamp_millis,
                key: r
                    .key
                    .as_ref()
                    .map(|k| String::from_utf8_lossy(k).into_owned()),
                field: r.field.clone(),
                reason: r.reason.clone(),
                original,
                original_base64,
            };
            serde_json::to_writer(&mut text, &line).map_err(|e| fail(e.into()))?;
            text.push(b'\n');
            self.next = after(*offset, *change);
            written += 1;
        }
        if written > 0 {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(fail)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(fail)?;
            file.write_all(&text).map_err(fail)?;
            file.sync_data().map_err(fail)?;
        }
        Ok(written)
    }
}

/// The first key after the record at `offset` and `change`.
fn after(offset: i64, change: Option<u64>) -> (i64, u64) {
    match change {
        None => (offset + 1, 0),
        Some(c) => (offset, c + 1),
    }
}

/// Cuts a torn last line off the file and returns the key after its last record.
fn recover(path: &Path) -> std::io::Result<(i64, u64)> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut whole = 0u64;
    let mut next = (0, 0);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(l) => next = next.max(after(l.offset, l.change)),
            Err(_) => break,
        }
        whole += n as u64;
    }
    let mut file = reader.into_inner();
    if file.seek(std::io::SeekFrom::End(0))? != whole {
        file.set_len(whole)?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(payload: &[u8]) -> Refused {
        Refused {
            reason: "bad".into(),
            field: None,
            key: Some(b"k".to_vec()),
            payload: payload.to_vec(),
            timestamp_millis: Some(5),
        }
    }

    #[test]
    fn replays_write_nothing_twice_and_torn_lines_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut dl = PartitionDeadLetters::open(dir.path(), "s", "t", 3).unwrap();
        let (a, b) = (refused(b"{oops"), refused(&[0xff, 0xfe]));
        assert_eq!(dl.append(&[(4, &a), (9, &b)]).unwrap(), 2);
        // A crash leaves half a line.
        let path = dir.path().join("dead-letter/s/partition-3.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"topic\":\"t\",\"part").unwrap();
        let mut dl = PartitionDeadLetters::open(dir.path(), "s", "t", 3).unwrap();
        assert_eq!(dl.append(&[(9, &b), (12, &a)]).unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let offsets: Vec<i64> = lines
            .iter()
            .map(|l| l["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(offsets, [4, 9, 12]);
        assert_eq!(lines[0]["original"], "{oops");
        assert_eq!(lines[1]["original_base64"], "//4=");
        assert_eq!(lines[1]["partition"], 3);
    }

    #[test]
    fn changes_of_one_offset_are_kept_apart_and_replays_skip_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut dl = PartitionDeadLetters::open(dir.path(), "s", "loans", 0).unwrap();
        let a = refused(b"{}");
        assert_eq!(
            dl.append_keyed(&[((700, Some(1)), &a), ((700, Some(3)), &a)])
                .unwrap(),
            2
        );
        let mut dl = PartitionDeadLetters::open(dir.path(), "s", "loans", 0).unwrap();
        // A replay of that transaction adds nothing; the next transaction is written.
        assert_eq!(
            dl.append_keyed(&[
                ((700, Some(1)), &a),
                ((700, Some(3)), &a),
                ((900, Some(2)), &a)
            ])
            .unwrap(),
            1
        );
        let text =
            std::fs::read_to_string(dir.path().join("dead-letter/s/partition-0.jsonl")).unwrap();
        let keys: Vec<(i64, u64)> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|l| (l["offset"].as_i64().unwrap(), l["change"].as_u64().unwrap()))
            .collect();
        assert_eq!(keys, [(700, 1), (700, 3), (900, 2)]);
    }
}
