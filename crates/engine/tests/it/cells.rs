//! Preparing from borrowed cells (`Preparer::prepare_cells_routed`, the columnar reader's path)
//! against preparing from rows of values: the same events in the same batches, and the same rows
//! refused, for any row, well-formed or not.

use crate::engine::feature;
use crate::support::{columns, view};
use freshet_engine::run::{CellColumn, ColumnRun};
use freshet_engine::{Cell, DataType, EntityKey, EventBatch, Timestamp, Value, ViewDef};
use proptest::prelude::*;

/// A value for a column of the test schema: mostly of the column's type, sometimes null or of
/// another type (which the row path refuses).
fn value(column: usize) -> impl Strategy<Value = Value> {
    let right = match column {
        0 | 3 | 5 => (0i64..6).prop_map(Value::Int64).boxed(),
        1 | 7 => (-5i64..50)
            .prop_map(|t| Value::Timestamp(Timestamp(t)))
            .boxed(),
        2 => prop_oneof![Just(f64::NAN), -3.0f64..3.0]
            .prop_map(Value::Float64)
            .boxed(),
        4 => "[a-c]{0,2}".prop_map(|s| Value::from(s.as_str())).boxed(),
        _ => any::<bool>().prop_map(Value::Bool).boxed(),
    };
    prop_oneof![
        8 => right,
        1 => Just(Value::Null),
        1 => prop_oneof![
            Just(Value::Int64(1)),
            Just(Value::Float64(0.5)),
            Just(Value::from("k")),
            Just(Value::Bool(true)),
            Just(Value::Timestamp(Timestamp(3))),
        ],
    ]
}

fn row() -> impl Strategy<Value = Vec<Value>> {
    (0..8).map(value).collect::<Vec<_>>()
}

/// A view the cell path takes whole: no filter, no ingest-time column, no event id.
fn plain(def: ViewDef) -> ViewDef {
    ViewDef {
        filter: None,
        ingest_time_column: None,
        event_id_column: None,
        ..def
    }
}

fn route(key: &EntityKey) -> usize {
    match key {
        EntityKey::Single(freshet_engine::KeyPart::Int(k)) => *k as usize,
        _ => 1,
    }
}

