//! The engine against the oracle: incremental ingestion, the batch path and the naive oracle agree for
//! random events (late, duplicated, out of order, with nulls), random views and random queries at window
//! and TTL edges; snapshots and eviction change nothing they should not.

use crate::oracle::{self, Agg, Answer, Column, Feature, RawEvent, Scalar, Status};
use crate::support::{row, status, to_oracle, view};
use freshet_engine::{
    EntityAnswerer, EntityKey, EventBatch, EventError, FeatureStatus, FeatureValue, IngestOutcome,
    InsertOutcome, Query, QueryError, Timestamp, Value, ViewDef, ViewRow, ViewState, answer_batch,
    answer_batch_each,
};
use proptest::prelude::*;

pub(crate) const KEYS: i64 = 3;

pub(crate) fn feature() -> impl Strategy<Value = Feature> {
    let numeric = prop_oneof![Just(Column::X), Just(Column::Y)];
    let any_column = prop_oneof![Just(Column::X), Just(Column::Y), Just(Column::S)];
    let window = prop_oneof![
        Just(None),
        Just(Some(1)),
        Just(Some(5)),
        Just(Some(10)),
        Just(Some(30))
    ];
    let agg_col = prop_oneof![
        Just((Agg::Count, Column::Rows)),
        any_column.clone().prop_map(|c| (Agg::Count, c)),
        numeric.clone().prop_map(|c| (Agg::Sum, c)),
        numeric.clone().prop_map(|c| (Agg::Mean, c)),
        any_column.clone().prop_map(|c| (Agg::Min, c)),
        any_column.clone().prop_map(|c| (Agg::Max, c)),
        numeric.clone().prop_map(|c| (Agg::Stddev, c)),
        numeric.prop_map(|c| (Agg::Variance, c)),
        any_column.clone().prop_map(|c| (Agg::First, c)),
        any_column.clone().prop_map(|c| (Agg::Last, c)),
        (any_column.clone(), 1usize..4).prop_map(|(c, n)| (Agg::LastN(n), c)),
        any_column.clone().prop_map(|c| (Agg::CountDistinct, c)),
        any_column.prop_map(|c| (Agg::ApproxCountDistinct, c)),
    ];
    (agg_col, window).prop_map(|((agg, column), window)| Feature {
        agg,
        column,
        window,
    })
}

/// Features that each pick a value (`last`, `first`) over two columns and several windows, so that
/// several read one column: a query shares one scan back per column between its `last` features.
fn picks() -> impl Strategy<Value = Vec<Feature>> {
    let window = prop_oneof![Just(None), Just(Some(1)), Just(Some(5)), Just(Some(30))];
    let agg = prop_oneof![3 => Just(Agg::Last), 1 => Just(Agg::First)];
    let column = prop_oneof![Just(Column::X), Just(Column::S)];
    let feature = (agg, column, window).prop_map(|(agg, column, window)| Feature {
        agg,
        column,
        window,
    });
    prop::collection::vec(feature, 2..7)
}

#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub(crate) features: Vec<Feature>,
    pub(crate) ttl: Option<i64>,
    pub(crate) with_ids: bool,
    pub(crate) events: Vec<(RawEvent, Option<bool>)>,
    pub(crate) arrival: Vec<usize>,
    pub(crate) queries: Vec<(i64, i64, i64)>,
}

fn event(position: u64) -> impl Strategy<Value = (RawEvent, Option<bool>)> {
    (
        0..KEYS,
        0i64..60,
        prop_oneof![3 => Just(0i64), 1 => 0i64..40],
        prop::option::weighted(
            0.8,
            prop_oneof![-1000.0f64..1000.0, Just(0.0), Just(-0.0), Just(2.5)],
        ),
        prop::option::weighted(0.8, prop_oneof![-50i64..50, Just(i64::MAX), Just(i64::MIN)]),
        prop::option::weighted(0.8, prop::sample::select(vec!["a", "b", "c", "bb"])),
        prop::option::of(0i64..8),
        prop_oneof![6 => Just(Some(true)), 1 => Just(Some(false)), 1 => Just(None)],
    )
        .prop_map(move |(key, event_time, delay, x, y, s, id, keep)| {
            let e = RawEvent {
                key,
                event_time,
                ingest_time: event_time + delay,
                position,
                id,
                passes_filter: keep == Some(true),
                x,
                y,
                s: s.map(str::to_owned),
            };
            (e, keep)
        })
}

