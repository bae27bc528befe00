//! SQL text to compiled engine expressions.
//!
//! `sqlparser` does the parsing; this module maps the subset of SQL that makes sense per event (operators,
//! `IN`, `BETWEEN`, `LIKE`, `CASE`, `CAST`, the functions of [`freshet_engine::expr::Function`]) onto the
//! engine's type-checking constructors, and turns every failure into a message that points at the exact
//! characters inside the expression. Aggregates, subqueries and other row-spanning constructs are refused:
//! aggregation is what feature definitions are for.

mod compiler;
mod forms;

use crate::spec::Field;
use compiler::{Compiler, Operand};
use freshet_engine::Expr;
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

#[cfg(test)]
mod tests;
