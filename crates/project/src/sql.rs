//! SQL text to compiled engine expressions.
//!
//! `sqlparser` does the parsing; this module maps the subset of SQL that makes sense per event (operators,
//! `IN`, `BETWEEN`, `LIKE`, `CASE`, `CAST`, the functions of [`freshet_engine::expr::Function`]) onto the
//! engine's type-checking constructors, and turns every failure into a message that points at the exact
//! characters inside the expression. Aggregates, subqueries and other row-spanning constructs are refused:
//! aggregation is what feature definitions are for.

use crate::spec::Field;
use crate::suggest::did_you_mean;
use freshet_engine::expr::{ArithOp, CompareOp, Function, LikePattern, TypeError};
use freshet_engine::{DataType, Expr, Value};
use sqlparser::ast::{
    self, BinaryOperator, CeilFloorKind, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned,
    UnaryOperator,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token};
use std::ops::Range;

/// A compiled expression with its canonical text (what the registry stores and compares).
#[derive(Debug, Clone)]
pub(crate) struct CompiledSql {
    pub(crate) expr: Expr,
    pub(crate) canonical: String,
}

/// A problem in an expression, located by byte range inside the expression text when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlError {
    pub(crate) message: String,
    pub(crate) help: Option<String>,
    pub(crate) range: Option<Range<usize>>,
    /// Set when the problem is a reference to a column that does not exist.
    pub(crate) unknown_column: Option<String>,
}

impl SqlError {
    fn new(message: impl Into<String>, range: Option<Range<usize>>) -> SqlError {
        SqlError {
            message: message.into(),
            help: None,
            range,
            unknown_column: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> SqlError {
        self.help = Some(help.into());
        self
    }
}

const SUPPORTED: &str = "supported: columns, literals, + - * / %, comparisons, AND/OR/NOT, IS [NOT] NULL, \
[NOT] IN, BETWEEN, [I]LIKE, CASE, CAST and the functions listed in docs/project-file.md";

/// Parses and type-checks `text` over `columns` (row index = position in the slice).
pub(crate) fn compile(text: &str, columns: &[Field]) -> Result<CompiledSql, SqlError> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| parse_error(text, &e))?;
    let ast = parser.parse_expr().map_err(|e| parse_error(text, &e))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        let range = byte_range(text, next.span.start, next.span.end);
        return Err(SqlError::new(
            format!("unexpected `{}` after the expression", next.token),
            range,
        )
        .help("a filter or column is one expression; join conditions with AND / OR"));
    }
    let compiler = Compiler { text, columns };
    let expr = match compiler.expr(&ast)? {
        Operand::Typed(e) => e,
        Operand::Null(range) => {
            return Err(SqlError::new("a bare NULL has no type", range)
                .help("write CAST(NULL AS float64) or similar"));
        }
    };
    Ok(CompiledSql {
        expr,
        canonical: ast.to_string(),
    })
}

/// Turns sqlparser's "... at Line: 1, Column: 7" messages into a located, lower-case message.
fn parse_error(text: &str, error: &sqlparser::parser::ParserError) -> SqlError {
    use sqlparser::parser::ParserError as P;
    let raw = match error {
        P::TokenizerError(m) | P::ParserError(m) => m.clone(),
        P::RecursionLimitExceeded => "the expression is nested too deeply".to_owned(),
    };
    let (message, range) = match raw.rfind(" at Line: ") {
        Some(i) => {
            let location = &raw[i + " at Line: ".len()..];
            let mut parts = location.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse().ok());
            let column = parts.next().and_then(|c| c.trim().parse().ok());
            let range = match (line, column) {
                (Some(line), Some(column)) => {
                    let start = Location { line, column };
                    byte_range(text, start, start)
                }
                _ => None,
            };
            (raw[..i].to_owned(), range)
        }
        None => (raw, None),
    };
    let message = message
        .replace("Expected: ", "expected ")
        .replace(", found: ", ", found ");
    let mut chars = message.chars();
    let message: String = chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect();
    SqlError::new(format!("invalid SQL expression: {message}"), range)
        .help("check the operators, quotes and parentheses; strings use single quotes")
}

