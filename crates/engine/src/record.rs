//! Entity records: one entity's state in one view as bytes, for online stores.
//!
//! An online store keeps, per (view, entity), what the engine needs to answer exact as-of-now values at
//! read time: the entity's retained events and its eviction summary, not precomputed numbers. Values
//! therefore decay as windows slide with no new event, and a read runs the same query as every other
//! path ([`RecordReader::read`]).
//!
//! Layout: a 16-byte **version**, the magic `FRE2`, the view definition's fingerprint (`u64`, little
//! endian) and the [`EntityState`] in the fixed-width layout of `entity::codec`. Records with the
//! magic `FRE1` (earlier builds: the state postcard-encoded) are still read, so an upgrade needs no
//! backfill; a write replaces them with `FRE2`. The version is the entity's newest ingest order
//! (ingest time, then position), big-endian with the sign bit flipped, so comparing two records' first
//! 16 bytes as byte strings orders them by what they know. Stores use that to keep writes idempotent
//! and ordered: a record replaces a stored one only if its version is not smaller, so replaying an
//! update changes nothing and an older update never overwrites a newer one.

use crate::entity::EntityState;
use crate::entity::{InsertOutcome, QueryError, ViewRow};
use crate::key::EntityKey;
use crate::query::History;
use crate::state::{IngestOutcome, ViewState, feature_specs};
use crate::types::Timestamp;
use crate::value::Value;
use crate::values::Flat;
use crate::view::ViewDef;
use std::collections::hash_map::Entry;

const MAGIC: &[u8; 4] = b"FRE2";
/// The magic of records whose state is postcard-encoded (written before `FRE2`).
const MAGIC_POSTCARD: &[u8; 4] = b"FRE1";
/// Bytes of the version prefix.
pub const VERSION_LEN: usize = 16;
const HEADER_LEN: usize = VERSION_LEN + MAGIC.len() + 8;

/// Why a record cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not a record, or truncated.
    #[error("not a freshet entity record or truncated: {0}")]
    Malformed(String),
    /// Written for another definition of the view.
    #[error(
        "the stored state of view `{view}` was written for another definition of it; rebuild it with `freshet backfill`"
    )]
    DefinitionChanged {
        /// The view.
        view: String,
    },
    /// The record cannot answer the query exactly.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// The fingerprint of a view definition: records and snapshots of one definition refuse another.
pub(crate) fn fingerprint(def: &ViewDef) -> u64 {
    xxhash_rust::xxh3::xxh3_64(format!("{def:?}").as_bytes())
}

/// The version of a record (its first [`VERSION_LEN`] bytes), if it has one.
pub fn record_version(record: &[u8]) -> Option<&[u8]> {
    record.get(..VERSION_LEN)
}

fn encode_version(ingest_time: i64, position: u64) -> [u8; VERSION_LEN] {
    let mut out = [0u8; VERSION_LEN];
    // Flipping the sign bit makes byte order agree with numeric order for negative times too.
    out[..8].copy_from_slice(&((ingest_time as u64) ^ (1 << 63)).to_be_bytes());
    out[8..].copy_from_slice(&position.to_be_bytes());
    out
}

fn encode(fingerprint: u64, state: &EntityState) -> Vec<u8> {
    let (ingest_time, position) = state.newest_ingest();
    // One buffer, sized for the body up front: a stream encodes a record per touched entity.
    let mut out = Vec::with_capacity(HEADER_LEN + state.encoded_len_hint());
    out.extend_from_slice(&encode_version(ingest_time, position));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&fingerprint.to_le_bytes());
    state.encode_into(&mut out);
    out
}

fn decode(
    view: &str,
    fingerprint: u64,
    stride: usize,
    record: &[u8],
) -> Result<EntityState, RecordError> {
    let state = decode_unchecked(view, fingerprint, record)?;
    state
        .check_shape(stride)
        .map_err(|e| RecordError::Malformed(e.to_string()))?;
    Ok(state)
}

fn decode_unchecked(
    view: &str,
    fingerprint: u64,
    record: &[u8],
) -> Result<EntityState, RecordError> {
    let malformed = |why: &str| RecordError::Malformed(why.to_owned());
    let (Some(magic), Some(stored), Some(body)) = (
        record.get(VERSION_LEN..VERSION_LEN + 4),
        record.get(VERSION_LEN + 4..HEADER_LEN),
        record.get(HEADER_LEN..),
    ) else {
        return Err(malformed("no record header"));
    };
    if magic != MAGIC && magic != MAGIC_POSTCARD {
        return Err(malformed("no record header"));
    }
    let mut fingerprint_bytes = [0u8; 8];
    fingerprint_bytes.copy_from_slice(stored);
    if u64::from_le_bytes(fingerprint_bytes) != fingerprint {
        return Err(RecordError::DefinitionChanged {
            view: view.to_owned(),
        });
    }
    if magic == MAGIC_POSTCARD {
        return postcard::from_bytes(body).map_err(|e| malformed(&e.to_string()));
    }
    match EntityState::decode_from(body) {
        Ok((state, [])) => Ok(state),
        Ok(_) => Err(malformed("trailing bytes after the entity state")),
        Err(e) => Err(malformed(&e.to_string())),
    }
}

