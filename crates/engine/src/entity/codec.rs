//! The byte layout of one [`EntityState`], shared by entity records (`FRE2`) and snapshots (format 3).
//!
//! A stream encodes the record of every entity it touches, and a checkpoint encodes every entity, so
//! this encoding is on `freshet run`'s hot path. Postcard's varints cost a loop per integer, and an
//! entity is mostly microsecond timestamps (eight varint bytes each anyway): fixed-width
//! little-endian integers are as small and are written by plain copies. What most entities never
//! hold (event ids, accumulators of unbounded features, ids of evicted events) is kept postcard-encoded
//! behind a length, so those types stay free to evolve with their serde derives.
//!
//! Layout (integers little-endian):
//! - `u32` n, then n event orders: event time `i64`, ingest time `i64`, position `u64`;
//! - `u32` m, then m values, each a tag byte and its payload: 0 null; 1 bool (`u8`); 2 int64 (`i64`);
//!   3 float64 (`f64` bits); 4 string (`u32` length, UTF-8); 5 timestamp (`i64`);
//! - the newest ingest seen: 0, or 1 then ingest time `i64` and position `u64`;
//! - the event ids: `u32` length of a postcard blob (0: the view has none), the blob;
//! - the eviction summary: 0, or 1 then evicted-before `i64`, supported-from `i64`, newest event
//!   time and newest ingest time (each 0, or 1 then `i64`), and the `u32` length of a postcard blob of
//!   the accumulators and evicted ids (0 when both are empty), the blob.
//!
//! Decoding checks every length against the bytes left, so damaged input is an error, never a panic
//! or an allocation sized by garbage.

use super::{EntityState, Prefix};
use crate::accumulate::Accumulator;
use crate::key::KeyPart;
use crate::types::Timestamp;
use crate::value::Value;
use crate::view::EventOrder;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Bytes of one encoded event order.
const ORDER_LEN: usize = 24;

/// The rarely present parts of an eviction summary, as one postcard blob.
type PrefixRest = (Vec<Option<Accumulator>>, BTreeMap<KeyPart, (i64, u64, i64)>);

/// Why bytes do not hold an entity state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entity state: {0}")]
pub(crate) struct DecodeError(String);

impl EntityState {
    /// An upper bound of [`EntityState::encode_into`]'s output for plain values, so a caller can
    /// size its buffer once (strings and postcard blobs may exceed it; the buffer then grows).
    pub(crate) fn encoded_len_hint(&self) -> usize {
        4 + ORDER_LEN * self.orders.len()
            + 4
            + 9 * self.values.len()
            + 17
            + 4
            + 1
            + 2 * 9
            + 2 * 9
            + 4
    }

