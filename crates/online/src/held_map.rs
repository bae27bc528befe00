//! The write-behind's records held by key, probed in table order with hashes computed once.
//!
//! Held until a checkpoint, the map grows to every entity touched since (a million in B2k), far
//! larger than the caches: probed in arrival order, every record cost a cache miss and a page walk,
//! and the offer was 14 % of B2k's CPU. So an offer orders its batch by the bucket each probe starts
//! at and walks the table forwards: neighbouring probes share pages, and the hardware prefetcher
//! follows. That needs each key's hash before probing; hashbrown's `HashTable` takes it from the
//! caller, where the standard map would hash every key a second time.
//!
//! Keys are ours (view and entity), not an attacker's, so the hash is foldhash's fast one rather
//! than the standard library's DoS-resistant one, which cost the offering thread 2 % of B2k's CPU.

use crate::keys::InlineKey;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::hash::BuildHasher;

/// A store key and its record.
pub(crate) type KeyedRecord = (InlineKey, Vec<u8>);

/// Records by store key; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct HeldMap {
    table: HashTable<KeyedRecord>,
    hasher: foldhash::fast::RandomState,
}

impl HeldMap {
    /// An empty map with room for `records`.
    pub(crate) fn with_capacity(records: usize) -> HeldMap {
        HeldMap {
            table: HashTable::with_capacity(records),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The record held for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.table
            .find(self.hash(key), |(k, _)| k.as_slice() == key)
            .map(|(_, record)| record)
    }

    /// Every key and record, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.table.iter().map(|(k, r)| (k.as_slice(), r.as_slice()))
    }

    /// Holds each of `records` whose key holds nothing, or a record that `replaces(new, held)` says
    /// it replaces, in the order given among records of one key; `on_change(key, old, new)` hears of
    /// every record taken (`old` is what it replaced). Returns how many were taken.
    pub(crate) fn offer(
        &mut self,
        mut records: Vec<KeyedRecord>,
        replaces: impl Fn(&[u8], &[u8]) -> bool,
        mut on_change: impl FnMut(&[u8], Option<&[u8]>, &[u8]),
    ) -> usize {
        let hasher = self.hasher.clone();
        let rehash = |(k, _): &KeyedRecord| hasher.hash_one(k.as_slice());
        self.table.reserve(records.len(), rehash);
        let order = self.probe_order(&records);
        let mut taken = 0;
        for (hash, index) in order {
            let (key, record) = std::mem::take(&mut records[index]);
            match self
                .table
                .entry(hash, |(k, _)| k.as_slice() == key.as_slice(), rehash)
            {
                Entry::Occupied(mut held) => {
                    let (held_key, held_record) = held.get_mut();
                    if replaces(&record, held_record) {
                        on_change(held_key, Some(held_record), &record);
                        *held_record = record;
                        taken += 1;
                    }
                }
                Entry::Vacant(slot) => {
                    on_change(&key, None, &record);
                    slot.insert((key, record));
                    taken += 1;
                }
            }
        }
        taken
    }

    /// Each record's hash and index, ordered by the bucket its probe starts at; records of one
    /// bucket (and so of one key) keep their order.
    fn probe_order(&self, records: &[KeyedRecord]) -> Vec<(u64, usize)> {
        // A hashbrown table has a power-of-two number of buckets, 7/8 of them usable, and a probe
        // starts at the bucket the hash's low bits name. Were that to change, the order would only
        // be slower, never wrong.
        let capacity = self.table.capacity();
        let buckets = if capacity < 8 {
            capacity + 1
        } else {
            capacity / 7 * 8
        };
        let mask = buckets.next_power_of_two().wrapping_sub(1) as u64;
        let mut order: Vec<(u64, usize)> = records
            .iter()
            .enumerate()
            .map(|(i, (key, _))| (self.hash(key), i))
            .collect();
        order.sort_unstable_by_key(|&(hash, i)| (hash & mask, i));
        order
    }
}