impl ViewState {
    /// The record of one entity, or `None` if the state has never seen it.
    pub fn entity_record(&self, key: &EntityKey) -> Option<Vec<u8>> {
        self.entity(key)
            .map(|state| encode(self.fingerprint(), state))
    }

    /// Every entity's record (for materializing the whole state into an online store).
    pub fn records(&self) -> impl Iterator<Item = (EntityKey, Vec<u8>)> + '_ {
        let fingerprint = self.fingerprint();
        self.sorted_entities()
            .into_iter()
            .map(move |(key, state)| (key.clone(), encode(fingerprint, state)))
    }

    /// Ingests `events` as [`ViewState::ingest_each`] does and returns the record of every entity
    /// an event now counts in (whose answers may have changed): one per entity, as of the end of
    /// the batch, in the order the entities were first touched.
    ///
    /// A record is encoded right after its entity's first insert, while the entity's state is
    /// still in cache; looking entities up again after the batch to encode them cost a cache miss
    /// or more each, and made encoding about a tenth of `freshet run`'s CPU. An entity touched
    /// again later in the batch is encoded once more at the end, so a hot entity costs two encodes
    /// per batch at most, never one per event.
    pub fn ingest_each_records<T>(
        &mut self,
        events: &[T],
        stamp: impl Fn(&T) -> (&[Value], Timestamp, u64),
    ) -> Vec<(EntityKey, Vec<u8>)> {
        let fingerprint = self.fingerprint();
        let mut records: Vec<(EntityKey, Vec<u8>)> = Vec::with_capacity(events.len());
        // Empty between calls (cleared at the end), so only its memory is reused.
        let mut slots = std::mem::take(&mut self.record_slots);
        self.ingest_chunked(
            events,
            |_, event| stamp(event),
            |outcome, placed| {
                let (Ok(IngestOutcome::Placed(outcome)), Some((key, state))) = (outcome, placed)
                else {
                    return;
                };
                match slots.entry(key.clone()) {
                    Entry::Occupied(slot) => {
                        // Any event placed since, even one that does not count, may have changed
                        // the state (its newest ingest: the record's version): emptied here and
                        // encoded at the end (an encoded record is never empty: it has a header).
                        if let Some((_, record)) = records.get_mut(*slot.get()) {
                            *record = Vec::new();
                        }
                    }
                    Entry::Vacant(slot) if outcome == InsertOutcome::Inserted => {
                        slot.insert(records.len());
                        records.push((key.clone(), encode(fingerprint, state)));
                    }
                    Entry::Vacant(_) => {}
                }
            },
        );
        for (key, record) in records.iter_mut().filter(|(_, r)| r.is_empty()) {
            if let Some(state) = self.entity(key) {
                *record = encode(fingerprint, state);
            }
        }
        // Keys would keep entities' strings alive until the next round; the table's memory stays.
        slots.clear();
        self.record_slots = slots;
        records
    }

    /// Replaces an entity's state with a stored record (to apply new events to it, then write it back).
    pub fn load_entity_record(&mut self, key: EntityKey, record: &[u8]) -> Result<(), RecordError> {
        let stride = self.specs().stride;
        let state = decode(&self.def().name, self.fingerprint(), stride, record)?;
        self.put_entity(key, state);
        Ok(())
    }
}

/// Answers as-of queries from stored records of one view. Build it once per view; reads are cheap.
#[derive(Debug, Clone)]
pub struct RecordReader {
    view: String,
    fingerprint: u64,
    specs: crate::entity::FeatureSpecs,
    features: usize,
}

impl RecordReader {
    /// A reader for records of `def`.
    pub fn new(def: &ViewDef) -> RecordReader {
        RecordReader {
            view: def.name.clone(),
            fingerprint: fingerprint(def),
            specs: feature_specs(def),
            features: def.features.len(),
        }
    }

    /// The features as of `t` knowing ingest up to `k`, from an entity's record; `None` (no record)
    /// means the entity is unknown: every feature `NOT_FOUND`.
    pub fn read(&self, record: Option<&[u8]>, t: i64, k: i64) -> Result<ViewRow, RecordError> {
        let Some(record) = record else {
            return Ok(ViewRow::not_found(self.features));
        };
        let state = decode(&self.view, self.fingerprint, self.specs.stride, record)?;
        let view = state.parts();
        let history = History {
            orders: view.0,
            values: Flat {
                values: view.1,
                stride: self.specs.stride,
            },
            prefix: view.2,
        };
        Ok(history.query(&self.specs, t, k)?)
    }
}
