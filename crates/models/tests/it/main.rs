//! Training, evaluation and the registry, end to end on synthetic data with a planted signal.

// Test helpers may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod staleness;

use freshet_models::{
    Dataset, Evaluation, ModelArtifact, Registry, Stage, TrainOptions, estimator::Estimator, train,
};
use freshet_project::spec::{Algorithm, LabelSpec, ModelSpec, Task};
use std::collections::BTreeMap;

/// Rows whose label depends non-linearly on two of three features (the third is noise), with 10 %
/// of one feature missing. Times increase with the row.
fn planted(rows: usize, seed: u64) -> Dataset {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut a, mut b, mut c, mut labels) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rows {
        let (x, y, z) = (next(), next(), next());
        // Positive inside a band of x and when y is high: a shape a line cannot draw.
        let p = if (0.3..0.7).contains(&x) && y > 0.4 {
            0.85
        } else {
            0.1
        };
        labels.push(f64::from(u8::from(next() < p)));
        a.push(x);
        b.push(if next() < 0.1 { f64::NAN } else { y });
        c.push(z);
    }
    Dataset {
        features: vec!["v:a".into(), "v:b".into(), "v:noise".into()],
        values: [a, b, c].concat(),
        labels,
        times: (0..rows as i64).map(|r| r * 1_000_000).collect(),
    }
}

fn spec(algorithm: Algorithm) -> ModelSpec {
    ModelSpec {
        name: "churn".into(),
        description: None,
        feature_service: "svc".into(),
        label: LabelSpec {
            source: "labels".into(),
            column: "churned".into(),
        },
        task: Task::Classification,
        algorithm,
        params: BTreeMap::from([("trees".into(), 60.0), ("max_depth".into(), 4.0)]),
    }
}

fn auc(e: &Evaluation) -> f64 {
    match e {
        Evaluation::Classification { auc, .. } => auc.unwrap_or(0.0),
        Evaluation::Regression { .. } => 0.0,
    }
}

#[test]
fn trees_learn_the_planted_signal_and_beat_the_linear_baseline() {
    let data = planted(6_000, 7);
    let mut stages = vec![];
    let trained = train(
        &spec(Algorithm::Gbdt),
        &data,
        0,
        &TrainOptions::default(),
        &mut |s| stages.push(s),
    )
    .unwrap();
    assert!(matches!(stages[0], Stage::Fitting(4800)));
    assert_eq!(trained.summary.train_rows, 4_800);
    assert_eq!(trained.summary.validation_rows, 1_200);
    let trees = auc(&trained.metrics);
    let baseline = auc(&trained.baseline.unwrap());
    assert!(trees > 0.8, "trees AUC {trees}");
    assert!(
        trees > baseline + 0.05,
        "trees {trees} vs linear {baseline}"
    );
    // The noise feature matters least.
    assert!(trained.importance[2] < trained.importance[0]);
    assert!(trained.importance[2] < trained.importance[1]);
}

#[test]
fn one_row_at_a_time_predicts_what_the_batch_predicts_even_after_a_round_trip() {
    let data = planted(2_000, 3);
    for algorithm in [Algorithm::Gbdt, Algorithm::Linear] {
        let estimator =
            Estimator::fit(algorithm, Task::Classification, &BTreeMap::new(), &data).unwrap();
        let batch = estimator.predict(&data);
        let json = serde_json::to_string(&estimator).unwrap();
        let restored: Estimator = serde_json::from_str(&json).unwrap();
        for r in (0..data.rows()).step_by(97) {
            let one = restored.predict_row(&data.row(r));
            assert_eq!(one.to_bits(), batch[r].to_bits(), "{algorithm:?} row {r}");
            assert!((0.0..=1.0).contains(&one));
        }
    }
}

#[test]
fn regression_is_measured_in_the_label_s_units() {
    let mut data = planted(3_000, 11);
    // Label: 10 * a + noise-free step on b.
    let rows = data.rows();
    data.labels = (0..rows)
        .map(|r| {
            10.0 * data.values[r]
                + if data.values[rows + r] > 0.5 {
                    3.0
                } else {
                    0.0
                }
        })
        .collect();
    let mut spec = spec(Algorithm::Gbdt);
    spec.task = Task::Regression;
    spec.params.insert("trees".into(), 200.0);
    let trained = train(&spec, &data, 0, &TrainOptions::default(), &mut |_| {}).unwrap();
    let Evaluation::Regression { rmse, mae } = trained.metrics else {
        panic!("not regression")
    };
    assert!(rmse < 1.2 && mae <= rmse, "rmse {rmse} mae {mae}");
}

/// Why training a tree model on `data` is refused.
fn refusal(data: &Dataset) -> String {
    train(
        &spec(Algorithm::Gbdt),
        data,
        0,
        &TrainOptions::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn too_few_rows_and_one_class_are_refused_with_the_reason() {
    let e = refusal(&planted(10, 1));
    assert!(e.contains("10 labelled rows"), "{e}");
    let mut data = planted(200, 1);
    data.labels.iter_mut().for_each(|y| *y = 0.0);
    let e = refusal(&data);
    assert!(e.contains("needs both classes"), "{e}");
}

#[test]
fn registry_versions_promote_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    assert_eq!(registry.versions("churn").unwrap(), vec![]);
    let data = planted(500, 5);
    let spec = spec(Algorithm::Linear);
    for _ in 0..3 {
        let trained = train(&spec, &data, 0, &TrainOptions::default(), &mut |_| {}).unwrap();
        let mut artifact =
            ModelArtifact::new(&spec, vec![], trained, "2026-11-21T00:00:00Z".into());
        registry.save(&mut artifact).unwrap();
    }
    assert_eq!(registry.version_numbers("churn").unwrap(), vec![1, 2, 3]);
    assert!(registry.load_production("churn").unwrap().is_none());
    registry.promote("churn", 2).unwrap();
    registry.promote("churn", 3).unwrap();
    let listed = registry.versions("churn").unwrap();
    assert!(listed[2].production && !listed[1].production);
    assert_eq!(registry.rollback("churn").unwrap(), 2);
    assert_eq!(
        registry.load_production("churn").unwrap().unwrap().version,
        2
    );
    let e = registry.rollback("churn").unwrap_err();
    assert!(
        e.to_string().contains("no earlier production version"),
        "{e}"
    );
    let e = registry.promote("churn", 9).unwrap_err();
    assert!(e.to_string().contains("has v1, v2, v3"), "{e}");
}
