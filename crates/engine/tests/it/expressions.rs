//! Each rule is checked against an oracle that shares no code with the engine: SQL's truth tables written
//! out by hand, `regex` for LIKE, and plain integer arithmetic for overflow.

use freshet_engine::expr::{ArithOp, CompareOp, LikePattern};
use freshet_engine::{DataType, Expr, Value};
use proptest::prelude::*;

fn bool_lit(v: Option<bool>) -> Expr {
    Expr::literal(v.map_or(Value::Null, Value::Bool), DataType::Bool)
}

/// SQL's three-valued AND/OR/NOT, from the standard's tables (None = unknown).
fn oracle_and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn oracle_or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn as_option(v: Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(b),
        Value::Null => None,
        other => panic!("not a boolean: {other:?}"),
    }
}

/// LIKE translated to an anchored regular expression.
fn oracle_like(pattern: &str, text: &str) -> bool {
    let mut re = String::from("(?s)^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            '\\' => re.push_str(&regex::escape(&chars.next().unwrap_or('\\').to_string())),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).unwrap().is_match(text)
}

proptest! {
    #[test]
    fn three_valued_logic(a in prop::option::of(any::<bool>()), b in prop::option::of(any::<bool>())) {
        let and = Expr::and(bool_lit(a), bool_lit(b)).unwrap().eval(&[]);
        let or = Expr::or(bool_lit(a), bool_lit(b)).unwrap().eval(&[]);
        let not = Expr::logical_not(bool_lit(a)).unwrap().eval(&[]);
        prop_assert_eq!(as_option(and), oracle_and(a, b));
        prop_assert_eq!(as_option(or), oracle_or(a, b));
        prop_assert_eq!(as_option(not), a.map(|x| !x));
    }

    #[test]
    fn like_matches_the_regex_oracle(pattern in "[ab%_\\\\]{0,8}", text in "[ab%_]{0,10}") {
        let got = LikePattern::new(&pattern, false).matches(&text);
        prop_assert_eq!(got, oracle_like(&pattern, &text), "pattern {:?} text {:?}", pattern, text);
    }

    #[test]
    fn integer_arithmetic_is_exact_or_null(a in any::<i64>(), b in any::<i64>()) {
        let lit = |i| Expr::literal(Value::Int64(i), DataType::Int64);
        for (op, oracle) in [
            (ArithOp::Add, a.checked_add(b)),
            (ArithOp::Sub, a.checked_sub(b)),
            (ArithOp::Mul, a.checked_mul(b)),
            (ArithOp::Rem, a.checked_rem(b)),
        ] {
            let got = Expr::arith(op, lit(a), lit(b)).unwrap().eval(&[]);
            prop_assert_eq!(got, oracle.map_or(Value::Null, Value::Int64));
        }
    }

    #[test]
    fn comparisons_follow_the_order_of_numbers(a in -1e6f64..1e6, b in -1_000_000i64..1_000_000) {
        let l = Expr::literal(Value::Float64(a), DataType::Float64);
        let r = Expr::literal(Value::Int64(b), DataType::Int64);
        let lt = Expr::compare(CompareOp::Lt, l.clone(), r.clone()).unwrap().eval(&[]);
        let eq = Expr::compare(CompareOp::Eq, l, r).unwrap().eval(&[]);
        prop_assert_eq!(lt, Value::Bool(a < b as f64));
        prop_assert_eq!(eq, Value::Bool(a == b as f64));
    }
}
