//! The scalar functions an expression may call, with their signatures.
//!
//! The catalogue is small on purpose: every function must behave identically on every path and be cheap
//! enough to run per event. Calendar functions work in UTC, the only zone the engine knows.

use super::{Expr, TypeError, unify_all};
use crate::types::DataType;
use std::fmt;

/// A scalar function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    /// `abs(x)`: absolute value, same numeric type.
    Abs,
    /// `round(x)` or `round(x, digits)`: half away from zero.
    Round,
    /// `floor(x)`: float64.
    Floor,
    /// `ceil(x)`: float64.
    Ceil,
    /// `sqrt(x)`: float64, null for negative input.
    Sqrt,
    /// `ln(x)`: float64, null for non-positive input.
    Ln,
    /// `exp(x)`: float64.
    Exp,
    /// `lower(s)`.
    Lower,
    /// `upper(s)`.
    Upper,
    /// `length(s)`: number of characters.
    Length,
    /// `trim(s)`: without leading and trailing white space.
    Trim,
    /// `coalesce(a, b, ...)`: the first non-null argument.
    Coalesce,
    /// `nullif(a, b)`: null when `a = b`, else `a`.
    NullIf,
    /// `hour(ts)`: hour of day in UTC, 0 to 23.
    Hour,
    /// `day_of_week(ts)`: ISO day of week in UTC, Monday = 1 to Sunday = 7.
    DayOfWeek,
}

impl Function {
    /// Every function, in documentation order.
    pub const ALL: [Function; 15] = [
        Function::Abs,
        Function::Round,
        Function::Floor,
        Function::Ceil,
        Function::Sqrt,
        Function::Ln,
        Function::Exp,
        Function::Lower,
        Function::Upper,
        Function::Length,
        Function::Trim,
        Function::Coalesce,
        Function::NullIf,
        Function::Hour,
        Function::DayOfWeek,
    ];

    /// The name used in SQL text (case-insensitive when parsed).
    pub fn name(self) -> &'static str {
        match self {
            Function::Abs => "abs",
            Function::Round => "round",
            Function::Floor => "floor",
            Function::Ceil => "ceil",
            Function::Sqrt => "sqrt",
            Function::Ln => "ln",
            Function::Exp => "exp",
            Function::Lower => "lower",
            Function::Upper => "upper",
            Function::Length => "length",
            Function::Trim => "trim",
            Function::Coalesce => "coalesce",
            Function::NullIf => "nullif",
            Function::Hour => "hour",
            Function::DayOfWeek => "day_of_week",
        }
    }

    /// Looks a function up by name, ignoring case.
    pub fn from_name(name: &str) -> Option<Function> {
        let lower = name.to_ascii_lowercase();
        Function::ALL.into_iter().find(|f| f.name() == lower)
    }

    /// Type-checks a call and builds it, promoting arguments where the signature allows.
    pub(super) fn check(self, args: Vec<Expr>) -> Result<Expr, TypeError> {
        use DataType::*;
        use Function as F;
        let found = args.len();
        let arity_error = |expected: &'static str| TypeError::Arity {
            function: self,
            expected,
            found,
        };
        let arity = |expected: &'static str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(arity_error(expected))
            }
        };
        match self {
            F::Abs => {
                arity("1 argument", args.len() == 1)?;
                let t = expect_numeric(self, &args[0])?;
                Ok(Expr::Call(self, args, t))
            }
            F::Round => {
                arity("1 or 2 arguments", matches!(args.len(), 1 | 2))?;
                let t = expect_numeric(self, &args[0])?;
                if let Some(digits) = args.get(1) {
                    digits.expect("round() digits", Int64)?;
                    return Ok(Expr::Call(self, promote_first(args, Float64), Float64));
                }
                Ok(Expr::Call(self, args, t))
            }
            F::Floor | F::Ceil | F::Sqrt | F::Ln | F::Exp => {
                arity("1 argument", args.len() == 1)?;
                expect_numeric(self, &args[0])?;
                Ok(Expr::Call(self, promote_first(args, Float64), Float64))
            }
            F::Lower | F::Upper | F::Trim => {
                arity("1 argument", args.len() == 1)?;
                args[0].expect(self.name(), String)?;
                Ok(Expr::Call(self, args, String))
            }
            F::Length => {
                arity("1 argument", args.len() == 1)?;
                args[0].expect(self.name(), String)?;
                Ok(Expr::Call(self, args, Int64))
            }
            F::Coalesce => {
                arity("at least 1 argument", !args.is_empty())?;
                let t = unify_all("coalesce()", args.iter().map(Expr::data_type))?;
                let args = args.into_iter().map(|a| a.promote(t)).collect();
                Ok(Expr::Call(self, args, t))
            }
            F::NullIf => {
                let [a, b] = <[Expr; 2]>::try_from(args).map_err(|_| arity_error("2 arguments"))?;
                let (a, b) = Expr::unify(a, b)?;
                let t = a.data_type();
                Ok(Expr::Call(self, vec![a, b], t))
            }
            F::Hour | F::DayOfWeek => {
                arity("1 argument", args.len() == 1)?;
                args[0].expect(self.name(), Timestamp)?;
                Ok(Expr::Call(self, args, Int64))
            }
        }
    }
}

fn expect_numeric(function: Function, arg: &Expr) -> Result<DataType, TypeError> {
    let found = arg.data_type();
    if found.is_numeric() {
        Ok(found)
    } else {
        Err(TypeError::Operand {
            operator: format!("{}()", function.name()),
            expected: "int64 or float64".into(),
            found,
        })
    }
}

fn promote_first(mut args: Vec<Expr>, to: DataType) -> Vec<Expr> {
    if let Some(first) = args.first_mut() {
        let taken = std::mem::replace(first, Expr::literal(crate::Value::Null, to));
        *first = taken.promote(to);
    }
    args
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
