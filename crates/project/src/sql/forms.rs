//! The SQL forms beyond operators: `[I]LIKE`, `CASE`, function calls and the types `CAST` names.

use super::SqlError;
use super::compiler::{Compiler, Operand};
use crate::suggest::did_you_mean;
use freshet_engine::expr::{CompareOp, Function, LikePattern};
use freshet_engine::{DataType, Expr};
use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments};

impl Compiler<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn like(
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

    pub(super) fn case(
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

    pub(super) fn function(
        &self,
        node: &ast::Expr,
        f: &ast::Function,
    ) -> Result<Operand, SqlError> {
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

    pub(super) fn data_type(
        &self,
        node: &ast::Expr,
        t: &ast::DataType,
    ) -> Result<DataType, SqlError> {
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
