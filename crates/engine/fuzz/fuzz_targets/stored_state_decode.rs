//! Fuzz target: arbitrary bytes as a stored entity record (`FRE2`, or `FRE1` from earlier builds)
//! and as a view snapshot, the two encodings freshet reads back from disk, Redis and checkpoints.
//! Damaged input must be an error, never a panic, a hang or an allocation sized by a bad count; a
//! record that decodes must answer a query like the state it loads into. Run:
//! `cd crates/engine/fuzz && cargo fuzz run stored_state_decode -s none`.

#![no_main]

// Shared with the property tests; this target uses a few of their items.
#[allow(dead_code)]
#[path = "../../tests/it/oracle.rs"]
mod oracle;
#[allow(dead_code)]
#[path = "../../tests/it/support.rs"]
mod support;

use freshet_engine::{EntityKey, RecordReader, Timestamp, ViewState};
use libfuzzer_sys::fuzz_target;
use oracle::{Agg, Column, Feature, RawEvent};

fuzz_target!(|data: &[u8]| {
    // A windowed count, an unbounded sum (an accumulator in the eviction summary) and event ids.
    let def = support::view(
        &[
            Feature {
                agg: Agg::Count,
                column: Column::Rows,
                window: Some(60),
            },
            Feature {
                agg: Agg::Sum,
                column: Column::X,
                window: None,
            },
        ],
        None,
        true,
    );
    let mut state = ViewState::new(def.clone());
    let _ = state.restore(data);

    // As a record: the header is taken from a real record, so the fuzzer reaches the body.
    let mut seed = ViewState::new(def.clone());
    let event = RawEvent {
        key: 1,
        event_time: 10,
        ingest_time: 5,
        position: 7,
        id: Some(3),
        passes_filter: true,
        x: Some(2.5),
        y: None,
        s: None,
    };
    let _ = seed.ingest(
        &support::row(&event, Some(true)),
        Timestamp(0),
        event.position,
    );
    let Some(mut record) = seed.entity_record(&EntityKey::int(1)) else {
        return;
    };
    record.truncate(28);
    record.extend_from_slice(data);
    let reader = RecordReader::new(&def);
    let read = reader.read(Some(&record), 10, i64::MAX);
    let mut loaded = ViewState::new(def);
    if loaded
        .load_entity_record(EntityKey::int(1), &record)
        .is_ok()
    {
        let direct = loaded.read(&EntityKey::int(1), 10, i64::MAX);
        assert_eq!(read.ok(), direct.ok());
    }
});
