//! Row-at-a-time evaluation of compiled expressions.
//!
//! Evaluation cannot fail: type errors were ruled out when the tree was built, and operations without a
//! value (overflow, division by zero, unparseable casts) produce null. That is what lets the streaming
//! runtime evaluate filters on untrusted events without a failure path per operator.

use super::{ArithOp, CompareOp, Expr, Function};
use crate::types::{DataType, Timestamp};
use crate::value::Value;
use std::cmp::Ordering;
use std::sync::Arc;

impl Expr {
    /// Evaluates the expression over one row, whose columns are indexed as at compile time.
    ///
    /// A column index beyond the row reads as null, so a short row degrades to nulls rather than a panic.
    pub fn eval(&self, row: &[Value]) -> Value {
        match self {
            Expr::Column { index, .. } => row.get(*index).cloned().unwrap_or(Value::Null),
            Expr::Literal { value, .. } => value.clone(),
            Expr::Not(e) => match e.eval(row) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            Expr::Negate(e) => match e.eval(row) {
                Value::Int64(i) => i.checked_neg().map_or(Value::Null, Value::Int64),
                Value::Float64(f) => Value::Float64(-f),
                _ => Value::Null,
            },
            Expr::And(l, r) => and(l.eval(row), || r.eval(row)),
            Expr::Or(l, r) => or(l.eval(row), || r.eval(row)),
            Expr::Compare(op, l, r) => compare(*op, &l.eval(row), &r.eval(row)),
            Expr::Arith(op, l, r, _) => arith(*op, l.eval(row), r.eval(row)),
            Expr::IsNull(e, negated) => Value::Bool(e.eval(row).is_null() != *negated),
            Expr::InList(e, list, negated) => in_list(&e.eval(row), list, row, *negated),
            Expr::Like(e, pattern, negated) => match e.eval(row) {
                Value::String(s) => Value::Bool(pattern.matches(&s) != *negated),
                _ => Value::Null,
            },
            Expr::Case(branches, otherwise, _) => {
                for (cond, value) in branches {
                    if cond.eval(row) == Value::Bool(true) {
                        return value.eval(row);
                    }
                }
                otherwise.as_ref().map_or(Value::Null, |o| o.eval(row))
            }
            Expr::Cast(e, to) => cast(e.eval(row), *to),
            Expr::Call(f, args, _) => call(*f, args, row),
        }
    }

    /// Evaluates a filter: a row passes only when the result is `true` (null and `false` reject).
    pub fn eval_predicate(&self, row: &[Value]) -> bool {
        self.eval(row) == Value::Bool(true)
    }
}

