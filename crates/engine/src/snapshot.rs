//! Snapshots: the whole state of a view as bytes, deterministic, versioned and checksummed.
//!
//! Layout: the magic `FRSHSNAP`, a little-endian `u32` format version, a `u64` payload length, the
//! payload, and a `u32` CRC-32 of the payload. The payload (postcard-encoded) holds a fingerprint of the
//! view definition and every entity's state in key order, so the same state always gives the same bytes,
//! and a snapshot is refused for a view whose definition changed (its values would mean something else).

use crate::entity::EntityState;
use crate::key::EntityKey;
use crate::state::ViewState;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"FRSHSNAP";
/// The snapshot format this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Serialize)]
struct PayloadRef<'a> {
    view_fingerprint: u64,
    entities: Vec<(&'a EntityKey, &'a EntityState)>,
}

#[derive(Deserialize)]
struct Payload {
    view_fingerprint: u64,
    entities: Vec<(EntityKey, EntityState)>,
}

/// Why a snapshot cannot be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Not a freshet snapshot, or cut short.
    #[error("not a freshet snapshot or truncated: {0}")]
    Malformed(String),
    /// Written by a different snapshot format.
    #[error(
        "snapshot format {found} is not supported (this build reads format {FORMAT_VERSION}); rebuild the state from the event log"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
    },
    /// The checksum does not match: the bytes were damaged.
    #[error("snapshot checksum mismatch: the file is damaged; fall back to an older checkpoint")]
    Checksum,
    /// The snapshot belongs to another definition of the view.
    #[error(
        "snapshot was taken for a different definition of view `{view}`; rebuild the state from the event log"
    )]
    DefinitionChanged {
        /// The view.
        view: String,
    },
}

/// A stable fingerprint of a view definition (its full debug form, hashed).
fn fingerprint(state: &ViewState) -> u64 {
    state.fingerprint()
}

impl ViewState {
    /// Encodes the whole state. Equal states give equal bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.snapshot_into(&mut out);
        out
    }

    /// Appends [`ViewState::snapshot`]'s bytes to `out`, encoding straight into it: a checkpoint of
    /// a large state reserves its buffer once instead of copying the snapshot through growing ones.
    pub fn snapshot_into(&self, out: &mut Vec<u8>) {
        let payload = PayloadRef {
            view_fingerprint: fingerprint(self),
            entities: self.sorted_entities(),
        };
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let length_at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        let body_at = out.len();
        // Encoding into a Vec cannot fail for these types: no maps with non-string keys, no I/O.
        *out = postcard::to_extend(&payload, std::mem::take(out)).unwrap_or_default();
        let body = out.get(body_at..).unwrap_or_default();
        let (length, crc) = (body.len() as u64, crc32fast::hash(body));
        if let Some(slot) = out.get_mut(length_at..body_at) {
            slot.copy_from_slice(&length.to_le_bytes());
        }
        out.extend_from_slice(&crc.to_le_bytes());
    }

    /// Replaces this state with a snapshot's, after checking format, checksum and view definition.
    /// On error the state is unchanged.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let malformed = |why: &str| SnapshotError::Malformed(why.to_owned());
        let (magic, rest) = bytes
            .split_at_checked(8)
            .ok_or_else(|| malformed("shorter than its header"))?;
        if magic != MAGIC {
            return Err(malformed("wrong magic bytes"));
        }
        let (version, rest) = rest
            .split_at_checked(4)
            .ok_or_else(|| malformed("no version"))?;
        let version = u32::from_le_bytes(version.try_into().map_err(|_| malformed("no version"))?);
        if version != FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion { found: version });
        }
        let (len, rest) = rest
            .split_at_checked(8)
            .ok_or_else(|| malformed("no length"))?;
        let len = u64::from_le_bytes(len.try_into().map_err(|_| malformed("no length"))?);
        let len = usize::try_from(len).map_err(|_| malformed("length out of range"))?;
        let (body, crc) = rest
            .split_at_checked(len)
            .ok_or_else(|| malformed("payload cut short"))?;
        let crc: [u8; 4] = crc
            .try_into()
            .map_err(|_| malformed("checksum missing or trailing bytes"))?;
        if crc32fast::hash(body) != u32::from_le_bytes(crc) {
            return Err(SnapshotError::Checksum);
        }
        let payload: Payload = postcard::from_bytes(body).map_err(|e| malformed(&e.to_string()))?;
        if payload.view_fingerprint != fingerprint(self) {
            return Err(SnapshotError::DefinitionChanged {
                view: self.def().name.clone(),
            });
        }
        self.restore_entities(payload.entities);
        Ok(())
    }
}