pub(crate) fn scenario() -> impl Strategy<Value = Scenario> {
    let features = prop::collection::vec(feature(), 1..6);
    let ttl = prop_oneof![Just(None), Just(Some(5i64)), Just(Some(20))];
    (features, ttl, any::<bool>(), 0usize..40)
        .prop_flat_map(|(features, ttl, with_ids, n)| {
            let events: Vec<_> = (0..n as u64).map(event).collect();
            (
                Just(features),
                Just(ttl),
                Just(with_ids),
                events,
                any::<u64>(),
                prop::collection::vec(
                    (
                        0..KEYS + 1,
                        -5i64..70,
                        prop_oneof![Just(None), Just(Some(0i64)), (-20i64..20).prop_map(Some)],
                        any::<prop::sample::Index>(),
                        any::<bool>(),
                    ),
                    1..25,
                ),
            )
        })
        .prop_map(|(features, ttl, with_ids, mut events, seed, raw_queries)| {
            let ttl: Option<i64> = ttl;
            // Replays: some records arrive twice, identical.
            let replayed: Vec<_> = events
                .iter()
                .filter(|(e, _)| e.position % 7 == 3)
                .cloned()
                .collect();
            events.extend(replayed);
            let mut arrival: Vec<usize> = (0..events.len()).collect();
            // A seeded shuffle: arrival order is independent of canonical order.
            let mut state = seed | 1;
            for i in (1..arrival.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                arrival.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let queries = raw_queries
                .into_iter()
                .map(|(key, t, k_offset, pick, on_edge)| {
                    // Half the queries sit exactly on an event time, a window edge or a TTL edge.
                    let t = if on_edge && !events.is_empty() {
                        let (e, _) = &events[pick.index(events.len())];
                        let w = features[pick.index(features.len())].window.unwrap_or(0);
                        match t.rem_euclid(3) {
                            0 => e.event_time,
                            1 => e.event_time + w,
                            _ => e.event_time + ttl.unwrap_or(0),
                        }
                    } else {
                        t
                    };
                    let k = k_offset.map_or(i64::MAX, |o| t + o);
                    (key, t, k)
                })
                .collect();
            Scenario {
                features,
                ttl,
                with_ids,
                events,
                arrival,
                queries,
            }
        })
}

/// The events as the oracle sees them: ids only matter when the view declares an id column.
fn raw_events(s: &Scenario) -> Vec<RawEvent> {
    s.events
        .iter()
        .map(|(e, _)| RawEvent {
            id: if s.with_ids { e.id } else { None },
            ..e.clone()
        })
        .collect()
}

pub(crate) fn ingest_all(state: &mut ViewState, s: &Scenario, order: &[usize]) {
    for &i in order {
        let (e, keep) = &s.events[i];
        state
            .ingest(&row(e, *keep), Timestamp(0), e.position)
            .unwrap();
    }
}

fn assert_matches_oracle(
    s: &Scenario,
    got: &ViewRow,
    key: i64,
    t: i64,
    k: i64,
) -> Result<(), TestCaseError> {
    let (answers, statuses) = oracle::evaluate(&raw_events(s), &s.features, s.ttl, key, t, k);
    let got_statuses: Vec<Status> = got.statuses.iter().map(|x| status(*x)).collect();
    prop_assert_eq!(
        &got_statuses,
        &statuses,
        "statuses for key {} t {} k {}",
        key,
        t,
        k
    );
    for (i, (value, expected)) in got.values.iter().zip(&answers).enumerate() {
        let value = to_oracle(value);
        if s.features[i].agg == Agg::ApproxCountDistinct {
            let (Answer::Scalar(Scalar::Int(a)), Answer::Scalar(Scalar::Int(b))) =
                (&value, expected)
            else {
                prop_assert_eq!(&value, expected);
                continue;
            };
            prop_assert!(
                (a - b).abs() <= 2.max(b / 20),
                "approx {} vs exact {}",
                a,
                b
            );
        } else {
            prop_assert_eq!(
                &value,
                expected,
                "feature {} ({:?}) key {} t {} k {}",
                i,
                s.features[i],
                key,
                t,
                k
            );
        }
    }
    Ok(())
}

/// 512 cases by default; `PROPTEST_CASES=N` runs more (for a deeper search before a release).
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig {
            cases: 512,
            ..default
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn incremental_batch_and_oracle_agree(s in scenario()) {
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut state = ViewState::new(def.clone());
        ingest_all(&mut state, &s, &s.arrival);

        // Half the events prepared one by one, half straight into a batch: both must build the same.
        let mut scratch = Vec::new();
        let (first, second) = s.events.split_at(s.events.len() / 2);
        let mut prepared: EventBatch = first.iter().filter_map(|(e, keep)| def.prepare(&row(e, *keep), Timestamp(0), e.position, &mut scratch).unwrap()).collect();
        let mut rest = EventBatch::with_capacity(&def, second.len());
        let mut preparer = def.preparer();
        for (e, keep) in second {
            preparer.prepare_into(&mut rest, &row(e, *keep), Timestamp(0), e.position).unwrap();
        }
        let queries: Vec<Query> = s.queries.iter().map(|&(key, t, k)| Query { key: EntityKey::int(key), t, k }).collect();
        // Left in their two batches (an entity's events spread over both), answered one at a time:
        // each query exactly once.
        let mut answers: Vec<Vec<_>> = vec![Vec::new(); queries.len()];
        answer_batch_each(&def, vec![prepared.clone(), rest.clone()], &queries, |q, a| answers[q].push(a));
        prop_assert!(answers.iter().all(|a| a.len() == 1), "a query answered other than once");
        prepared.append(&mut rest);
        let batch = answer_batch(&def, prepared, &queries);
        for (each, held) in answers.iter().zip(&batch) {
            prop_assert_eq!(&each[0], held);
        }

        // Entity by entity through one reused batch, events in arrival order (a reader merging
        // files sorted by key): the same answers.
        let mut answerer = EntityAnswerer::new(&def);
        let mut one = EventBatch::with_capacity(&def, 0);
        let mut keys: Vec<i64> = s.queries.iter().map(|q| q.0).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            one.clear();
            for &i in &s.arrival {
                let (e, keep) = &s.events[i];
                if e.key == key {
                    preparer.prepare_into(&mut one, &row(e, *keep), Timestamp(0), e.position).unwrap();
                }
            }
            let asked: Vec<usize> = (0..s.queries.len()).filter(|&q| s.queries[q].0 == key).collect();
            let mut got = Vec::new();
            answerer.answer(&one, asked.iter().map(|&q| (s.queries[q].1, s.queries[q].2)), |a| got.push(a.cloned()));
            prop_assert_eq!(got.len(), asked.len());
            for (&q, answer) in asked.iter().zip(&got) {
                prop_assert_eq!(answer, &batch[q], "entity by entity differs at {:?}", queries[q]);
            }
        }

        for (q, batch) in queries.iter().zip(batch) {
            let incremental = state.read(&q.key, q.t, q.k).unwrap();
            prop_assert_eq!(&incremental, &batch.unwrap(), "incremental and batch differ at {:?}", q);
            let EntityKey::Single(freshet_engine::KeyPart::Int(key)) = q.key else { unreachable!() };
            assert_matches_oracle(&s, &incremental, key, q.t, q.k)?;
        }
    }

    #[test]
    fn picks_sharing_a_column_agree_with_the_oracle(s in scenario(), features in picks()) {
        let s = Scenario { features, ..s };
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut state = ViewState::new(def.clone());
        ingest_all(&mut state, &s, &s.arrival);
        let batch: EventBatch = s.events.iter().filter_map(|(e, keep)| def.prepare(&row(e, *keep), Timestamp(0), e.position, &mut Vec::new()).unwrap()).collect();
        let queries: Vec<Query> = s.queries.iter().map(|&(key, t, k)| Query { key: EntityKey::int(key), t, k }).collect();
        let answers = answer_batch(&def, batch, &queries);
        for (&(key, t, k), answer) in s.queries.iter().zip(answers) {
            let incremental = state.read(&EntityKey::int(key), t, k).unwrap();
            prop_assert_eq!(&incremental, &answer.unwrap(), "incremental and batch differ at ({}, {}, {})", key, t, k);
            assert_matches_oracle(&s, &incremental, key, t, k)?;
        }
    }

    #[test]
    fn arrival_order_does_not_change_the_state(s in scenario()) {
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut shuffled = ViewState::new(def.clone());
        ingest_all(&mut shuffled, &s, &s.arrival);
        let mut sorted = ViewState::new(def);
        let in_order: Vec<usize> = (0..s.events.len()).collect();
        ingest_all(&mut sorted, &s, &in_order);
        prop_assert_eq!(shuffled.snapshot(), sorted.snapshot(), "same events, different bytes");
    }

    #[test]
    fn batch_ingestion_equals_row_by_row(s in scenario(), chunk in 1usize..50) {
        let def = view(&s.features, s.ttl, s.with_ids);
        let ordered: Vec<Vec<Value>> = s.arrival.iter().map(|&i| row(&s.events[i].0, s.events[i].1)).collect();
        let positions: Vec<u64> = s.arrival.iter().map(|&i| s.events[i].0.position).collect();
        let mut one_by_one = ViewState::new(def.clone());
        let mut batched = ViewState::new(def);
        // Positions must be consecutive within a batch call, so batch runs of consecutive positions only.
        let mut start = 0;
        while start < ordered.len() {
            let mut end = start + 1;
            while end < ordered.len() && end - start < chunk && positions[end] == positions[end - 1] + 1 {
                end += 1;
            }
            let outcomes = batched.ingest_batch(&ordered[start..end], Timestamp(0), positions[start]);
            for (offset, outcome) in outcomes.into_iter().enumerate() {
                let expected = one_by_one.ingest(&ordered[start + offset], Timestamp(0), positions[start + offset]);
                prop_assert_eq!(outcome, expected);
            }
            start = end;
        }
        prop_assert_eq!(batched.snapshot(), one_by_one.snapshot());
    }

    #[test]
    fn ingest_each_equals_row_by_row_and_reports_what_counts(s in scenario(), chunk in 1usize..50) {
        let def = view(&s.features, s.ttl, s.with_ids);
        // Each event with its own ingest time, so the chunks mix them.
        let events: Vec<(Vec<Value>, Timestamp, u64)> = s.arrival.iter().enumerate()
            .map(|(n, &i)| (row(&s.events[i].0, s.events[i].1), Timestamp(n as i64 * 7), s.events[i].0.position))
            .collect();
        let mut one_by_one = ViewState::new(def.clone());
        let mut each = ViewState::new(def);
        for part in events.chunks(chunk) {
            let mut reported = Vec::new();
            each.ingest_each(part, |(row, at, position)| (row.as_slice(), *at, *position), |key| reported.push(key.clone()));
            let mut expected = Vec::new();
            for (row, at, position) in part {
                let outcome = one_by_one.ingest(row, *at, *position);
                if outcome == Ok(IngestOutcome::Placed(InsertOutcome::Inserted)) {
                    expected.push(one_by_one.def().key(row).unwrap());
                }
            }
            prop_assert_eq!(reported, expected);
        }
        prop_assert_eq!(each.snapshot(), one_by_one.snapshot());
    }

    #[test]
    fn snapshot_mid_stream_then_continue_changes_nothing(s in scenario(), cut in any::<prop::sample::Index>()) {
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut uninterrupted = ViewState::new(def.clone());
        ingest_all(&mut uninterrupted, &s, &s.arrival);

        let split = cut.index(s.arrival.len() + 1);
        let mut first = ViewState::new(def.clone());
        ingest_all(&mut first, &s, &s.arrival[..split]);
        let bytes = first.snapshot();
        let mut restored = ViewState::new(def);
        restored.restore(&bytes).unwrap();
        ingest_all(&mut restored, &s, &s.arrival[split..]);
        prop_assert_eq!(restored.snapshot(), uninterrupted.snapshot());
    }

    #[test]
    fn a_trailing_watermark_keeps_every_answer_at_or_after_it(s in scenario(), lag in 0i64..40) {
        // The streaming pattern: the watermark trails the newest event time; entities evict lazily and
        // the state sweeps itself. Events reported too late are left out of the online state, so the
        // reference is a state without eviction built from exactly the events that were accepted.
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut trailing = ViewState::new(def.clone());
        let mut reference = ViewState::new(def);
        let mut newest: Option<i64> = None;
        for &i in &s.arrival {
            let (e, keep) = &s.events[i];
            let top = newest.map_or(e.event_time, |n| n.max(e.event_time));
            newest = Some(top);
            trailing.advance_watermark(top - lag);
            let outcome = trailing.ingest(&row(e, *keep), Timestamp(0), e.position).unwrap();
            if outcome == IngestOutcome::Placed(InsertOutcome::TooLate) {
                // Too late: at or behind the watermark, or a copy of an evicted event id that was ingested
                // before the evicted copy (only possible with explicit ingest times, as here).
                prop_assert!(e.event_time <= top - lag || (s.with_ids && e.id.is_some()), "unexpectedly too late");
            } else {
                reference.ingest(&row(e, *keep), Timestamp(0), e.position).unwrap();
            }
        }
        let Some(newest) = newest else { return Ok(()) };
        let watermark = newest - lag;
        for &(key, t, _) in &s.queries {
            let key = EntityKey::int(key);
            match trailing.read(&key, t, i64::MAX) {
                Ok(got) => prop_assert_eq!(got, reference.read(&key, t, i64::MAX).unwrap(), "t {} watermark {}", t, watermark),
                Err(QueryError::BeforeRetention { .. }) => prop_assert!(t < watermark),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }

    #[test]
    fn eviction_keeps_every_supported_answer(s in scenario(), supported_from in 0i64..60) {
        let def = view(&s.features, s.ttl, s.with_ids);
        let mut full = ViewState::new(def.clone());
        ingest_all(&mut full, &s, &s.arrival);
        let mut evicted = full.clone();
        evicted.evict(supported_from);
        for &(key, t, _) in &s.queries {
            let key = EntityKey::int(key);
            let k = i64::MAX;
            match evicted.read(&key, t, k) {
                Ok(row) => prop_assert_eq!(row, full.read(&key, t, k).unwrap(), "t {} from {}", t, supported_from),
                Err(QueryError::BeforeRetention { .. }) => prop_assert!(t < supported_from),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}

fn simple_view() -> ViewDef {
    view(
        &[Feature {
            agg: Agg::Count,
            column: Column::Rows,
            window: Some(10),
        }],
        Some(20),
        true,
    )
}

pub(crate) fn raw_event(key: i64, event_time: i64, position: u64) -> RawEvent {
    raw(key, event_time, position)
}

fn raw(key: i64, event_time: i64, position: u64) -> RawEvent {
    RawEvent {
        key,
        event_time,
        ingest_time: event_time,
        position,
        id: None,
        passes_filter: true,
        x: Some(1.0),
        y: Some(1),
        s: None,
    }
}

#[test]
fn windows_decay_without_new_events_and_ttl_expires() {
    let mut state = ViewState::new(simple_view());
    state
        .ingest(&row(&raw(1, 100, 0), Some(true)), Timestamp(0), 0)
        .unwrap();
    let count = |t| state.read(&EntityKey::int(1), t, i64::MAX).unwrap();
    assert_eq!(count(100).values[0], FeatureValue::Scalar(Value::Int64(1)));
    assert_eq!(count(109).values[0], FeatureValue::Scalar(Value::Int64(1)));
    // (t - W, t] excludes an event exactly W old: a 10-unit count reads 0 ten units later.
    assert_eq!(count(110).values[0], FeatureValue::Scalar(Value::Int64(0)));
    assert_eq!(count(110).statuses[0], FeatureStatus::Present);
    assert_eq!(count(120).statuses[0], FeatureStatus::OutsideMaxAge);
    assert_eq!(count(99).statuses[0], FeatureStatus::NotFound);
    assert_eq!(
        state
            .read(&EntityKey::int(2), 100, i64::MAX)
            .unwrap()
            .statuses[0],
        FeatureStatus::NotFound
    );
}

#[test]
fn knowledge_cutoff_hides_late_data() {
    let mut state = ViewState::new(simple_view());
    let mut late = raw(1, 100, 0);
    late.ingest_time = 150;
    state
        .ingest(&row(&late, Some(true)), Timestamp(0), 0)
        .unwrap();
    assert_eq!(
        state.read(&EntityKey::int(1), 105, 105).unwrap().statuses[0],
        FeatureStatus::NotFound
    );
    assert_eq!(
        state
            .read(&EntityKey::int(1), 105, i64::MAX)
            .unwrap()
            .values[0],
        FeatureValue::Scalar(Value::Int64(1))
    );
}

#[test]
fn duplicates_by_id_and_by_position_count_once() {
    let mut state = ViewState::new(simple_view());
    let mut first = raw(1, 100, 0);
    first.id = Some(7);
    let mut copy = raw(1, 101, 1);
    copy.id = Some(7);
    copy.ingest_time = 102;
    assert_eq!(
        state.ingest(&row(&first, Some(true)), Timestamp(0), 0),
        Ok(IngestOutcome::Placed(InsertOutcome::Inserted))
    );
    assert_eq!(
        state.ingest(&row(&copy, Some(true)), Timestamp(0), 1),
        Ok(IngestOutcome::Placed(InsertOutcome::Duplicate))
    );
    assert_eq!(
        state.ingest(&row(&first, Some(true)), Timestamp(0), 0),
        Ok(IngestOutcome::Placed(InsertOutcome::Duplicate))
    );
    assert_eq!(
        state
            .read(&EntityKey::int(1), 105, i64::MAX)
            .unwrap()
            .values[0],
        FeatureValue::Scalar(Value::Int64(1))
    );

    // Entity by entity, the copy arriving after the first in time order (as a merge hands them):
    // still counted once.
    let def = simple_view();
    let mut preparer = def.preparer();
    let mut events = EventBatch::with_capacity(&def, 2);
    for e in [&first, &copy] {
        preparer
            .prepare_into(&mut events, &row(e, Some(true)), Timestamp(0), e.position)
            .unwrap();
    }
    let mut answers = Vec::new();
    EntityAnswerer::new(&def).answer(&events, [(105, i64::MAX)], |a| answers.push(a.cloned()));
    assert_eq!(
        answers[0].as_ref().unwrap().values[0],
        FeatureValue::Scalar(Value::Int64(1))
    );
}

#[test]
fn too_late_events_are_reported_not_misplaced() {
    let mut state = ViewState::new(simple_view());
    state
        .ingest(&row(&raw(1, 100, 0), Some(true)), Timestamp(0), 0)
        .unwrap();
    state.evict(200);
    let outcome = state.ingest(&row(&raw(1, 150, 1), Some(true)), Timestamp(0), 1);
    assert_eq!(outcome, Ok(IngestOutcome::Placed(InsertOutcome::TooLate)));
    assert_eq!(
        state
            .read(&EntityKey::int(1), 250, i64::MAX)
            .unwrap()
            .statuses[0],
        FeatureStatus::OutsideMaxAge
    );
    assert!(matches!(
        state.read(&EntityKey::int(1), 150, i64::MAX),
        Err(QueryError::BeforeRetention { .. })
    ));
}

#[test]
fn bad_rows_are_rejected_with_the_field_and_change_nothing() {
    let mut state = ViewState::new(simple_view());
    let good = row(&raw(1, 100, 0), Some(true));
    let mut missing_key = good.clone();
    missing_key[0] = Value::Null;
    assert_eq!(
        state.ingest(&missing_key, Timestamp(0), 0),
        Err(EventError::MissingKey {
            field: "key".into()
        })
    );
    let mut no_time = good.clone();
    no_time[1] = Value::Null;
    assert!(
        matches!(state.ingest(&no_time, Timestamp(0), 0), Err(EventError::BadTime { field, .. }) if field == "ts")
    );
    let mut wrong = good.clone();
    wrong[2] = Value::from("12.5");
    assert!(
        matches!(state.ingest(&wrong, Timestamp(0), 0), Err(EventError::WrongType { field, .. }) if field == "x")
    );
    assert!(matches!(
        state.ingest(&good[..3], Timestamp(0), 0),
        Err(EventError::ShortRow { .. })
    ));
    assert_eq!(state.entities(), 0);
}

#[test]
fn damaged_snapshots_are_refused() {
    let mut state = ViewState::new(simple_view());
    state
        .ingest(&row(&raw(1, 100, 0), Some(true)), Timestamp(0), 0)
        .unwrap();
    let bytes = state.snapshot();
    let mut other = ViewState::new(simple_view());
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    assert_eq!(
        other.restore(&flipped),
        Err(freshet_engine::snapshot::SnapshotError::Checksum)
    );
    assert!(other.restore(&bytes[..10]).is_err());
    let mut version = bytes.clone();
    version[8] = 9;
    assert!(matches!(
        other.restore(&version),
        Err(freshet_engine::snapshot::SnapshotError::UnsupportedVersion { found: 9 })
    ));
    let mut changed = ViewState::new(view(
        &[Feature {
            agg: Agg::Count,
            column: Column::Rows,
            window: Some(11),
        }],
        Some(20),
        true,
    ));
    assert!(matches!(
        changed.restore(&bytes),
        Err(freshet_engine::snapshot::SnapshotError::DefinitionChanged { .. })
    ));
    assert_eq!(other.entities(), 0);
    other.restore(&bytes).unwrap();
    assert_eq!(other.snapshot(), bytes);
}