    /// Appends the state's bytes to `out` (see the module's layout). A record sizes its buffer
    /// with [`EntityState::encoded_len_hint`]; a snapshot's grows as any `Vec` does.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        put_len(out, self.orders.len());
        for order in &self.orders {
            out.extend_from_slice(&order.event_time.to_le_bytes());
            out.extend_from_slice(&order.ingest_time.to_le_bytes());
            out.extend_from_slice(&order.position.to_le_bytes());
        }
        put_len(out, self.values.len());
        for value in &self.values {
            put_value(out, value);
        }
        match self.seen {
            None => out.push(0),
            Some((ingest_time, position)) => {
                out.push(1);
                out.extend_from_slice(&ingest_time.to_le_bytes());
                out.extend_from_slice(&position.to_le_bytes());
            }
        }
        if self.ids.is_empty() {
            put_len(out, 0);
        } else {
            put_blob(out, &self.ids);
        }
        match &self.prefix {
            None => out.push(0),
            Some(prefix) => {
                out.push(1);
                out.extend_from_slice(&prefix.evicted_before.to_le_bytes());
                out.extend_from_slice(&prefix.supported_from.to_le_bytes());
                put_optional(out, prefix.newest_event_time);
                put_optional(out, prefix.newest_ingest_time);
                if prefix.accumulators.is_empty() && prefix.evicted_ids.is_empty() {
                    put_len(out, 0);
                } else {
                    put_blob(out, &(&prefix.accumulators, &prefix.evicted_ids));
                }
            }
        }
    }

    /// Reads a state from the front of `bytes`; returns it and the bytes after it.
    pub(crate) fn decode_from(bytes: &[u8]) -> Result<(EntityState, &[u8]), DecodeError> {
        let mut r = Reader(bytes);
        let n = r.len(ORDER_LEN)?;
        let mut orders = Vec::with_capacity(n);
        for _ in 0..n {
            orders.push(EventOrder {
                event_time: r.i64()?,
                ingest_time: r.i64()?,
                position: r.u64()?,
            });
        }
        let m = r.len(1)?;
        let mut values = Vec::with_capacity(m);
        for _ in 0..m {
            values.push(r.value()?);
        }
        let seen = if r.present("newest-ingest")? {
            Some((r.i64()?, r.u64()?))
        } else {
            None
        };
        let ids_blob = r.blob()?;
        let ids: Vec<Option<KeyPart>> = if ids_blob.is_empty() {
            Vec::new()
        } else {
            from_blob(ids_blob)?
        };
        let prefix = if r.present("eviction-summary")? {
            Some(Box::new(r.prefix()?))
        } else {
            None
        };
        let state = EntityState {
            orders,
            ids,
            values,
            prefix,
            seen,
        };
        Ok((state, r.0))
    }

    /// Whether decoded columns fit together for a view storing `stride` values per event: the
    /// query indexes values by event, so a damaged state that decoded must be refused, not read.
    pub(crate) fn check_shape(&self, stride: usize) -> Result<(), DecodeError> {
        if self.values.len() != self.orders.len().saturating_mul(stride) {
            return Err(DecodeError(format!(
                "{} values for {} events of {stride} inputs each",
                self.values.len(),
                self.orders.len()
            )));
        }
        if !self.ids.is_empty() && self.ids.len() != self.orders.len() {
            return Err(DecodeError(format!(
                "{} event ids for {} events",
                self.ids.len(),
                self.orders.len()
            )));
        }
        Ok(())
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths come from in-memory vectors of one entity; more than u32::MAX elements would not fit
    // in memory as `Value`s or event orders, so the conversion cannot saturate in practice.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_optional(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0),
        Value::Bool(b) => out.extend_from_slice(&[1, u8::from(*b)]),
        Value::Int64(i) => {
            out.push(2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float64(f) => {
            out.push(3);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::String(s) => {
            out.push(4);
            put_len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Timestamp(t) => {
            out.push(5);
            out.extend_from_slice(&t.0.to_le_bytes());
        }
    }
}

/// Appends a length-prefixed postcard blob.
fn put_blob<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let at = out.len();
    put_len(out, 0);
    // Encoding into a Vec cannot fail for these types: no maps with non-string keys, no I/O.
    *out = postcard::to_extend(value, std::mem::take(out)).unwrap_or_default();
    let len = out.len().saturating_sub(at + 4);
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    }
}

fn from_blob<'a, T: serde::Deserialize<'a>>(blob: &'a [u8]) -> Result<T, DecodeError> {
    postcard::from_bytes(blob).map_err(|e| DecodeError(e.to_string()))
}

/// A cursor over the bytes being decoded.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| DecodeError("cut short".to_owned()))?;
        self.0 = rest;
        Ok(*head)
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self
            .0
            .split_at_checked(len)
            .ok_or_else(|| DecodeError("cut short".to_owned()))?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    /// A count of elements of at least `min_size` bytes each, refused if the bytes left cannot
    /// hold that many: a damaged count never sizes an allocation.
    fn len(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.0.len() {
            return Err(DecodeError(format!(
                "a count of {n} exceeds the bytes left"
            )));
        }
        Ok(n)
    }

    fn blob(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.len(1)?;
        self.bytes(len)
    }

    /// The tag byte in front of an optional part: whether the part follows.
    fn present(&mut self, what: &str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError(format!("bad {what} tag {tag}"))),
        }
    }

    fn optional(&mut self) -> Result<Option<i64>, DecodeError> {
        Ok(if self.present("option")? {
            Some(self.i64()?)
        } else {
            None
        })
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Bool(self.u8()? != 0),
            2 => Value::Int64(self.i64()?),
            3 => Value::Float64(f64::from_bits(self.u64()?)),
            4 => {
                let text = std::str::from_utf8(self.blob()?)
                    .map_err(|e| DecodeError(format!("a string value is not UTF-8: {e}")))?;
                Value::String(Arc::from(text))
            }
            5 => Value::Timestamp(Timestamp(self.i64()?)),
            tag => return Err(DecodeError(format!("bad value tag {tag}"))),
        })
    }

    fn prefix(&mut self) -> Result<Prefix, DecodeError> {
        let evicted_before = self.i64()?;
        let supported_from = self.i64()?;
        let newest_event_time = self.optional()?;
        let newest_ingest_time = self.optional()?;
        let rest = self.blob()?;
        let (accumulators, evicted_ids): PrefixRest = if rest.is_empty() {
            (Vec::new(), BTreeMap::new())
        } else {
            from_blob(rest)?
        };
        Ok(Prefix {
            evicted_before,
            supported_from,
            newest_event_time,
            newest_ingest_time,
            accumulators,
            evicted_ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(t: i64) -> EventOrder {
        EventOrder {
            event_time: t,
            ingest_time: -t,
            position: (t as u64).wrapping_mul(3),
        }
    }

    fn sample() -> EntityState {
        EntityState {
            orders: vec![order(-5), order(1_700_000_000_000_000)],
            ids: vec![None, Some(KeyPart::Str("trip-7".into()))],
            values: vec![
                Value::Null,
                Value::Bool(true),
                Value::Int64(i64::MIN),
                Value::Float64(-0.5),
                Value::from("zürich"),
                Value::Timestamp(Timestamp(42)),
            ],
            prefix: Some(Box::new(Prefix {
                evicted_before: 7,
                supported_from: i64::MIN,
                newest_event_time: Some(6),
                newest_ingest_time: None,
                accumulators: Vec::new(),
                evicted_ids: [(KeyPart::Int(9), (1, 2, 3))].into_iter().collect(),
            })),
            seen: Some((i64::MAX, u64::MAX)),
        }
    }

    #[test]
    fn every_part_survives_a_round_trip_and_trailing_bytes_are_left() {
        for state in [sample(), EntityState::default()] {
            let mut bytes = Vec::new();
            state.encode_into(&mut bytes);
            bytes.extend_from_slice(b"next");
            let (back, rest) = EntityState::decode_from(&bytes).unwrap();
            assert_eq!(back, state);
            assert_eq!(rest, b"next");
        }
    }

    #[test]
    fn plain_states_fit_the_length_hint() {
        let mut state = sample();
        state.ids.clear();
        state.values.retain(|v| !matches!(v, Value::String(_)));
        if let Some(p) = &mut state.prefix {
            p.evicted_ids.clear();
        }
        let mut bytes = Vec::new();
        state.encode_into(&mut bytes);
        assert!(bytes.len() <= state.encoded_len_hint(), "{}", bytes.len());
    }

    #[test]
    fn damaged_bytes_are_errors_never_panics() {
        let mut bytes = Vec::new();
        sample().encode_into(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(
                EntityState::decode_from(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0xff;
            let _ = EntityState::decode_from(&flipped);
        }
        // Columns that do not fit together are refused: the query indexes values by event.
        let mut state = sample();
        assert!(state.check_shape(3).is_ok());
        assert!(state.check_shape(2).is_err());
        state.ids.pop();
        assert!(state.check_shape(3).is_err());
        // A count far beyond the bytes left is refused before anything is allocated for it.
        let huge = [0xff, 0xff, 0xff, 0x7f];
        assert!(EntityState::decode_from(&huge).is_err());
    }
}
