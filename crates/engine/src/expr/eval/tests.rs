use crate::expr::{ArithOp, CompareOp, Expr, Function, LikePattern, TypeError};
use crate::types::{DataType, Timestamp};
use crate::value::Value;

fn col(i: usize, t: DataType) -> Expr {
    Expr::column(i, t)
}
fn int(i: i64) -> Expr {
    Expr::literal(Value::Int64(i), DataType::Int64)
}
fn float(f: f64) -> Expr {
    Expr::literal(Value::Float64(f), DataType::Float64)
}
fn null(t: DataType) -> Expr {
    Expr::literal(Value::Null, t)
}
fn boolean(b: bool) -> Expr {
    Expr::literal(Value::Bool(b), DataType::Bool)
}
fn string(s: &str) -> Expr {
    Expr::literal(Value::from(s), DataType::String)
}

#[test]
fn three_valued_logic() {
    let b = DataType::Bool;
    let cases = [
        (boolean(true), null(b), Value::Null, Value::Bool(true)),
        (boolean(false), null(b), Value::Bool(false), Value::Null),
        (null(b), null(b), Value::Null, Value::Null),
        (
            boolean(true),
            boolean(false),
            Value::Bool(false),
            Value::Bool(true),
        ),
    ];
    for (l, r, and, or) in cases {
        assert_eq!(Expr::and(l.clone(), r.clone()).unwrap().eval(&[]), and);
        assert_eq!(Expr::or(l, r).unwrap().eval(&[]), or);
    }
    assert_eq!(Expr::logical_not(null(b)).unwrap().eval(&[]), Value::Null);
}

#[test]
fn comparisons_promote_and_propagate_null() {
    let row = [Value::Int64(3), Value::Null];
    let gt = Expr::compare(CompareOp::Gt, col(0, DataType::Int64), float(2.5)).unwrap();
    assert_eq!(gt.eval(&row), Value::Bool(true));
    let eq_null = Expr::compare(CompareOp::Eq, col(1, DataType::Int64), int(1)).unwrap();
    assert_eq!(eq_null.eval(&row), Value::Null);
    assert!(!eq_null.eval_predicate(&row));
    assert_eq!(
        Expr::compare(CompareOp::Eq, string("a"), int(1)),
        Err(TypeError::Incomparable {
            left: DataType::String,
            right: DataType::Int64
        })
    );
    assert!(Expr::compare(CompareOp::Lt, boolean(true), boolean(false)).is_err());
}

#[test]
fn arithmetic_without_a_value_is_null() {
    let div = Expr::arith(ArithOp::Div, int(7), int(2)).unwrap();
    assert_eq!(div.data_type(), DataType::Float64);
    assert_eq!(div.eval(&[]), Value::Float64(3.5));
    let by_zero = Expr::arith(ArithOp::Div, int(1), int(0)).unwrap();
    assert_eq!(by_zero.eval(&[]), Value::Null);
    let overflow = Expr::arith(ArithOp::Add, int(i64::MAX), int(1)).unwrap();
    assert_eq!(overflow.eval(&[]), Value::Null);
    let rem = Expr::arith(ArithOp::Rem, int(7), int(0)).unwrap();
    assert_eq!(rem.eval(&[]), Value::Null);
    let mixed = Expr::arith(ArithOp::Mul, int(2), float(1.5)).unwrap();
    assert_eq!(mixed.eval(&[]), Value::Float64(3.0));
    assert!(Expr::arith(ArithOp::Add, string("a"), int(1)).is_err());
    assert_eq!(Expr::negate(int(i64::MIN)).unwrap().eval(&[]), Value::Null);
}

#[test]
fn in_list_follows_sql_null_rules() {
    let list = vec![int(1), int(2), null(DataType::Int64)];
    let hit = Expr::in_list(int(2), list.clone(), false).unwrap();
    assert_eq!(hit.eval(&[]), Value::Bool(true));
    let miss = Expr::in_list(int(5), list.clone(), false).unwrap();
    assert_eq!(miss.eval(&[]), Value::Null);
    let clean_miss = Expr::in_list(int(5), vec![int(1)], true).unwrap();
    assert_eq!(clean_miss.eval(&[]), Value::Bool(true));
}

