//! Compiled, type-checked expressions: the filters and derived columns of feature views.
//!
//! The project crate parses SQL text (`status = 'completed'`, `fare / nullif(distance, 0)`) and builds an
//! [`Expr`] through the constructors below, which enforce the typing rules and insert the implicit
//! integer-to-float promotions. The tree is then evaluated row by row by [`Expr::eval`] on every path, so a
//! filter means the same thing when streaming, backfilling and building training sets.
//!
//! Semantics, chosen to suit feature pipelines that must never stop on one odd event:
//! - SQL three-valued logic: comparisons with null are null; a filter keeps a row only when it is `true`.
//! - `/` always yields `float64` (as in DuckDB and Spark); integer `+ - * %` yield `int64`.
//! - Arithmetic that has no value (overflow, division or modulo by zero, `sqrt` or `ln` of a negative number)
//!   yields null instead of failing the event.

mod eval;
mod function;
mod like;

pub(crate) use eval::order;
pub use function::Function;
pub use like::LikePattern;

use crate::types::DataType;
use crate::value::Value;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`, always producing `float64`.
    Div,
    /// `%`
    Rem,
}

/// A compiled expression. Build it with the constructors, which type-check their operands.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// The value of the row's column at `index`.
    Column {
        /// Position in the row handed to [`Expr::eval`].
        index: usize,
        /// The column's declared type.
        data_type: DataType,
    },
    /// A constant (possibly a typed null).
    Literal {
        /// The constant.
        value: Value,
        /// Its type; a null literal takes the type of the expression it stands in.
        data_type: DataType,
    },
    /// Logical negation.
    Not(Box<Expr>),
    /// Arithmetic negation.
    Negate(Box<Expr>),
    /// Three-valued `AND`.
    And(Box<Expr>, Box<Expr>),
    /// Three-valued `OR`.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison of two operands of one type.
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    /// Arithmetic on two operands of one numeric type.
    Arith(ArithOp, Box<Expr>, Box<Expr>, DataType),
    /// `IS NULL` (or `IS NOT NULL` when negated).
    IsNull(Box<Expr>, bool),
    /// `IN (...)` (or `NOT IN` when negated), with SQL's null rules.
    InList(Box<Expr>, Vec<Expr>, bool),
    /// `LIKE` / `ILIKE` (or their negation).
    Like(Box<Expr>, LikePattern, bool),
    /// `CASE WHEN ... THEN ... ELSE ... END`.
    Case(Vec<(Expr, Expr)>, Option<Box<Expr>>, DataType),
    /// A conversion to another type.
    Cast(Box<Expr>, DataType),
    /// A scalar function call.
    Call(Function, Vec<Expr>, DataType),
}

/// Why an expression does not type-check. Messages name the types involved; the caller adds the location.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// An operand has the wrong type for its operator.
    #[error("{operator} expects {expected}, found {found}")]
    Operand {
        /// The operator or construct, e.g. "AND" or "the filter".
        operator: String,
        /// What it accepts.
        expected: String,
        /// What it got.
        found: DataType,
    },
    /// Two operands that must share a type do not.
    #[error("cannot compare {left} with {right}")]
    Incomparable {
        /// Left operand type.
        left: DataType,
        /// Right operand type.
        right: DataType,
    },
    /// The branches of a CASE or the arguments of `coalesce` have no common type.
    #[error("{construct} mixes {first} and {second}; make every branch the same type")]
    NoCommonType {
        /// The construct.
        construct: String,
        /// The first type seen.
        first: DataType,
        /// The conflicting type.
        second: DataType,
    },
    /// A conversion that freshet does not define.
    #[error("cannot cast {from} to {to}")]
    Cast {
        /// Source type.
        from: DataType,
        /// Target type.
        to: DataType,
    },
    /// A function called with the wrong number of arguments.
    #[error("{function}() takes {expected}, got {found}")]
    Arity {
        /// The function.
        function: Function,
        /// A human description such as "1 argument".
        expected: &'static str,
        /// Arguments given.
        found: usize,
    },
}

/// Integer-to-float promotion: the common type of two operands, if they have one.
pub fn common_type(a: DataType, b: DataType) -> Option<DataType> {
    match (a, b) {
        _ if a == b => Some(a),
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            Some(DataType::Float64)
        }
        _ => None,
    }
}

impl Expr {
    /// The value of column `index` of the evaluated row.
    pub fn column(index: usize, data_type: DataType) -> Expr {
        Expr::Column { index, data_type }
    }

    /// A constant. A [`Value::Null`] takes `data_type`; any other value must be of that type.
    pub fn literal(value: Value, data_type: DataType) -> Expr {
        debug_assert!(
            value.fits(data_type),
            "literal {value:?} is not a {data_type}"
        );
        Expr::Literal { value, data_type }
    }

    /// The type this expression evaluates to.
    pub fn data_type(&self) -> DataType {
        match self {
            Expr::Column { data_type, .. } | Expr::Literal { data_type, .. } => *data_type,
            Expr::Not(_)
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Compare(..)
            | Expr::IsNull(..)
            | Expr::InList(..)
            | Expr::Like(..) => DataType::Bool,
            Expr::Negate(e) => e.data_type(),
            Expr::Arith(.., t) | Expr::Case(.., t) | Expr::Cast(_, t) | Expr::Call(.., t) => *t,
        }
    }

    /// Wraps `self` in a cast to `to` when its type differs (only used for promotions already checked).
    fn promote(self, to: DataType) -> Expr {
        if self.data_type() == to {
            self
        } else {
            Expr::Cast(Box::new(self), to)
        }
    }

    fn expect(&self, operator: &str, expected: DataType) -> Result<(), TypeError> {
        let found = self.data_type();
        if found == expected {
            Ok(())
        } else {
            Err(TypeError::Operand {
                operator: operator.to_owned(),
                expected: expected.to_string(),
                found,
            })
        }
    }

    /// `NOT e`; `e` must be boolean.
    pub fn logical_not(e: Expr) -> Result<Expr, TypeError> {
        e.expect("NOT", DataType::Bool)?;
        Ok(Expr::Not(Box::new(e)))
    }

    /// `-e`; `e` must be numeric.
    pub fn negate(e: Expr) -> Result<Expr, TypeError> {
        let found = e.data_type();
        if !found.is_numeric() {
            return Err(TypeError::Operand {
                operator: "unary -".into(),
                expected: "int64 or float64".into(),
                found,
            });
        }
        Ok(Expr::Negate(Box::new(e)))
    }

    /// `l AND r`; both boolean.
    pub fn and(l: Expr, r: Expr) -> Result<Expr, TypeError> {
        l.expect("AND", DataType::Bool)?;
        r.expect("AND", DataType::Bool)?;
        Ok(Expr::And(Box::new(l), Box::new(r)))
    }

    /// `l OR r`; both boolean.
    pub fn or(l: Expr, r: Expr) -> Result<Expr, TypeError> {
        l.expect("OR", DataType::Bool)?;
        r.expect("OR", DataType::Bool)?;
        Ok(Expr::Or(Box::new(l), Box::new(r)))
    }

    /// Brings two operands to their common type, or says they have none.
    fn unify(l: Expr, r: Expr) -> Result<(Expr, Expr), TypeError> {
        let (lt, rt) = (l.data_type(), r.data_type());
        let t = common_type(lt, rt).ok_or(TypeError::Incomparable {
            left: lt,
            right: rt,
        })?;
        Ok((l.promote(t), r.promote(t)))
    }

    /// A comparison; operands must share a type after promotion, and booleans only support `=` and `<>`.
    pub fn compare(op: CompareOp, l: Expr, r: Expr) -> Result<Expr, TypeError> {
        let (l, r) = Expr::unify(l, r)?;
        let t = l.data_type();
        if !t.is_ordered() && !matches!(op, CompareOp::Eq | CompareOp::NotEq) {
            return Err(TypeError::Operand {
                operator: "ordering comparison".into(),
                expected: "int64, float64, string or timestamp".into(),
                found: t,
            });
        }
        Ok(Expr::Compare(op, Box::new(l), Box::new(r)))
    }

    /// Arithmetic; both operands numeric. `/` yields `float64`, the rest the operands' common type.
    pub fn arith(op: ArithOp, l: Expr, r: Expr) -> Result<Expr, TypeError> {
        for side in [&l, &r] {
            let found = side.data_type();
            if !found.is_numeric() {
                return Err(TypeError::Operand {
                    operator: "arithmetic".into(),
                    expected: "int64 or float64".into(),
                    found,
                });
            }
        }
        let (l, r) = Expr::unify(l, r)?;
        let (l, r, t) = match op {
            ArithOp::Div => (
                l.promote(DataType::Float64),
                r.promote(DataType::Float64),
                DataType::Float64,
            ),
            _ => {
                let t = l.data_type();
                (l, r, t)
            }
        };
        Ok(Expr::Arith(op, Box::new(l), Box::new(r), t))
    }

    /// `e IS [NOT] NULL`; any type.
    pub fn is_null(e: Expr, negated: bool) -> Expr {
        Expr::IsNull(Box::new(e), negated)
    }

    /// `e [NOT] IN (list)`; every item must be comparable with `e`.
    pub fn in_list(e: Expr, list: Vec<Expr>, negated: bool) -> Result<Expr, TypeError> {
        let mut t = e.data_type();
        for item in &list {
            t = common_type(t, item.data_type()).ok_or(TypeError::Incomparable {
                left: t,
                right: item.data_type(),
            })?;
        }
        let list = list.into_iter().map(|item| item.promote(t)).collect();
        Ok(Expr::InList(Box::new(e.promote(t)), list, negated))
    }

    /// `e [NOT] LIKE pattern`; `e` must be a string.
    pub fn like(e: Expr, pattern: LikePattern, negated: bool) -> Result<Expr, TypeError> {
        e.expect("LIKE", DataType::String)?;
        Ok(Expr::Like(Box::new(e), pattern, negated))
    }

    /// `CASE WHEN c THEN v ... ELSE o END`; conditions boolean, results of one type after promotion.
    pub fn case(branches: Vec<(Expr, Expr)>, otherwise: Option<Expr>) -> Result<Expr, TypeError> {
        let results = branches.iter().map(|(_, v)| v).chain(otherwise.as_ref());
        let t = unify_all("CASE", results.map(Expr::data_type))?;
        let mut typed = Vec::with_capacity(branches.len());
        for (cond, value) in branches {
            cond.expect("CASE WHEN", DataType::Bool)?;
            typed.push((cond, value.promote(t)));
        }
        let otherwise = otherwise.map(|o| Box::new(o.promote(t)));
        Ok(Expr::Case(typed, otherwise, t))
    }

    /// `CAST(e AS to)`, for the conversions freshet defines (see [`eval`](Expr::eval)).
    pub fn cast(e: Expr, to: DataType) -> Result<Expr, TypeError> {
        use DataType::*;
        let from = e.data_type();
        let allowed = from == to
            || matches!(
                (from, to),
                (Int64 | Float64 | Bool, Int64 | Float64)
                    | (Int64, Bool)
                    | (String, Int64 | Float64 | Bool)
                    | (Bool | Int64 | Float64, String)
                    | (Timestamp, Int64)
                    | (Int64, Timestamp)
            );
        if !allowed {
            return Err(TypeError::Cast { from, to });
        }
        Ok(if from == to {
            e
        } else {
            Expr::Cast(Box::new(e), to)
        })
    }

    /// A call to a scalar function; see [`Function`] for each signature.
    pub fn call(function: Function, args: Vec<Expr>) -> Result<Expr, TypeError> {
        function.check(args)
    }

    /// Column indexes this expression reads, for dependency checks and pruning.
    pub fn columns(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.visit_columns(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    fn visit_columns(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Column { index, .. } => out.push(*index),
            Expr::Literal { .. } => {}
            Expr::Not(e) | Expr::Negate(e) | Expr::IsNull(e, _) | Expr::Like(e, ..) => {
                e.visit_columns(out)
            }
            Expr::Cast(e, _) => e.visit_columns(out),
            Expr::And(l, r) | Expr::Or(l, r) | Expr::Compare(_, l, r) | Expr::Arith(_, l, r, _) => {
                l.visit_columns(out);
                r.visit_columns(out);
            }
            Expr::InList(e, list, _) => {
                e.visit_columns(out);
                list.iter().for_each(|i| i.visit_columns(out));
            }
            Expr::Case(branches, otherwise, _) => {
                for (c, v) in branches {
                    c.visit_columns(out);
                    v.visit_columns(out);
                }
                if let Some(o) = otherwise {
                    o.visit_columns(out);
                }
            }
            Expr::Call(_, args, _) => args.iter().for_each(|a| a.visit_columns(out)),
        }
    }
}

/// The common type of a non-empty sequence of types, for CASE branches and `coalesce` arguments.
pub(crate) fn unify_all(
    construct: &str,
    mut types: impl Iterator<Item = DataType>,
) -> Result<DataType, TypeError> {
    let Some(mut t) = types.next() else {
        // Callers pass at least one branch or argument; the parser guarantees it for CASE.
        return Err(TypeError::Operand {
            operator: construct.to_owned(),
            expected: "at least one value".into(),
            found: DataType::Bool,
        });
    };
    for next in types {
        t = common_type(t, next).ok_or_else(|| TypeError::NoCommonType {
            construct: construct.to_owned(),
            first: t,
            second: next,
        })?;
    }
    Ok(t)
}
