//! Snapshots: the whole state of a view as bytes, deterministic, versioned and checksummed.
//!
//! Layout: the magic `FRSHSNAP`, a little-endian `u32` format version, a `u64` payload length, the
//! payload, and a `u32` CRC-32 of the payload. The payload holds a fingerprint of the view definition
//! and every entity's state in key order, so the same state always gives the same bytes, and a
//! snapshot is refused for a view whose definition changed (its values would mean something else).
//!
//! Format 3's payload: the fingerprint (`u64`), the entity count (`u64`), then per entity its
//! postcard-encoded key and its state in the fixed-width layout that entity records use
//! (`entity::codec`). Format 2 (earlier builds) postcard-encoded the whole payload; it is still
//! restored, so an upgrade resumes from its checkpoints.

use crate::entity::EntityState;
use crate::key::EntityKey;
use crate::state::ViewState;
use serde::Deserialize;

const MAGIC: &[u8; 8] = b"FRSHSNAP";
/// The snapshot format this build writes.
pub const FORMAT_VERSION: u32 = 3;
/// The older format this build still restores: the whole payload postcard-encoded.
const FORMAT_POSTCARD: u32 = 2;

/// A format-2 payload.
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
        "snapshot format {found} is not supported (this build reads formats {FORMAT_POSTCARD} and {FORMAT_VERSION}); rebuild the state from the event log"
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
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let length_at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        let body_at = out.len();
        let entities = self.sorted_entities();
        out.extend_from_slice(&fingerprint(self).to_le_bytes());
        out.extend_from_slice(&(entities.len() as u64).to_le_bytes());
        for (key, state) in entities {
            // Encoding into a Vec cannot fail for a key: no maps, no I/O.
            *out = postcard::to_extend(key, std::mem::take(out)).unwrap_or_default();
            state.encode_into(out);
        }
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
        if version != FORMAT_VERSION && version != FORMAT_POSTCARD {
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
        let payload = if version == FORMAT_POSTCARD {
            postcard::from_bytes(body).map_err(|e| malformed(&e.to_string()))?
        } else {
            decode_payload(body).map_err(|e| malformed(&e))?
        };
        if payload.view_fingerprint != fingerprint(self) {
            return Err(SnapshotError::DefinitionChanged {
                view: self.def().name.clone(),
            });
        }
        let stride = self.specs().stride;
        for (key, state) in &payload.entities {
            state
                .check_shape(stride)
                .map_err(|e| malformed(&format!("entity {key}: {e}")))?;
        }
        self.restore_entities(payload.entities);
        Ok(())
    }
}

/// Reads a format-3 payload.
fn decode_payload(body: &[u8]) -> Result<Payload, String> {
    let word = |bytes: &[u8]| -> Result<u64, String> {
        let word: [u8; 8] = bytes.try_into().map_err(|_| "cut short".to_owned())?;
        Ok(u64::from_le_bytes(word))
    };
    let (view_fingerprint, rest) = body.split_at_checked(8).ok_or("no fingerprint")?;
    let (count, mut rest) = rest.split_at_checked(8).ok_or("no entity count")?;
    let count = word(count)?;
    // Each entity takes at least a few bytes; a damaged count must not size the allocation.
    let capacity = usize::try_from(count).unwrap_or(usize::MAX).min(rest.len());
    let mut entities = Vec::with_capacity(capacity);
    for _ in 0..count {
        let (key, after_key) = postcard::take_from_bytes::<EntityKey>(rest)
            .map_err(|e| format!("entity {}: {e}", entities.len()))?;
        let (state, after_state) = EntityState::decode_from(after_key)
            .map_err(|e| format!("entity {}: {e}", entities.len()))?;
        entities.push((key, state));
        rest = after_state;
    }
    if !rest.is_empty() {
        return Err("trailing bytes after the last entity".to_owned());
    }
    Ok(Payload {
        view_fingerprint: word(view_fingerprint)?,
        entities,
    })
}
