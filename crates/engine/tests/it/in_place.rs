//! Answering in place ([`freshet_engine::in_place`]): the answers of a prepared batch, and a refusal
//! that answers nothing when the events are not each once in canonical order.

use crate::oracle::{Agg, Column, Feature, RawEvent};
use crate::support::{row, view};
use freshet_engine::in_place::{RowSource, answers_in_place};
use freshet_engine::{
    Cell, EntityAnswerer, EventBatch, EventOrder, QueryError, Timestamp, Value, ViewDef, ViewRow,
};

/// Rows of values, as a reader would have decoded them.
struct Rows(Vec<Vec<Value>>);

impl RowSource for Rows {
    fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        self.0
            .get(row)
            .and_then(|r| r.get(column))
            .map_or(Cell::Null, Value::as_cell)
    }
}

/// Picks over a float, a text and an integer, some windowed; no filter, so cells are inputs.
fn picks() -> ViewDef {
    let features = [
        (Agg::Last, Column::X, None),
        (Agg::Last, Column::X, Some(15)),
        (Agg::Last, Column::S, None),
        (Agg::First, Column::Y, Some(25)),
        (Agg::First, Column::S, None),
    ]
    .map(|(agg, column, window)| Feature {
        agg,
        column,
        window,
    });
    ViewDef {
        filter: None,
        ingest_time_column: None,
        event_id_column: None,
        ..view(&features, None, false)
    }
}

/// One entity's events in canonical order, with nulls and a NaN among their values.
fn events() -> Vec<RawEvent> {
    (0..7u64)
        .map(|i| RawEvent {
            key: 1,
            event_time: 100 + 10 * i as i64,
            ingest_time: 100 + 10 * i as i64 + 3,
            position: i,
            id: None,
            passes_filter: true,
            x: match i {
                2 => None,
                5 => Some(f64::NAN),
                _ => Some(i as f64),
            },
            y: (i % 3 != 0).then_some(i as i64),
            s: (i != 4).then(|| format!("s{}", i % 2)),
        })
        .collect()
}

type Answers = Vec<Result<ViewRow, QueryError>>;

const QUERIES: [(i64, i64); 6] = [
    (95, i64::MAX),
    (120, i64::MAX),
    (151, i64::MAX),
    (162, 150),
    (175, i64::MAX),
    (400, i64::MAX),
];

fn through_a_batch(def: &ViewDef, events: &[RawEvent]) -> Answers {
    let mut batch = EventBatch::with_capacity(def, events.len());
    let mut preparer = def.preparer();
    for e in events {
        preparer
            .prepare_into(
                &mut batch,
                &row(e, Some(true)),
                Timestamp(e.ingest_time),
                e.position,
            )
            .unwrap();
    }
    let mut answers = Vec::new();
    EntityAnswerer::new(def).answer(&batch, QUERIES, |a| answers.push(a.cloned()));
    answers
}

fn order(e: &RawEvent) -> EventOrder {
    EventOrder {
        event_time: e.event_time,
        ingest_time: e.ingest_time,
        position: e.position,
    }
}

#[test]
fn picks_read_in_place_equal_the_batch_answers_and_unordered_events_are_refused() {
    let def = picks();
    assert!(answers_in_place(&def));
    let events = events();
    let expected = through_a_batch(&def, &events);
    // The rows in two runs of two "batches", the second run starting inside its batch.
    let rows =
        |from: usize, to: usize| Rows(events[from..to].iter().map(|e| row(e, None)).collect());
    let runs = [(rows(0, 3), 0..3), (rows(2, 7), 1..5)];
    let orders: Vec<EventOrder> = events.iter().map(order).collect();
    let mut answers = Vec::new();
    let done = EntityAnswerer::new(&def).answer_in_place(&orders, &runs, QUERIES, |a| {
        answers.push(a.map(|picked| picked.to_row()))
    });
    assert!(done);
    assert_eq!(answers, expected);

    // Out of canonical order, repeated, or runs not matching the orders: nothing answered.
    let mut swapped = orders.clone();
    swapped.swap(1, 2);
    let mut repeated = orders.clone();
    repeated[3] = repeated[2];
    let short = &orders[..6];
    for bad in [&swapped[..], &repeated[..], short] {
        let mut answered = 0;
        let done =
            EntityAnswerer::new(&def).answer_in_place(bad, &runs, QUERIES, |_| answered += 1);
        assert!(!done);
        assert_eq!(answered, 0);
    }

    // A view that folds every event of a window, or filters, is not answered in place.
    let sums = ViewDef {
        features: view(
            &[Feature {
                agg: Agg::Sum,
                column: Column::X,
                window: None,
            }],
            None,
            false,
        )
        .features,
        ..picks()
    };
    assert!(!answers_in_place(&sums));
    assert!(!answers_in_place(&view(
        &[Feature {
            agg: Agg::Last,
            column: Column::X,
            window: None
        }],
        None,
        false
    )));
}
