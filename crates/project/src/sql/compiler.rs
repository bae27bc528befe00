//! The walk over sqlparser's tree: columns, literals, unary and binary operators, each turned into an
//! engine expression through its type-checking constructor, every error located by the node's span.
//! SQL's `NULL` stays untyped ([`Operand::Null`]) until it meets something that gives it a type.

use super::{SUPPORTED, SqlError, byte_range};
use crate::spec::Field;
use crate::suggest::did_you_mean;
use freshet_engine::expr::{ArithOp, CompareOp, Function, TypeError};
use freshet_engine::{DataType, Expr, Value};
use sqlparser::ast::{self, BinaryOperator, CeilFloorKind, Spanned, UnaryOperator};
use std::ops::Range;

/// An operand before its type is known: SQL's `NULL` takes the type of what it is combined with.
pub(super) enum Operand {
    Typed(Expr),
    Null(Option<Range<usize>>),
}

impl Operand {
    pub(super) fn typed_as(self, t: DataType) -> Expr {
        match self {
            Operand::Typed(e) => e,
            Operand::Null(_) => Expr::literal(Value::Null, t),
        }
    }
}

pub(super) struct Compiler<'a> {
    pub(super) text: &'a str,
    pub(super) columns: &'a [Field],
}

impl Compiler<'_> {
    pub(super) fn range(&self, node: &impl Spanned) -> Option<Range<usize>> {
        self.span_range(node.span())
    }

    fn span_range(&self, span: sqlparser::tokenizer::Span) -> Option<Range<usize>> {
        byte_range(self.text, span.start, span.end)
    }

    pub(super) fn type_error(&self, node: &impl Spanned, e: TypeError) -> SqlError {
        let help = match &e {
            TypeError::Incomparable { .. } => "CAST one side so both have the same type",
            TypeError::Cast { .. } => {
                "see docs/project-file.md for the conversions freshet defines"
            }
            _ => "check the operand types against the source schema",
        };
        SqlError::new(e.to_string(), self.range(node)).help(help)
    }

    pub(super) fn unsupported(&self, node: &ast::Expr, what: &str) -> SqlError {
        SqlError::new(
            format!("{what} is not supported in feature expressions"),
            self.range(node),
        )
        .help(SUPPORTED)
    }

    /// Compiles a node that must have a type on its own (NULL is refused).
    pub(super) fn typed(&self, node: &ast::Expr) -> Result<Expr, SqlError> {
        match self.expr(node)? {
            Operand::Typed(e) => Ok(e),
            Operand::Null(range) => Err(SqlError::new("a bare NULL has no type here", range)
                .help("write CAST(NULL AS <type>)")),
        }
    }

    /// Compiles two operands, typing a NULL on one side as the other side.
    pub(super) fn pair(
        &self,
        l: &ast::Expr,
        r: &ast::Expr,
        whole: &ast::Expr,
    ) -> Result<(Expr, Expr), SqlError> {
        match (self.expr(l)?, self.expr(r)?) {
            (Operand::Typed(a), b) => {
                let t = a.data_type();
                Ok((a, b.typed_as(t)))
            }
            (a @ Operand::Null(_), Operand::Typed(b)) => Ok((a.typed_as(b.data_type()), b)),
            (Operand::Null(_), Operand::Null(_)) => Err(SqlError::new(
                "both sides are NULL, so the expression has no type",
                self.range(whole),
            )
            .help("use IS NULL to test for null")),
        }
    }

    pub(super) fn expr(&self, node: &ast::Expr) -> Result<Operand, SqlError> {
        use ast::Expr as A;
        let typed = |r: Result<Expr, TypeError>| {
            r.map(Operand::Typed).map_err(|e| self.type_error(node, e))
        };
        match node {
            A::Identifier(ident) => self.column(ident).map(Operand::Typed),
            A::CompoundIdentifier(_) => {
                Err(self.unsupported(node, "a qualified name")).map_err(|e| {
                    e.help("write the column name alone, as declared in the source schema")
                })
            }
            A::Value(v) => self.literal(node, &v.value),
            A::Nested(inner) => self.expr(inner),
            A::BinaryOp { left, op, right } => self.binary(node, left, op, right),
            A::UnaryOp { op, expr } => {
                let inner = self.typed(expr)?;
                match op {
                    UnaryOperator::Not => typed(Expr::logical_not(inner)),
                    UnaryOperator::Minus => typed(Expr::negate(inner)),
                    // Unary plus is the identity, but only on numbers.
                    UnaryOperator::Plus => typed(Expr::negate(inner.clone()).map(|_| inner)),
                    _ => Err(self.unsupported(node, &format!("the operator `{op}`"))),
                }
            }
            A::IsNull(e) => Ok(Operand::Typed(Expr::is_null(self.typed(e)?, false))),
            A::IsNotNull(e) => Ok(Operand::Typed(Expr::is_null(self.typed(e)?, true))),
            A::InList {
                expr,
                list,
                negated,
            } => {
                let value = self.typed(expr)?;
                let t = value.data_type();
                let items = list
                    .iter()
                    .map(|i| self.expr(i).map(|o| o.typed_as(t)))
                    .collect::<Result<Vec<_>, _>>()?;
                typed(Expr::in_list(value, items, *negated))
            }
            A::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (v, lo) = self.pair(expr, low, node)?;
                let (v2, hi) = self.pair(expr, high, node)?;
                let inside = Expr::compare(CompareOp::GtEq, v, lo)
                    .and_then(|a| Ok((a, Expr::compare(CompareOp::LtEq, v2, hi)?)))
                    .and_then(|(a, b)| Expr::and(a, b));
                typed(if *negated {
                    inside.and_then(Expr::logical_not)
                } else {
                    inside
                })
            }
            A::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            }
            | A::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => self.like(
                node,
                expr,
                pattern,
                *negated,
                *any,
                escape_char.is_some(),
                matches!(node, A::ILike { .. }),
            ),
            A::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(node, operand.as_deref(), conditions, else_result.as_deref()),
            A::Cast {
                expr,
                data_type,
                format: None,
                ..
            } => {
                let to = self.data_type(node, data_type)?;
                match self.expr(expr)? {
                    Operand::Null(_) => Ok(Operand::Typed(Expr::literal(Value::Null, to))),
                    Operand::Typed(e) => typed(Expr::cast(e, to)),
                }
            }
            A::Ceil {
                expr,
                field: CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime),
            } => typed(Expr::call(Function::Ceil, vec![self.typed(expr)?])),
            A::Floor {
                expr,
                field: CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime),
            } => typed(Expr::call(Function::Floor, vec![self.typed(expr)?])),
            A::Trim {
                expr,
                trim_where: None,
                trim_what: None,
                trim_characters: None,
            } => typed(Expr::call(Function::Trim, vec![self.typed(expr)?])),
            A::Function(f) => self.function(node, f),
            A::Subquery(_) | A::Exists { .. } | A::InSubquery { .. } => {
                Err(self.unsupported(node, "a subquery"))
            }
            _ => Err(self.unsupported(node, &format!("`{node}`"))),
        }
    }

    fn column(&self, ident: &ast::Ident) -> Result<Expr, SqlError> {
        let exact = self.columns.iter().position(|c| c.name == ident.value);
        // Unquoted SQL identifiers are case-insensitive; quoted ones must match exactly.
        let folded = || {
            ident.quote_style.is_none().then(|| {
                self.columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(&ident.value))
            })?
        };
        match exact.or_else(folded) {
            Some(i) => Ok(Expr::column(i, self.columns[i].data_type)),
            None => {
                let names = self.columns.iter().map(|c| c.name.as_str());
                let help = if ident.quote_style == Some('"') {
                    format!(
                        "strings use single quotes: '{}'; double quotes name a column",
                        ident.value
                    )
                } else {
                    did_you_mean(&ident.value, names)
                };
                let mut e = SqlError::new(
                    format!("unknown column `{}`", ident.value),
                    self.span_range(ident.span),
                )
                .help(help);
                e.unknown_column = Some(ident.value.clone());
                Err(e)
            }
        }
    }

    fn literal(&self, node: &ast::Expr, v: &ast::Value) -> Result<Operand, SqlError> {
        use ast::Value as V;
        let lit = |value: Value, t| Ok(Operand::Typed(Expr::literal(value, t)));
        match v {
            V::Number(n, _) => match n.parse::<i64>() {
                Ok(i) => lit(Value::Int64(i), DataType::Int64),
                Err(_) => match n.parse::<f64>() {
                    Ok(f) if f.is_finite() => lit(Value::Float64(f), DataType::Float64),
                    _ => Err(SqlError::new(
                        format!("number `{n}` is out of range"),
                        self.range(node),
                    )),
                },
            },
            V::SingleQuotedString(s) => lit(Value::from(s.as_str()), DataType::String),
            V::Boolean(b) => lit(Value::Bool(*b), DataType::Bool),
            V::Null => Ok(Operand::Null(self.range(node))),
            V::DoubleQuotedString(s) => Err(SqlError::new(
                format!("\"{s}\" is a double-quoted string"),
                self.range(node),
            )
            .help(format!(
                "strings use single quotes: '{s}'; double quotes name a column"
            ))),
            other => Err(self.unsupported(node, &format!("the literal `{other}`"))),
        }
    }

    fn binary(
        &self,
        node: &ast::Expr,
        l: &ast::Expr,
        op: &BinaryOperator,
        r: &ast::Expr,
    ) -> Result<Operand, SqlError> {
        use BinaryOperator as B;
        let compare = |c| Some(Err(c));
        let arith = |a| Some(Ok(a));
        let kind: Option<Result<ArithOp, CompareOp>> = match op {
            B::Plus => arith(ArithOp::Add),
            B::Minus => arith(ArithOp::Sub),
            B::Multiply => arith(ArithOp::Mul),
            B::Divide => arith(ArithOp::Div),
            B::Modulo => arith(ArithOp::Rem),
            B::Eq => compare(CompareOp::Eq),
            B::NotEq => compare(CompareOp::NotEq),
            B::Lt => compare(CompareOp::Lt),
            B::LtEq => compare(CompareOp::LtEq),
            B::Gt => compare(CompareOp::Gt),
            B::GtEq => compare(CompareOp::GtEq),
            B::And | B::Or => None,
            other => return Err(self.unsupported(node, &format!("the operator `{other}`"))),
        };
        let result = match kind {
            None => {
                let (a, b) = (
                    self.expr(l)?.typed_as(DataType::Bool),
                    self.expr(r)?.typed_as(DataType::Bool),
                );
                if *op == B::And {
                    Expr::and(a, b)
                } else {
                    Expr::or(a, b)
                }
            }
            Some(Ok(a)) => {
                let (x, y) = self.pair(l, r, node)?;
                Expr::arith(a, x, y)
            }
            Some(Err(c)) => {
                let (x, y) = self.pair(l, r, node)?;
                Expr::compare(c, x, y)
            }
        };
        result
            .map(Operand::Typed)
            .map_err(|e| self.type_error(node, e))
    }
}