/// Byte range in `text` from sqlparser locations (1-based line and column, end exclusive); an empty
/// range is widened to one character so the caret has something to point at.
fn byte_range(text: &str, start: Location, end: Location) -> Option<Range<usize>> {
    let offset = |loc: Location| -> Option<usize> {
        if loc.line == 0 {
            return None;
        }
        let line_start = text
            .split_inclusive('\n')
            .take(usize::try_from(loc.line).ok()? - 1)
            .map(str::len)
            .sum::<usize>();
        let line = &text[line_start..];
        let col = usize::try_from(loc.column).ok()?.saturating_sub(1);
        Some(line_start + line.char_indices().nth(col).map_or(line.len(), |(i, _)| i))
    };
    let s = offset(start)?;
    let e = offset(end).unwrap_or(s).max(s);
    let e = if e == s {
        text[s..].chars().next().map_or(s, |c| s + c.len_utf8())
    } else {
        e
    };
    Some(s..e)
}

/// An operand before its type is known: SQL's `NULL` takes the type of what it is combined with.
enum Operand {
    Typed(Expr),
    Null(Option<Range<usize>>),
}

impl Operand {
    fn typed_as(self, t: DataType) -> Expr {
        match self {
            Operand::Typed(e) => e,
            Operand::Null(_) => Expr::literal(Value::Null, t),
        }
    }
}

struct Compiler<'a> {
    text: &'a str,
    columns: &'a [Field],
}