#[test]
fn case_cast_like_and_functions() {
    let case = Expr::case(
        vec![(
            Expr::compare(CompareOp::Gt, col(0, DataType::Float64), float(10.0)).unwrap(),
            string("big"),
        )],
        Some(string("small")),
    )
    .unwrap();
    assert_eq!(case.eval(&[Value::Float64(11.0)]), Value::from("big"));
    assert_eq!(case.eval(&[Value::Null]), Value::from("small"));
    assert!(Expr::case(vec![(boolean(true), int(1))], Some(string("x"))).is_err());

    let cast = Expr::cast(string(" 42 "), DataType::Int64).unwrap();
    assert_eq!(cast.eval(&[]), Value::Int64(42));
    let bad = Expr::cast(string("4x"), DataType::Float64).unwrap();
    assert_eq!(bad.eval(&[]), Value::Null);
    assert_eq!(
        Expr::cast(float(1e300), DataType::Int64).unwrap().eval(&[]),
        Value::Null
    );
    assert!(Expr::cast(col(0, DataType::Timestamp), DataType::Bool).is_err());

    let like = Expr::like(string("completed"), LikePattern::new("comp%", false), false).unwrap();
    assert_eq!(like.eval(&[]), Value::Bool(true));

    let coalesce = Expr::call(Function::Coalesce, vec![null(DataType::Int64), float(2.0)]).unwrap();
    assert_eq!(coalesce.data_type(), DataType::Float64);
    assert_eq!(coalesce.eval(&[]), Value::Float64(2.0));
    let nullif = Expr::call(Function::NullIf, vec![int(0), int(0)]).unwrap();
    assert_eq!(nullif.eval(&[]), Value::Null);
    let sqrt = Expr::call(Function::Sqrt, vec![int(-4)]).unwrap();
    assert_eq!(sqrt.eval(&[]), Value::Null);
    let round = Expr::call(Function::Round, vec![float(2.345), int(2)]).unwrap();
    assert_eq!(round.eval(&[]), Value::Float64(2.35));
    assert!(matches!(
        Expr::call(Function::Lower, vec![]),
        Err(TypeError::Arity { found: 0, .. })
    ));
    assert!(Expr::call(Function::Length, vec![int(1)]).is_err());
}

#[test]
fn calendar_functions_use_utc() {
    // 2024-03-13T10:21:14Z, a Wednesday.
    let ts = Value::Timestamp(Timestamp(1_710_325_274_000_000));
    let hour = Expr::call(Function::Hour, vec![col(0, DataType::Timestamp)]).unwrap();
    let dow = Expr::call(Function::DayOfWeek, vec![col(0, DataType::Timestamp)]).unwrap();
    assert_eq!(hour.eval(std::slice::from_ref(&ts)), Value::Int64(10));
    assert_eq!(dow.eval(&[ts]), Value::Int64(3));
    // 1969-12-31T23:00:00Z, a Wednesday, before the epoch.
    let before = Value::Timestamp(Timestamp(-3_600_000_000));
    assert_eq!(hour.eval(std::slice::from_ref(&before)), Value::Int64(23));
    assert_eq!(dow.eval(&[before]), Value::Int64(3));
}

#[test]
fn columns_lists_every_read() {
    let e = Expr::and(
        Expr::compare(
            CompareOp::Gt,
            col(3, DataType::Int64),
            col(1, DataType::Int64),
        )
        .unwrap(),
        Expr::is_null(col(3, DataType::String), true),
    )
    .unwrap();
    assert_eq!(e.columns(), vec![1, 3]);
}

#[test]
fn short_rows_read_null() {
    let e = Expr::is_null(col(9, DataType::Int64), false);
    assert_eq!(e.eval(&[]), Value::Bool(true));
}
