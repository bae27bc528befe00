//! Stored formats written by earlier builds are still read: an `FRE1` entity record and a format-2
//! snapshot (postcard layouts, before the fixed-width `FRE2` / format 3), kept as fixtures that an
//! earlier build wrote from the state [`legacy_state`] builds. Upgrading freshet must not force a
//! backfill of the online store or a replay from the start of the log.

use crate::support::{columns, view};
use freshet_engine::snapshot::FORMAT_VERSION;
use freshet_engine::{EntityKey, RecordReader, Timestamp, Value, ViewState};

const MINUTE: i64 = 60_000_000;

/// A state with every part an encoding must carry: retained events with ids and text, an eviction
/// summary with unbounded accumulators and evicted ids, several entities.
pub(crate) fn legacy_state() -> ViewState {
    use crate::oracle::{Agg, Column, Feature};
    let feature = |agg, column, window| Feature {
        agg,
        column,
        window,
    };
    let def = view(
        &[
            feature(Agg::Count, Column::Rows, Some(10 * MINUTE)),
            feature(Agg::Sum, Column::X, None),
            feature(Agg::CountDistinct, Column::S, None),
            feature(Agg::Last, Column::S, Some(30 * MINUTE)),
            feature(Agg::Max, Column::Y, Some(30 * MINUTE)),
        ],
        None,
        true,
    );
    assert_eq!(columns().len(), 8);
    let mut state = ViewState::new(def);
    for i in 0..40i64 {
        let row = vec![
            Value::Int64(i % 3),
            Value::Timestamp(Timestamp(1_700_000_000_000_000 + i * 2 * MINUTE)),
            Value::Float64(i as f64 * 0.5 - 3.0),
            if i % 5 == 0 {
                Value::Null
            } else {
                Value::Int64(i * 7 - 100)
            },
            Value::from(format!("s{}", i % 4).as_str()),
            Value::Int64(1_000 + i),
            Value::Bool(true),
            Value::Timestamp(Timestamp(1_700_000_000_000_000 + i * 2 * MINUTE + 5)),
        ];
        state.ingest(&row, Timestamp(0), i as u64).unwrap();
    }
    state.evict(1_700_000_000_000_000 + 60 * MINUTE);
    state
}

#[test]
fn a_format_2_snapshot_restores_the_state_it_was_taken_of() {
    let fresh = legacy_state();
    assert_eq!(
        FORMAT_VERSION, 3,
        "add the new format's fixture before changing this"
    );
    let mut restored = ViewState::new(fresh.def().clone());
    restored
        .restore(include_bytes!("fixtures/snapshot-format-2.bin"))
        .unwrap();
    assert_eq!(restored.snapshot(), fresh.snapshot());
}

#[test]
fn an_fre1_record_reads_and_loads_as_the_state_it_was_encoded_from() {
    let fresh = legacy_state();
    let key = EntityKey::int(1);
    let old = include_bytes!("fixtures/record-fre1.bin");
    assert_eq!(&old[16..20], b"FRE1");
    let reader = RecordReader::new(fresh.def());
    for minute in [60, 70, 79, 100] {
        let t = 1_700_000_000_000_000 + minute * MINUTE;
        assert_eq!(
            reader.read(Some(old), t, i64::MAX).unwrap(),
            fresh.read(&key, t, i64::MAX).unwrap()
        );
    }
    let mut loaded = ViewState::new(fresh.def().clone());
    loaded.load_entity_record(key.clone(), old).unwrap();
    let new = loaded.entity_record(&key).unwrap();
    assert_eq!(&new[16..20], b"FRE2");
    // Same version prefix, so stores order old and new records of one state alike.
    assert_eq!(new[..16], old[..16]);
    assert_eq!(Some(new), fresh.entity_record(&key));
}
