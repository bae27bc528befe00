use freshet_engine::Value;
use freshet_project::scenarios::Scenario;
use freshet_sources::generator::{GeneratorConfig, RidesConfig, RidesGenerator, generator};

fn config(events: u64, seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        entities: 200,
        events: Some(events),
        days: 30.0,
        seed,
        ..GeneratorConfig::default()
    }
}

#[test]
fn same_seed_same_rows_other_seed_other_rows() {
    let a: Vec<_> = generator(Scenario::Rides, &config(2_000, 7))
        .unwrap()
        .collect();
    let b: Vec<_> = generator(Scenario::Rides, &config(2_000, 7))
        .unwrap()
        .collect();
    let c: Vec<_> = generator(Scenario::Rides, &config(2_000, 8))
        .unwrap()
        .collect();
    assert_eq!(a.len(), 2_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn rows_match_the_scenario_schema_in_time_order() {
    let schema = Scenario::Rides.schema();
    let rows: Vec<_> = generator(Scenario::Rides, &config(5_000, 1))
        .unwrap()
        .collect();
    let mut last = i64::MIN;
    for row in &rows {
        assert_eq!(row.len(), schema.len());
        for (value, field) in row.iter().zip(&schema) {
            assert!(
                !value.is_null() && value.fits(field.data_type),
                "{value:?} is not {}",
                field.data_type
            );
        }
        let Value::Timestamp(t) = row[2] else {
            panic!()
        };
        assert!(t.micros() >= last, "not in time order");
        last = t.micros();
        let Value::Int64(driver) = row[1] else {
            panic!()
        };
        assert!((1..=200).contains(&driver));
    }
    let span_days = (last - 1_767_225_600_000_000) as f64 / 86_400e6;
    assert!((25.0..35.0).contains(&span_days), "span {span_days} days");
}

#[test]
fn churners_fade_in_their_last_week() {
    let cfg = RidesConfig::from(GeneratorConfig {
        entities: 500,
        events: Some(200_000),
        ..config(0, 3)
    });
    let generator = RidesGenerator::new(&cfg).unwrap();
    let churn: Vec<Option<i64>> = (1..=500).map(|d| generator.churn_time(d)).collect();
    let week = 7 * 86_400_000_000i64;
    // Per churner: trips in the week before churn vs. the week before that.
    let (mut late, mut early) = (0u64, 0u64);
    for row in generator {
        let (Value::Int64(d), Value::Timestamp(t)) = (&row[1], &row[2]) else {
            panic!()
        };
        if let Some(at) = churn[(*d - 1) as usize] {
            let t = t.micros();
            if (at - week..at).contains(&t) {
                late += 1;
            } else if (at - 2 * week..at - week).contains(&t) {
                early += 1;
            }
        }
    }
    assert!(churn.iter().filter(|c| c.is_some()).count() > 50);
    assert!(
        (late as f64) < 0.75 * early as f64,
        "late {late} vs early {early}"
    );
}

#[test]
fn bad_settings_are_refused() {
    assert!(
        generator(
            Scenario::Rides,
            &GeneratorConfig {
                entities: 0,
                ..GeneratorConfig::default()
            }
        )
        .is_err()
    );
    assert!(
        generator(
            Scenario::Rides,
            &GeneratorConfig {
                days: 0.0,
                ..GeneratorConfig::default()
            }
        )
        .is_err()
    );
    assert!(
        generator(
            Scenario::Rides,
            &GeneratorConfig {
                skew: -1.0,
                ..GeneratorConfig::default()
            }
        )
        .is_err()
    );
}
