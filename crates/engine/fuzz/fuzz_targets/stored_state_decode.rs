//! Fuzz target: arbitrary bytes as a stored entity record (`FRE2`, or `FRE1` from earlier builds)
//! and as a view snapshot, the two encodings freshet reads back from disk, Redis and checkpoints.
//! Damaged input must be an error, never a panic, a hang or an allocation sized by a bad count; a
//! record that decodes must answer a query like the state it loads into. Run:
//! `cd crates/engine/fuzz && cargo fuzz run stored_state_decode -s none`.

#![no_main]

use freshet_engine::{
    Aggregation, DataType, EntityKey, FeatureDef, RecordReader, Timestamp, ViewDef, ViewState,
};
use libfuzzer_sys::fuzz_target;

fn view() -> ViewDef {
    let feature = |name: &str, aggregation, column, window| FeatureDef {
        name: name.into(),
        aggregation,
        column,
        window,
        n: None,
    };
    ViewDef {
        name: "fuzz".into(),
        columns: vec![
            ("key".into(), DataType::Int64),
            ("x".into(), DataType::Float64),
            ("ts".into(), DataType::Timestamp),
        ],
        key_columns: vec![0],
        timestamp_column: 2,
        ingest_time_column: None,
        event_id_column: None,
        derived: vec![],
        filter: None,
        ttl: None,
        features: vec![
            feature("n", Aggregation::Count, None, Some(60_000_000)),
            feature("total", Aggregation::Sum, Some(1), None),
        ],
    }
}

fuzz_target!(|data: &[u8]| {
    let def = view();
    let mut state = ViewState::new(def.clone());
    let _ = state.restore(data);

    // As a record: the header is taken from a real record, so the fuzzer reaches the body.
    let mut seed = ViewState::new(def.clone());
    let row = [
        freshet_engine::Value::Int64(1),
        freshet_engine::Value::Float64(2.5),
        freshet_engine::Value::Timestamp(Timestamp(1_000)),
    ];
    let _ = seed.ingest(&row, Timestamp(5), 7);
    let Some(mut record) = seed.entity_record(&EntityKey::int(1)) else {
        return;
    };
    record.truncate(28);
    record.extend_from_slice(data);
    let reader = RecordReader::new(&def);
    let read = reader.read(Some(&record), 1_000, i64::MAX);
    let mut loaded = ViewState::new(def);
    if loaded.load_entity_record(EntityKey::int(1), &record).is_ok() {
        let direct = loaded.read(&EntityKey::int(1), 1_000, i64::MAX);
        assert_eq!(read.ok(), direct.ok());
    }
});
