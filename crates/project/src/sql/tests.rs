use super::*;
use freshet_engine::{DataType, Value};

fn schema() -> Vec<Field> {
    let f = |name: &str, data_type| Field {
        name: name.into(),
        data_type,
    };
    vec![
        f("driver_id", DataType::Int64),
        f("fare", DataType::Float64),
        f("status", DataType::String),
        f("event_time", DataType::Timestamp),
        f("distance", DataType::Float64),
    ]
}

fn ok(text: &str) -> CompiledSql {
    compile(text, &schema()).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

fn err(text: &str) -> SqlError {
    compile(text, &schema()).expect_err(text)
}

fn row() -> Vec<Value> {
    vec![
        Value::Int64(7),
        Value::Float64(12.5),
        Value::from("completed"),
        Value::Timestamp(freshet_engine::Timestamp(0)),
        Value::Float64(0.0),
    ]
}

#[test]
fn compiles_filters_and_canonicalises() {
    let c = ok("status   =  'completed' and fare>10");
    assert_eq!(c.canonical, "status = 'completed' AND fare > 10");
    assert!(c.expr.eval_predicate(&row()));
    assert!(
        ok("status IN ('completed', 'paid')")
            .expr
            .eval_predicate(&row())
    );
    assert!(ok("fare BETWEEN 10 AND 20").expr.eval_predicate(&row()));
    assert!(!ok("fare NOT BETWEEN 10 AND 20").expr.eval_predicate(&row()));
    assert!(ok("status LIKE 'comp%'").expr.eval_predicate(&row()));
    assert!(ok("STATUS ILIKE 'COMP%'").expr.eval_predicate(&row()));
    assert!(
        ok("distance IS NOT NULL AND NOT (fare < 0)")
            .expr
            .eval_predicate(&row())
    );
}

#[test]
fn derived_columns_have_types() {
    assert_eq!(
        ok("fare / nullif(distance, 0)").expr.eval(&row()),
        Value::Null
    );
    assert_eq!(ok("fare / 2").expr.data_type(), DataType::Float64);
    assert_eq!(ok("driver_id % 10").expr.eval(&row()), Value::Int64(7));
    assert_eq!(ok("hour(event_time)").expr.data_type(), DataType::Int64);
    assert_eq!(
        ok("CAST(fare AS bigint)").expr.eval(&row()),
        Value::Int64(12)
    );
    assert_eq!(ok("CAST(fare AS int64)").expr.data_type(), DataType::Int64);
    assert_eq!(
        ok("CAST(NULL AS double)").expr.data_type(),
        DataType::Float64
    );
    assert_eq!(
        ok("coalesce(distance, NULL, 1)").expr.data_type(),
        DataType::Float64
    );
    assert_eq!(ok("floor(fare)").expr.eval(&row()), Value::Float64(12.0));
    assert_eq!(ok("ceil(fare)").expr.eval(&row()), Value::Float64(13.0));
    assert_eq!(
        ok("trim(status)").expr.eval(&row()),
        Value::from("completed")
    );
    assert_eq!(ok("+fare").expr.eval(&row()), Value::Float64(12.5));
    let case = ok("CASE WHEN fare > 20 THEN 'high' WHEN fare > 10 THEN 'mid' ELSE NULL END");
    assert_eq!(case.expr.eval(&row()), Value::from("mid"));
    let simple = ok("CASE status WHEN 'completed' THEN 1 ELSE 0 END");
    assert_eq!(simple.expr.eval(&row()), Value::Int64(1));
    assert_eq!(ok("fare = NULL").expr.eval(&row()), Value::Null);
}

#[test]
fn unknown_column_points_at_it_with_a_suggestion() {
    let e = err("staus = 'completed'");
    assert_eq!(e.message, "unknown column `staus`");
    assert_eq!(e.range, Some(0..5));
    assert_eq!(e.help.as_deref(), Some("did you mean `status`?"));
    let e = err("fare > 1 AND fair < 3");
    assert_eq!(e.range, Some(13..17));
}

#[test]
fn type_errors_name_the_types() {
    let e = err("status + 1");
    assert_eq!(
        e.message,
        "arithmetic expects int64 or float64, found string"
    );
    assert_eq!(e.range, Some(0..10));
    assert_eq!(
        err("status = 1").message,
        "cannot compare string with int64"
    );
    assert!(err("fare AND status").message.contains("AND expects bool"));
    assert!(err("lower(fare)").message.contains("lower expects string"));
    assert!(
        err("CAST(event_time AS bool)")
            .message
            .contains("cannot cast timestamp to bool")
    );
}

#[test]
fn syntax_errors_are_located() {
    let e = err("fare >");
    assert!(
        e.message
            .starts_with("invalid SQL expression: expected an expression"),
        "{e:?}"
    );
    let e = err("fare > 1 fare");
    assert_eq!(e.message, "unexpected `fare` after the expression");
    assert_eq!(e.range, Some(9..13));
    let e = err("status = 'open");
    assert!(e.message.contains("unterminated"), "{e:?}");
}

#[test]
fn refuses_what_does_not_belong_per_event() {
    assert!(err("sum(fare)").message.contains("unknown function `sum`"));
    assert_eq!(
        err("lowr(status)").help.as_deref(),
        Some("did you mean `lower`?")
    );
    assert!(err("fare IN (SELECT 1)").message.contains("subquery"));
    assert!(err("t.fare > 1").message.contains("qualified name"));
    assert!(
        err("status = \"completed\"")
            .help
            .unwrap()
            .contains("single quotes")
    );
    assert!(err("NULL").message.contains("no type"));
    assert!(err("NULL = NULL").message.contains("both sides are NULL"));
    assert!(err("status LIKE status").message.contains("string literal"));
}