impl Compiler<'_> {
    fn range(&self, node: &impl Spanned) -> Option<Range<usize>> {
        self.span_range(node.span())
    }

    fn span_range(&self, span: sqlparser::tokenizer::Span) -> Option<Range<usize>> {
        byte_range(self.text, span.start, span.end)
    }

    fn type_error(&self, node: &impl Spanned, e: TypeError) -> SqlError {
        let help = match &e {
            TypeError::Incomparable { .. } => "CAST one side so both have the same type",
            TypeError::Cast { .. } => {
                "see docs/project-file.md for the conversions freshet defines"
            }
            _ => "check the operand types against the source schema",
        };
        SqlError::new(e.to_string(), self.range(node)).help(help)
    }

    fn unsupported(&self, node: &ast::Expr, what: &str) -> SqlError {
        SqlError::new(
            format!("{what} is not supported in feature expressions"),
            self.range(node),
        )
        .help(SUPPORTED)
    }

    /// Compiles a node that must have a type on its own (NULL is refused).
    fn typed(&self, node: &ast::Expr) -> Result<Expr, SqlError> {
        match self.expr(node)? {
            Operand::Typed(e) => Ok(e),
            Operand::Null(range) => Err(SqlError::new("a bare NULL has no type here", range)
                .help("write CAST(NULL AS <type>)")),
        }
    }

    /// Compiles two operands, typing a NULL on one side as the other side.
    fn pair(
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

    fn expr(&self, node: &ast::Expr) -> Result<Operand, SqlError> {
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

    #[allow(clippy::too_many_arguments)]
    fn like(
        &self,
        node: &ast::Expr,
        expr: &ast::Expr,
        pattern: &ast::Expr,
        negated: bool,
        any: bool,
        escape: bool,
        ci: bool,
    ) -> Result<Operand, SqlError> {
        if any || escape {
            return Err(self.unsupported(node, "LIKE ANY / ESCAPE"))
                .map_err(|e| e.help("escape `%` and `_` with a backslash instead"));
        }
        let ast::Expr::Value(ast::ValueWithSpan {
            value: ast::Value::SingleQuotedString(p),
            ..
        }) = pattern
        else {
            return Err(SqlError::new(
                "a LIKE pattern must be a string literal",
                self.range(pattern),
            )
            .help("write the pattern in single quotes, e.g. 'prefix%'"));
        };
        let value = self.typed(expr)?;
        Expr::like(value, LikePattern::new(p, ci), negated)
            .map(Operand::Typed)
            .map_err(|e| self.type_error(node, e))
    }

    fn case(
        &self,
        node: &ast::Expr,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        otherwise: Option<&ast::Expr>,
    ) -> Result<Operand, SqlError> {
        let mut branches = Vec::with_capacity(conditions.len());
        let mut results = Vec::with_capacity(conditions.len());
        for when in conditions {
            let cond = match operand {
                // `CASE x WHEN v THEN ...` compares x = v.
                Some(op) => {
                    let (x, v) = self.pair(op, &when.condition, node)?;
                    Expr::compare(CompareOp::Eq, x, v)
                        .map_err(|e| self.type_error(&when.condition, e))?
                }
                None => self.expr(&when.condition)?.typed_as(DataType::Bool),
            };
            branches.push(cond);
            results.push(self.expr(&when.result)?);
        }
        let otherwise = otherwise.map(|o| self.expr(o)).transpose()?;
        let t = results
            .iter()
            .chain(otherwise.as_ref())
            .find_map(|r| match r {
                Operand::Typed(e) => Some(e.data_type()),
                Operand::Null(_) => None,
            })
            .ok_or_else(|| SqlError::new("every branch of this CASE is NULL", self.range(node)))?;
        let pairs = branches
            .into_iter()
            .zip(results.into_iter().map(|r| r.typed_as(t)))
            .collect();
        Expr::case(pairs, otherwise.map(|o| o.typed_as(t)))
            .map(Operand::Typed)
            .map_err(|e| self.type_error(node, e))
    }

    fn function(&self, node: &ast::Expr, f: &ast::Function) -> Result<Operand, SqlError> {
        let name = f.name.to_string();
        let Some(function) = Function::from_name(&name) else {
            let names = Function::ALL.iter().map(|f| f.name());
            return Err(
                SqlError::new(format!("unknown function `{name}`"), self.range(&f.name))
                    .help(did_you_mean(&name, names)),
            );
        };
        let FunctionArguments::List(list) = &f.args else {
            return Err(SqlError::new(
                format!("{name} needs parentheses and arguments"),
                self.range(node),
            ));
        };
        if list.duplicate_treatment.is_some()
            || !list.clauses.is_empty()
            || f.over.is_some()
            || f.filter.is_some()
        {
            return Err(self
                .unsupported(
                    node,
                    "DISTINCT, ORDER BY, FILTER or OVER in a function call",
                )
                .help("aggregations over events are written as features, not SQL"));
        }
        let mut args = Vec::with_capacity(list.args.len());
        for arg in &list.args {
            let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg else {
                return Err(self.unsupported(node, "a named or wildcard argument"));
            };
            args.push(self.expr(e)?);
        }
        let t = args.iter().find_map(|a| match a {
            Operand::Typed(e) => Some(e.data_type()),
            Operand::Null(_) => None,
        });
        let args = args
            .into_iter()
            .map(|a| a.typed_as(t.unwrap_or(DataType::Int64)))
            .collect();
        Expr::call(function, args)
            .map(Operand::Typed)
            .map_err(|e| self.type_error(node, e))
    }

    fn data_type(&self, node: &ast::Expr, t: &ast::DataType) -> Result<DataType, SqlError> {
        use ast::DataType as D;
        let mapped = match t {
            D::Int(_) | D::Integer(_) | D::BigInt(_) | D::Int8(_) | D::Int64 => {
                Some(DataType::Int64)
            }
            D::Float(_) | D::Double(_) | D::DoublePrecision | D::Real | D::Float64 => {
                Some(DataType::Float64)
            }
            D::Text | D::Varchar(_) | D::String(_) => Some(DataType::String),
            D::Bool | D::Boolean => Some(DataType::Bool),
            D::Timestamp(..) => Some(DataType::Timestamp),
            D::Custom(name, _) => DataType::from_name(&name.to_string()),
            _ => None,
        };
        mapped.ok_or_else(|| {
            SqlError::new(format!("cannot cast to `{t}`"), self.range(node))
                .help("cast to bool, int64, float64, string or timestamp")
        })
    }
}

#[cfg(test)]
mod tests;
