//! Checkpoints: a task's position and its views' engine state, together, in one file.
//!
//! A task's checkpoints live in `.freshet/checkpoints/<source>/p<partition>/<sequence>.ckpt`, written by
//! staging and renaming, so each is whole or absent. Layout: a header line, a JSON line (the sequence, each source's position and
//! stream start, the snapshot length of each view), the views' snapshots back to back, and a CRC-32 of
//! everything before it. The newest two are kept; on start the newest that reads back whole wins, so a
//! corrupt newest checkpoint falls back to the previous one.

use freshet_engine::ViewState;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const HEADER: &[u8] = b"FRSHCKPT 1\n";
const KEEP: usize = 2;

/// Where a source stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourcePosition {
    /// The next event's position.
    pub position: u64,
    /// Simulated time of the stream's start (generator sources), microseconds.
    pub start_micros: i64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    sequence: u64,
    sources: BTreeMap<String, SourcePosition>,
    /// (view name, snapshot length) in file order.
    views: Vec<(String, usize)>,
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Restored {
    /// Its sequence number.
    pub sequence: u64,
    /// Source positions.
    pub sources: BTreeMap<String, SourcePosition>,
    /// Each view's snapshot bytes, by view name.
    pub snapshots: BTreeMap<String, Vec<u8>>,
}

/// Checkpoint I/O failed.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint {path}: {reason}")]
pub struct CheckpointError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// The checkpoint directory of a project.
pub fn directory(project_dir: &Path) -> PathBuf {
    project_dir.join(".freshet/checkpoints")
}

fn files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let sequence = name.strip_suffix(".ckpt")?.parse().ok()?;
                    Some((sequence, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// A checkpoint encoded and ready to be written: taking it is quick and must happen while the state
/// stands still; writing it (a file and an fsync) can happen anywhere, later.
#[derive(Debug)]
pub struct Encoded {
    dir: PathBuf,
    path: PathBuf,
    bytes: Vec<u8>,
}

/// Encodes checkpoint `sequence` of `views` at `sources`, to be written into `dir`.
///
/// `sizes` holds each view's snapshot size in the previous checkpoint (empty at first) and is
/// updated: each snapshot is encoded into a buffer reserved from it, so a state of hundreds of
/// megabytes is not copied through a series of growing buffers on every checkpoint.
pub fn encode(
    dir: &Path,
    sequence: u64,
    sources: &BTreeMap<String, SourcePosition>,
    views: &[&ViewState],
    sizes: &mut Vec<usize>,
) -> Result<Encoded, CheckpointError> {
    let path = dir.join(format!("{sequence:012}.ckpt"));
    sizes.resize(views.len(), 0);
    let snapshots: Vec<Vec<u8>> = views
        .iter()
        .zip(sizes.iter_mut())
        .map(|(view, size)| {
            let mut snapshot = Vec::with_capacity(*size + *size / 8);
            view.snapshot_into(&mut snapshot);
            *size = snapshot.len();
            snapshot
        })
        .collect();
    let manifest = Manifest {
        sequence,
        sources: sources.clone(),
        views: views
            .iter()
            .zip(&snapshots)
            .map(|(v, s)| (v.def().name.clone(), s.len()))
            .collect(),
    };
    let mut head = HEADER.to_vec();
    serde_json::to_writer(&mut head, &manifest).map_err(|e| CheckpointError {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    head.push(b'\n');
    // The manifest, which comes first, needs the snapshots' lengths: so they are joined after it
    // once, into a buffer of the exact size.
    let total = head.len() + snapshots.iter().map(Vec::len).sum::<usize>() + 4;
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(&head);
    for snapshot in &snapshots {
        bytes.extend_from_slice(snapshot);
    }
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    Ok(Encoded {
        dir: dir.to_path_buf(),
        path,
        bytes,
    })
}

impl Encoded {
    /// Writes the checkpoint durably (staged, fsynced, renamed into place) and removes all but the
    /// newest two of its directory.
    pub fn write(&self) -> Result<PathBuf, CheckpointError> {
        let fail = |reason: String| CheckpointError {
            path: self.path.clone(),
            reason,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| fail(e.to_string()))?;
        let staged =
            freshet_project::files::stage_file(&self.dir).map_err(|e| fail(e.to_string()))?;
        std::fs::write(staged.path(), &self.bytes).map_err(|e| fail(e.to_string()))?;
        staged
            .as_file()
            .sync_all()
            .map_err(|e| fail(e.to_string()))?;
        staged
            .persist(&self.path)
            .map_err(|e| fail(e.error.to_string()))?;
        let all = files(&self.dir);
        for (_, old) in all.iter().take(all.len().saturating_sub(KEEP)) {
            let _ = std::fs::remove_file(old);
        }
        Ok(self.path.clone())
    }
}

fn read_one(path: &Path) -> Option<Restored> {
    let bytes = std::fs::read(path).ok()?;
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let rest = body.strip_prefix(HEADER)?;
    let line_end = rest.iter().position(|b| *b == b'\n')?;
    let manifest: Manifest = serde_json::from_slice(&rest[..line_end]).ok()?;
    let mut snapshots = BTreeMap::new();
    let mut at = line_end + 1;
    for (view, len) in manifest.views {
        let end = at.checked_add(len)?;
        snapshots.insert(view, rest.get(at..end)?.to_vec());
        at = end;
    }
    Some(Restored {
        sequence: manifest.sequence,
        sources: manifest.sources,
        snapshots,
    })
}

/// The newest checkpoint that reads back whole, and the paths of newer ones that did not.
pub fn read_newest(dir: &Path) -> (Option<Restored>, Vec<PathBuf>) {
    let mut damaged = Vec::new();
    for (_, path) in files(dir).into_iter().rev() {
        match read_one(&path) {
            Some(restored) => return (Some(restored), damaged),
            None => damaged.push(path),
        }
    }
    (None, damaged)
}
