//! Entity records (what online stores hold): reads from a record equal reads from the state, at any
//! time; a record's version never goes backwards as events are applied; applying events to a loaded
//! record gives the state that ingesting them directly gives; damaged or foreign records are refused.

use crate::engine::{KEYS, ingest_all, scenario};
use crate::support::{row, view};
use freshet_engine::{EntityKey, RecordError, RecordReader, Timestamp, ViewState, record_version};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn reading_a_record_equals_reading_the_state(s in scenario(), supported_from in proptest::option::of(0i64..60)) {
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut state = ViewState::new(def.clone());
        ingest_all(&mut state, &s, &s.arrival);
        if let Some(from) = supported_from {
            state.evict(from);
        }
        let reader = RecordReader::new(&def);
        for &(key, t, k) in &s.queries {
            let key = EntityKey::int(key);
            let record = state.entity_record(&key);
            let from_record = reader.read(record.as_deref(), t, k).map_err(|e| e.to_string());
            let from_state = state.read(&key, t, k).map_err(|e| e.to_string());
            prop_assert_eq!(from_record, from_state);
        }
    }

    #[test]
    fn versions_never_go_backwards_and_applying_to_a_loaded_record_equals_direct_ingest(s in scenario()) {
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut direct = ViewState::new(def.clone());
        // A store: per entity, the record with the highest version written so far.
        let mut store: Vec<Option<Vec<u8>>> = vec![None; KEYS as usize];
        for &i in &s.arrival {
            let (e, keep) = &s.events[i];
            let key = EntityKey::int(e.key);
            let before = direct.entity_record(&key);
            direct.ingest(&row(e, *keep), Timestamp(0), e.position).unwrap();
            let after = direct.entity_record(&key);
            if let (Some(b), Some(a)) = (&before, &after) {
                prop_assert!(record_version(a) >= record_version(b), "the version went backwards: {:?} -> {:?} at event {:?}", record_version(b), record_version(a), e);
            }
            // The read-modify-write a push performs: load the stored record, apply, write back.
            let mut scratch = ViewState::new(def.clone());
            if let Some(stored) = &store[e.key as usize] {
                scratch.load_entity_record(key.clone(), stored).unwrap();
            }
            scratch.ingest(&row(e, *keep), Timestamp(0), e.position).unwrap();
            if let Some(record) = scratch.entity_record(&key) {
                store[e.key as usize] = Some(record);
            }
        }
        for key in 0..KEYS {
            prop_assert_eq!(store[key as usize].clone(), direct.entity_record(&EntityKey::int(key)));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn damaged_records_are_errors_or_read_like_the_state_they_load_into(
        s in scenario(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        // What the fuzz target `stored_state_decode` does with arbitrary bytes, from real records:
        // no panic, and a record that still decodes answers like the state it loads into.
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut state = ViewState::new(def.clone());
        ingest_all(&mut state, &s, &s.arrival);
        let reader = RecordReader::new(&def);
        for key in 0..KEYS {
            let key = EntityKey::int(key);
            let Some(mut record) = state.entity_record(&key) else { continue };
            for (at, byte) in &edits {
                // Past the header, so the body's decoding is what is exercised.
                let body = record.len() - 28;
                record[28 + at.index(body)] = *byte;
            }
            let mut loaded = ViewState::new(def.clone());
            let loads = loaded.load_entity_record(key.clone(), &record).is_ok();
            for &(_, t, k) in &s.queries {
                let read = reader.read(Some(&record), t, k);
                if loads {
                    prop_assert_eq!(read.map_err(|e| e.to_string()), loaded.read(&key, t, k).map_err(|e| e.to_string()));
                } else {
                    prop_assert!(read.is_err());
                }
            }
        }
    }

    #[test]
    fn a_batch_yields_one_current_record_per_entity_an_event_now_counts_in(s in scenario(), chunk in 1usize..50) {
        let def = view(&s.features, s.ttl, s.with_ids);
        let events: Vec<(Vec<freshet_engine::Value>, Timestamp, u64)> = s.arrival.iter().enumerate()
            .map(|(n, &i)| (row(&s.events[i].0, s.events[i].1), Timestamp(n as i64 * 7), s.events[i].0.position))
            .collect();
        let mut recorded = ViewState::new(def.clone());
        let mut reference = ViewState::new(def);
        for part in events.chunks(chunk) {
            let records = recorded.ingest_each_records(part, |(row, at, position)| (row.as_slice(), *at, *position));
            let mut touched = Vec::new();
            reference.ingest_each(part, |(row, at, position)| (row.as_slice(), *at, *position), |key| touched.push(key.clone()));
            // Once per entity, first-touch order, each as the entity stands after the whole batch.
            let mut expected = Vec::new();
            for key in touched {
                if !expected.iter().any(|(k, _)| *k == key) {
                    let record = reference.entity_record(&key).unwrap();
                    expected.push((key, record));
                }
            }
            prop_assert_eq!(records, expected);
        }
    }
}

#[test]
fn damaged_or_foreign_records_are_refused_never_misread() {
    use crate::oracle::{Agg, Column, Feature};
    let count = |window| Feature {
        agg: Agg::Count,
        column: Column::Rows,
        window,
    };
    let def = view(&[count(Some(10))], None, false);
    let mut state = ViewState::new(def.clone());
    let e = crate::engine::raw_event(1, 5, 1);
    state.ingest(&row(&e, Some(true)), Timestamp(0), 1).unwrap();
    let record = state.entity_record(&EntityKey::int(1)).unwrap();

    let other = view(&[count(Some(20))], None, false);
    let err = RecordReader::new(&other)
        .read(Some(&record), 5, i64::MAX)
        .unwrap_err();
    assert!(
        matches!(err, RecordError::DefinitionChanged { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("freshet backfill"));

    let reader = RecordReader::new(&def);
    for cut in 0..record.len() {
        // Truncated records are errors, not panics and not wrong values.
        if let Ok(row) = reader.read(Some(&record[..cut]), 5, i64::MAX) {
            panic!("a record cut at {cut} was read as {row:?}");
        }
    }
    for byte in 0..record.len() {
        let mut flipped = record.clone();
        flipped[byte] ^= 0x5a;
        let _ = reader.read(Some(&flipped), 5, i64::MAX);
    }
}

#[test]
fn a_record_whose_columns_do_not_fit_together_is_refused() {
    use crate::oracle::{Agg, Column, Feature};
    let sum = Feature {
        agg: Agg::Sum,
        column: Column::X,
        window: Some(10),
    };
    let def = view(&[sum], None, false);
    let mut state = ViewState::new(def.clone());
    for (i, t) in [3, 5].into_iter().enumerate() {
        let e = crate::engine::raw_event(1, t, i as u64 + 1);
        state
            .ingest(&row(&e, Some(true)), Timestamp(0), e.position)
            .unwrap();
    }
    let record = state.entity_record(&EntityKey::int(1)).unwrap();
    // FRE2 body: u32 event count, 24 bytes per event, u32 value count, the values. One more null
    // value (tag 0) still decodes, but no longer fits one input per event.
    let word = |at: usize| u32::from_le_bytes(record[at..at + 4].try_into().unwrap()) as usize;
    let events = word(28);
    let values_at = 32 + 24 * events;
    let values = word(values_at);
    assert_eq!(values, events, "one input per event");
    let mut end = values_at + 4;
    for _ in 0..values {
        end += if record[end] == 0 { 1 } else { 9 };
    }
    let mut damaged = record[..values_at].to_vec();
    damaged.extend_from_slice(&(values as u32 + 1).to_le_bytes());
    damaged.extend_from_slice(&record[values_at + 4..end]);
    damaged.push(0);
    damaged.extend_from_slice(&record[end..]);
    let err = RecordReader::new(&def)
        .read(Some(&damaged), 5, i64::MAX)
        .unwrap_err();
    assert!(matches!(err, RecordError::Malformed(_)), "{err}");
    assert!(err.to_string().contains("3 values for 2 events"), "{err}");
    let mut loaded = ViewState::new(def);
    assert!(
        loaded
            .load_entity_record(EntityKey::int(1), &damaged)
            .is_err()
    );
    assert!(
        loaded
            .load_entity_record(EntityKey::int(1), &record)
            .is_ok()
    );
}