proptest! {
    #[test]
    fn cells_prepare_what_rows_prepare(
        features in prop::collection::vec(feature(), 1..5),
        rows in prop::collection::vec(row(), 0..60),
        is_plain in prop::bool::weighted(0.8),
    ) {
        let def = view(&features, None, false);
        let def = if is_plain { plain(def) } else { def };
        prop_assert_eq!(def.columns.len(), columns().len());
        let batches = || (0..3).map(|_| EventBatch::with_capacity(&def, 8)).collect::<Vec<_>>();
        let (mut by_rows, mut by_cells) = (batches(), batches());
        let (mut rows_preparer, mut cells_preparer) = (def.preparer(), def.preparer());
        prop_assert_eq!(cells_preparer.takes_cells(), is_plain);
        for (i, r) in rows.iter().enumerate() {
            let ingest = Timestamp(100 + i as i64);
            let from_row = rows_preparer.prepare_routed(&mut by_rows, route, r, ingest, i as u64);
            let from_cells = cells_preparer.prepare_cells_routed(
                &mut by_cells,
                route,
                |c| r.get(c).map_or(Cell::Null, Value::as_cell),
                ingest,
                i as u64,
            );
            prop_assert_eq!(from_row, from_cells, "row {}: {:?}", i, r);
        }
        // Compared as text: a NaN input is the same NaN on both sides, but not equal to itself.
        prop_assert_eq!(format!("{by_rows:?}"), format!("{by_cells:?}"));

        // Rows whose cells all have their column's type (what a columnar reader guarantees) prepare
        // alike through the typed path, which skips the type checks.
        let (mut by_row, mut by_typed) = (EventBatch::with_capacity(&def, 8), EventBatch::with_capacity(&def, 8));
        let (mut row_preparer, mut typed_preparer) = (def.preparer(), def.preparer());
        let typed_rows = rows.iter().filter(|r| r.iter().zip(&def.columns).all(|(v, (_, t))| v.as_cell().fits(*t)));
        for (i, r) in typed_rows.enumerate() {
            let ingest = Timestamp(100 + i as i64);
            let from_row = row_preparer.prepare_into(&mut by_row, r, ingest, i as u64);
            let from_typed = typed_preparer.prepare_typed_cells(
                &mut by_typed,
                |c| r.get(c).map_or(Cell::Null, Value::as_cell),
                ingest,
                i as u64,
            );
            prop_assert_eq!(from_row, from_typed, "row {}: {:?}", i, r);
        }
        prop_assert_eq!(format!("{by_row:?}"), format!("{by_typed:?}"));
    }

    #[test]
    fn runs_prepare_what_typed_rows_prepare(
        features in prop::collection::vec(feature(), 1..5),
        rows in prop::collection::vec(row(), 0..60),
        is_plain in prop::bool::weighted(0.8),
        cuts in prop::collection::vec(0usize..60, 0..6),
        dictionaries in any::<bool>(),
    ) {
        let def = view(&features, None, false);
        let def = if is_plain { plain(def) } else { def };
        let typed: Vec<&Vec<Value>> = rows.iter().filter(|r| r.iter().zip(&def.columns).all(|(v, (_, t))| v.as_cell().fits(*t))).collect();
        let ingest: Vec<i64> = (0..typed.len() as i64).map(|i| 100 + i).collect();
        let positions: Vec<i64> = (0..typed.len() as i64).collect();
        let (mut by_row, mut by_run) = (EventBatch::with_capacity(&def, 8), EventBatch::with_capacity(&def, 8));
        let (mut row_preparer, mut run_preparer) = (def.preparer(), def.preparer());
        let mut accepted = 0;
        for (i, r) in typed.iter().enumerate() {
            let prepared = row_preparer.prepare_typed_cells(&mut by_row, |c| r.get(c).map_or(Cell::Null, Value::as_cell), Timestamp(ingest[i]), i as u64);
            accepted += usize::from(prepared == Ok(true));
        }
        // Each text column also as a dictionary of its distinct texts (one per column, its id the
        // column's number, the same in every run) and each row's key into it.
        let mut dictionary: Vec<(Values, Vec<Option<i32>>)> = Vec::new();
        for c in 0..def.columns.len() {
            let mut distinct: Vec<Value> = Vec::new();
            let keys = typed.iter().map(|r| match &r[c] {
                Value::String(text) => {
                    let at = distinct.iter().position(|d| matches!(d, Value::String(x) if x == text));
                    Some(at.unwrap_or_else(|| { distinct.push(r[c].clone()); distinct.len() - 1 }) as i32)
                }
                _ => None,
            }).collect();
            dictionary.push((Values(distinct), keys));
        }
        // The same rows in runs cut anywhere, each column a slice where it can be one.
        let mut bounds: Vec<usize> = cuts.into_iter().filter(|&c| c < typed.len()).collect();
        bounds.extend([0, typed.len()]);
        bounds.sort_unstable();
        bounds.dedup();
        let mut run_accepted = 0;
        for w in bounds.windows(2) {
            let (start, end) = (w[0], w[1]);
            let columns: Vec<Values> = (0..def.columns.len()).map(|c| Values(typed[start..end].iter().map(|r| r[c].clone()).collect())).collect();
            let slices: Vec<Option<Vec<i64>>> = columns.iter().map(|c| c.0.iter().map(|v| match v { Value::Int64(x) => Some(*x), Value::Timestamp(t) => Some(t.0), _ => None }).collect()).collect();
            let floats: Vec<Option<Vec<f64>>> = columns.iter().map(|c| c.0.iter().map(|v| match v { Value::Float64(x) => Some(*x), _ => None }).collect()).collect();
            let keys: Vec<Option<Vec<i32>>> = dictionary.iter().map(|(_, k)| k[start..end].iter().copied().collect()).collect();
            let column = |c: usize| match (def.columns[c].1, &slices[c], &floats[c]) {
                (DataType::String, _, _) if dictionaries && keys[c].is_some() => ColumnRun::Dictionary {
                    keys: keys[c].as_deref().unwrap_or_default(),
                    values: &dictionary[c].0,
                    id: c as u64,
                },
                (DataType::Int64, Some(v), _) => ColumnRun::Int64(v),
                (DataType::Timestamp, Some(v), _) => ColumnRun::Timestamp(v),
                (DataType::Float64, _, Some(v)) => ColumnRun::Float64(v),
                _ => ColumnRun::Cells { column: &columns[c], start: 0 },
            };
            run_accepted += run_preparer.prepare_run(&mut by_run, end - start, column, &ingest[start..end], &positions[start..end]);
        }
        prop_assert_eq!(accepted, run_accepted);
        prop_assert_eq!(format!("{by_row:?}"), format!("{by_run:?}"));
    }
}

/// A column of values, read cell by cell.
struct Values(Vec<Value>);

impl CellColumn for Values {
    fn cell(&self, row: usize) -> Cell<'_> {
        self.0.get(row).map_or(Cell::Null, Value::as_cell)
    }
}