fn and(l: Value, r: impl FnOnce() -> Value) -> Value {
    match l {
        Value::Bool(false) => Value::Bool(false),
        l => match (l, r()) {
            (_, Value::Bool(false)) => Value::Bool(false),
            (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
            _ => Value::Null,
        },
    }
}

fn or(l: Value, r: impl FnOnce() -> Value) -> Value {
    match l {
        Value::Bool(true) => Value::Bool(true),
        l => match (l, r()) {
            (_, Value::Bool(true)) => Value::Bool(true),
            (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
            _ => Value::Null,
        },
    }
}

/// Orders two non-null values of one type; `None` for nulls, NaN, or mismatched variants.
pub(crate) fn order(l: &Value, r: &Value) -> Option<Ordering> {
    match (l, r) {
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Int64(a), Value::Int64(b)) => Some(a.cmp(b)),
        (Value::Float64(a), Value::Float64(b)) => a.partial_cmp(b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn compare(op: CompareOp, l: &Value, r: &Value) -> Value {
    let Some(ord) = order(l, r) else {
        return Value::Null;
    };
    Value::Bool(match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::NotEq => ord != Ordering::Equal,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::LtEq => ord != Ordering::Greater,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::GtEq => ord != Ordering::Less,
    })
}

fn arith(op: ArithOp, l: Value, r: Value) -> Value {
    match (l, r) {
        (Value::Int64(a), Value::Int64(b)) => {
            let result = match op {
                ArithOp::Add => a.checked_add(b),
                ArithOp::Sub => a.checked_sub(b),
                ArithOp::Mul => a.checked_mul(b),
                ArithOp::Rem => a.checked_rem(b),
                // Division is typed float64, so integer operands never reach here; keep it total anyway.
                ArithOp::Div => return finite(a as f64 / b as f64),
            };
            result.map_or(Value::Null, Value::Int64)
        }
        (Value::Float64(a), Value::Float64(b)) => match op {
            ArithOp::Add => Value::Float64(a + b),
            ArithOp::Sub => Value::Float64(a - b),
            ArithOp::Mul => Value::Float64(a * b),
            ArithOp::Div if b == 0.0 => Value::Null,
            ArithOp::Div => Value::Float64(a / b),
            ArithOp::Rem if b == 0.0 => Value::Null,
            ArithOp::Rem => Value::Float64(a % b),
        },
        _ => Value::Null,
    }
}

fn finite(f: f64) -> Value {
    if f.is_finite() {
        Value::Float64(f)
    } else {
        Value::Null
    }
}

/// SQL's `IN`: true on a match; otherwise null if the value or any item was null; otherwise false.
fn in_list(value: &Value, list: &[Expr], row: &[Value], negated: bool) -> Value {
    if value.is_null() {
        return Value::Null;
    }
    let mut saw_null = false;
    for item in list {
        let item = item.eval(row);
        if item.is_null() {
            saw_null = true;
        } else if order(value, &item) == Some(Ordering::Equal) {
            return Value::Bool(!negated);
        }
    }
    if saw_null {
        Value::Null
    } else {
        Value::Bool(negated)
    }
}

fn cast(v: Value, to: DataType) -> Value {
    match (v, to) {
        (Value::Null, _) => Value::Null,
        (Value::Int64(i), DataType::Float64) => Value::Float64(i as f64),
        (Value::Float64(f), DataType::Int64) => float_to_int(f.trunc()),
        (Value::Bool(b), DataType::Int64) => Value::Int64(i64::from(b)),
        (Value::Bool(b), DataType::Float64) => Value::Float64(f64::from(u8::from(b))),
        (Value::Int64(i), DataType::Bool) => Value::Bool(i != 0),
        (Value::String(s), DataType::Int64) => s.trim().parse().map_or(Value::Null, Value::Int64),
        (Value::String(s), DataType::Float64) => s.trim().parse().map_or(Value::Null, finite),
        (Value::String(s), DataType::Bool) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" => Value::Bool(true),
            "false" | "f" | "0" => Value::Bool(false),
            _ => Value::Null,
        },
        (Value::Bool(b), DataType::String) => Value::String(Arc::from(b.to_string())),
        (Value::Int64(i), DataType::String) => Value::String(Arc::from(i.to_string())),
        (Value::Float64(f), DataType::String) => Value::String(Arc::from(f.to_string())),
        (Value::Timestamp(t), DataType::Int64) => Value::Int64(t.micros()),
        (Value::Int64(i), DataType::Timestamp) => Value::Timestamp(Timestamp(i)),
        (v, to) if v.fits(to) => v,
        _ => Value::Null,
    }
}

/// Converts an integral float to `i64`, or null when it is out of range or not a number.
fn float_to_int(f: f64) -> Value {
    // 2^63 is exactly representable; every float in [-2^63, 2^63) converts without loss of range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_finite() && (-LIMIT..LIMIT).contains(&f) {
        Value::Int64(f as i64)
    } else {
        Value::Null
    }
}

fn call(f: Function, args: &[Expr], row: &[Value]) -> Value {
    let arg = |i: usize| args.get(i).map_or(Value::Null, |a| a.eval(row));
    let float = |v: Value, op: fn(f64) -> f64| match v {
        Value::Float64(x) => finite(op(x)),
        _ => Value::Null,
    };
    let text = |v: Value, op: fn(&str) -> String| match v {
        Value::String(s) => Value::String(Arc::from(op(&s))),
        _ => Value::Null,
    };
    let time = |v: Value, op: fn(i64) -> i64| match v {
        Value::Timestamp(t) => Value::Int64(op(t.micros())),
        _ => Value::Null,
    };
    match f {
        Function::Abs => match arg(0) {
            Value::Int64(i) => i.checked_abs().map_or(Value::Null, Value::Int64),
            Value::Float64(x) => Value::Float64(x.abs()),
            _ => Value::Null,
        },
        Function::Round => round(arg(0), args.len() > 1, arg(1)),
        Function::Floor => float(arg(0), f64::floor),
        Function::Ceil => float(arg(0), f64::ceil),
        Function::Sqrt => float(arg(0), |x| if x < 0.0 { f64::NAN } else { x.sqrt() }),
        Function::Ln => float(arg(0), |x| if x <= 0.0 { f64::NAN } else { x.ln() }),
        Function::Exp => float(arg(0), f64::exp),
        Function::Lower => text(arg(0), str::to_lowercase),
        Function::Upper => text(arg(0), str::to_uppercase),
        Function::Trim => text(arg(0), |s| s.trim().to_owned()),
        Function::Length => match arg(0) {
            Value::String(s) => Value::Int64(s.chars().count() as i64),
            _ => Value::Null,
        },
        Function::Coalesce => args
            .iter()
            .map(|a| a.eval(row))
            .find(|v| !v.is_null())
            .unwrap_or(Value::Null),
        Function::NullIf => {
            let a = arg(0);
            match order(&a, &arg(1)) {
                Some(Ordering::Equal) => Value::Null,
                _ => a,
            }
        }
        Function::Hour => time(arg(0), |us| {
            us.rem_euclid(Timestamp::MICROS_PER_DAY) / Timestamp::MICROS_PER_HOUR
        }),
        // 1970-01-01 was a Thursday, ISO day 4.
        Function::DayOfWeek => time(arg(0), |us| {
            (us.div_euclid(Timestamp::MICROS_PER_DAY) + 3).rem_euclid(7) + 1
        }),
    }
}

fn round(x: Value, has_digits: bool, digits: Value) -> Value {
    match (x, has_digits, digits) {
        (Value::Int64(i), false, _) => Value::Int64(i),
        (Value::Float64(f), false, _) => Value::Float64(f.round()),
        (Value::Float64(f), true, Value::Int64(d)) => {
            let scale = 10f64.powi(d.clamp(-308, 308) as i32);
            finite((f * scale).round() / scale)
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests;
