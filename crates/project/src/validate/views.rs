//! Feature views: entities and join keys, derived columns, the filter, and each feature's typing.

use super::{Kind, Validator};
use crate::CompiledView;
use crate::diagnostic::Diagnostic;
use crate::raw::{RawFeature, RawProject, RawView};
use crate::spec::{DerivedColumnSpec, EntitySpec, FeatureSpec, FeatureViewSpec, Field, SourceSpec};
use crate::sql::{self, CompiledSql, SqlError};
use crate::suggest::did_you_mean;
use crate::yaml::Spanned;
use freshet_engine::{Aggregation, DataType, Expr, FeatureDef, ViewDef};

/// The columns an expression or feature may reference. `columns` is `None` when the source is invalid;
/// `failed` lists derived columns that were declared but did not compile (already reported).
struct Scope {
    columns: Option<Vec<Field>>,
    failed: Vec<String>,
}

/// Longest list `last_n` may keep per entity; bounds state size.
const MAX_LAST_N: i64 = 1_000;

impl Validator {
    pub(super) fn views(
        &mut self,
        raw: &RawProject,
        entities: &[EntitySpec],
        sources: &[SourceSpec],
    ) -> (Vec<FeatureViewSpec>, Vec<CompiledView>) {
        let dups = self.unique(
            "feature view",
            raw.feature_views.iter().filter_map(|v| v.name.as_ref()),
        );
        let mut specs = Vec::new();
        let mut compiled = Vec::new();
        for v in &raw.feature_views {
            if let Some((spec, view)) = self.view(v, entities, sources)
                && !dups.contains(&spec.name)
            {
                specs.push(spec);
                compiled.push(view);
            }
        }
        (specs, compiled)
    }

    fn view(
        &mut self,
        v: &RawView,
        entities: &[EntitySpec],
        sources: &[SourceSpec],
    ) -> Option<(FeatureViewSpec, CompiledView)> {
        let name = v
            .name
            .as_ref()
            .and_then(|n| self.identifier(n, "feature view"));
        let version = match &v.version {
            None => Some(1),
            Some(x) => match u32::try_from(x.value) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    self.report(
                        Diagnostic::at(&x.at, "`version` must be a whole number from 1")
                            .help("start at 1 and increase it for each breaking change"),
                    );
                    None
                }
            },
        };
        let source = v
            .source
            .as_ref()
            .and_then(|s| self.resolve(s, Kind::Source, sources, |x| &x.name));
        let view_entities = self.view_entities(v, entities, source);
        let ttl = match &v.ttl {
            None => Some(None),
            Some(t) => self.duration(t).map(Some),
        };
        // Without a valid source the columns are unknown: everything else is still checked.
        let mut scope = Scope {
            columns: source.map(|s| s.schema.clone()),
            failed: Vec::new(),
        };
        let derived = self.derived_columns(v, &mut scope);
        let filter = match &v.filter {
            None => Some(None),
            Some(f) => self.filter(f, &scope).map(Some),
        };
        let features = self.features(v, &scope);
        let columns = scope.columns?;
        let (derived, derived_exprs) = derived?;
        let features = features?;
        let (filter_text, filter_expr) = filter?.map(|c| (c.canonical, c.expr)).unzip();
        let spec = FeatureViewSpec {
            name: name?,
            version: version?,
            description: v.description.as_ref().map(|d| d.value.clone()),
            entities: view_entities?,
            source: source?.name.clone(),
            columns: derived,
            filter: filter_text,
            ttl: ttl?,
            features,
        };
        let def = engine_view(
            &spec,
            source?,
            entities,
            &columns,
            derived_exprs,
            filter_expr,
        );
        let compiled = CompiledView { columns, def };
        Some((spec, compiled))
    }

    /// Resolves the view's entities and checks their join keys are typed key columns of the source.
    fn view_entities(
        &mut self,
        v: &RawView,
        entities: &[EntitySpec],
        source: Option<&SourceSpec>,
    ) -> Option<Vec<String>> {
        let list = v.entities.as_ref()?;
        if list.value.is_empty() {
            self.report(
                Diagnostic::at(&list.at, "a feature view needs at least one entity")
                    .help("name the entities its features describe, e.g. `entities: [driver]`"),
            );
            return None;
        }
        self.unique("entity reference", list.value.iter());
        let mut out = Vec::new();
        let mut ok = true;
        for reference in &list.value {
            let Some(entity) = self.resolve(reference, Kind::Entity, entities, |e| &e.name) else {
                ok = false;
                continue;
            };
            for key in &entity.join_keys {
                let Some(source) = source else { continue };
                match source.field(key) {
                    None => {
                        ok = false;
                        self.report(
                            Diagnostic::at(
                                &reference.at,
                                format!(
                                    "source `{}` has no column `{key}`, a join key of entity `{}`",
                                    source.name, entity.name
                                ),
                            )
                            .help(format!(
                                "add `{key}` to the schema of source `{}`",
                                source.name
                            )),
                        );
                    }
                    Some(f) if !matches!(f.data_type, DataType::Int64 | DataType::String) => {
                        ok = false;
                        let message = format!(
                            "join key `{key}` of source `{}` is {}, but join keys must be int64 or string",
                            source.name, f.data_type
                        );
                        let help =
                            format!("declare `{key}` as int64 or string in the source schema");
                        self.report(Diagnostic::at(&reference.at, message).help(help));
                    }
                    Some(_) => {}
                }
            }
            out.push(entity.name.clone());
        }
        ok.then_some(out)
    }

    /// Compiles an expression in the view's scope. Errors caused by an unknown or already-broken column
    /// are reported once: not at all when the column itself was the reported problem.
    fn expression(
        &mut self,
        text: &Spanned<String>,
        scope: &Scope,
        what: &str,
    ) -> Option<CompiledSql> {
        let Some(columns) = scope.columns.as_deref() else {
            // Columns unknown (invalid source): still report what needs no schema, such as syntax errors.
            if let Err(e) = sql::compile(&text.value, &[])
                && e.unknown_column.is_none()
            {
                self.sql_error(text, e, what);
            }
            return None;
        };
        match sql::compile(&text.value, columns) {
            Ok(compiled) => Some(compiled),
            Err(e)
                if e.unknown_column
                    .as_ref()
                    .is_some_and(|c| scope.failed.contains(c)) =>
            {
                None
            }
            Err(e) => {
                self.sql_error(text, e, what);
                None
            }
        }
    }

    fn sql_error(&mut self, text: &Spanned<String>, e: SqlError, what: &str) {
        let at = match e.range {
            Some(r) => text.at_offset(r),
            None => text.at.clone(),
        };
        let mut d = Diagnostic::at(&at, format!("in {what}: {}", e.message));
        if let Some(help) = e.help {
            d = d.help(help);
        }
        self.report(d);
    }

    /// Compiles derived columns in order, each seeing the source columns and the columns before it.
    /// A column that fails is remembered so later references to it are not reported again.
    fn derived_columns(
        &mut self,
        v: &RawView,
        scope: &mut Scope,
    ) -> Option<(Vec<DerivedColumnSpec>, Vec<freshet_engine::Expr>)> {
        let mut specs = Vec::new();
        let mut exprs = Vec::new();
        let mut ok = true;
        for c in &v.columns {
            let name = c.name.as_ref().and_then(|n| self.identifier(n, "column"));
            let clash = match (&name, &c.name, &scope.columns) {
                (Some(n), Some(spanned), Some(columns)) if columns.iter().any(|f| &f.name == n) => {
                    let message = format!(
                        "column `{n}` already exists in the source or an earlier derived column"
                    );
                    self.report(
                        Diagnostic::at(&spanned.at, message)
                            .help("give the derived column a new name"),
                    );
                    true
                }
                _ => false,
            };
            let compiled = c
                .expr
                .as_ref()
                .and_then(|text| self.expression(text, scope, "this derived column"));
            match (name, compiled, &mut scope.columns) {
                (Some(name), Some(CompiledSql { expr, canonical }), Some(columns)) if !clash => {
                    let data_type = expr.data_type();
                    columns.push(Field {
                        name: name.clone(),
                        data_type,
                    });
                    specs.push(DerivedColumnSpec {
                        name,
                        expr: canonical,
                        data_type,
                    });
                    exprs.push(expr);
                }
                _ => {
                    ok = false;
                    scope
                        .failed
                        .extend(c.name.as_ref().map(|n| n.value.clone()));
                }
            }
        }
        ok.then_some((specs, exprs))
    }

    fn filter(&mut self, text: &Spanned<String>, scope: &Scope) -> Option<CompiledSql> {
        let c = self.expression(text, scope, "the filter")?;
        if c.expr.data_type() != DataType::Bool {
            self.report(
                Diagnostic::at(
                    &text.at,
                    format!(
                        "the filter must be a true/false condition, but it is {}",
                        c.expr.data_type()
                    ),
                )
                .help("compare the value, e.g. `fare > 0`"),
            );
            return None;
        }
        Some(c)
    }

    fn features(&mut self, v: &RawView, scope: &Scope) -> Option<Vec<FeatureSpec>> {
        let list = v.features.as_ref()?;
        if list.value.is_empty() {
            self.report(
                Diagnostic::at(&list.at, "a feature view needs at least one feature")
                    .help("add e.g. `- {name: trips_1h, aggregation: count, window: 1h}`"),
            );
            return None;
        }
        let dups = self.unique("feature", list.value.iter().filter_map(|f| f.name.as_ref()));
        let mut out = Vec::new();
        let mut ok = dups.is_empty();
        for f in &list.value {
            match self.feature(f, scope) {
                Some(spec) => out.push(spec),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn feature(&mut self, f: &RawFeature, scope: &Scope) -> Option<FeatureSpec> {
        let name = f.name.as_ref().and_then(|n| self.identifier(n, "feature"));
        let aggregations = Aggregation::ALL.map(|a| (a.name(), a));
        let aggregation = f
            .aggregation
            .as_ref()
            .and_then(|a| self.choice(a, "aggregation", &aggregations));
        let window = match &f.window {
            None => Some(None),
            Some(w) => self.duration(w).map(Some),
        };
        let n = aggregation.and_then(|a| self.last_n(f, a));
        let column = match (&f.column, &scope.columns) {
            (None, _) => Some(None),
            (Some(c), Some(columns)) => match columns.iter().find(|x| x.name == c.value) {
                Some(field) => Some(Some(field)),
                None if scope.failed.contains(&c.value) => None,
                None => {
                    let names = columns.iter().map(|x| x.name.as_str());
                    self.report(
                        Diagnostic::at(&c.at, format!("unknown column `{}`", c.value))
                            .help(did_you_mean(&c.value, names)),
                    );
                    None
                }
            },
            (Some(_), None) => None,
        };
        let (aggregation, column) = (aggregation?, column?);
        let output_type = match aggregation.output_type(column.map(|c| c.data_type)) {
            Ok(t) => t,
            Err(e) => {
                let at = f.column.as_ref().map_or(&f.at, |c| &c.at);
                let help = match column {
                    None => format!("add `column: <name>` to say what `{aggregation}` aggregates"),
                    Some(_) => "aggregate a column of an accepted type, \
                                or derive one under `columns:` with CAST"
                        .to_owned(),
                };
                self.report(Diagnostic::at(at, e.to_string()).help(help));
                return None;
            }
        };
        Some(FeatureSpec {
            name: name?,
            aggregation,
            column: column.map(|c| c.name.clone()),
            window: window?,
            n: n?,
            output_type,
            description: f.description.as_ref().map(|d| d.value.clone()),
        })
    }

    /// `n` is required by `last_n` (1 to 1000) and meaningless elsewhere.
    fn last_n(&mut self, f: &RawFeature, aggregation: Aggregation) -> Option<Option<u32>> {
        match (&f.n, aggregation.takes_n()) {
            (None, false) => Some(None),
            (Some(n), true) if (1..=MAX_LAST_N).contains(&n.value) => {
                u32::try_from(n.value).ok().map(Some)
            }
            (Some(n), true) => {
                self.report(
                    Diagnostic::at(&n.at, format!("`n` must be between 1 and {MAX_LAST_N}"))
                        .help("keep the list short; it is stored per entity"),
                );
                None
            }
            (None, true) => {
                self.report(
                    Diagnostic::at(&f.at, "`last_n` needs `n`, the number of values to keep")
                        .help("add e.g. `n: 5`"),
                );
                None
            }
            (Some(n), false) => {
                self.report(
                    Diagnostic::at(
                        &n.at,
                        format!("`n` only applies to `last_n`, not `{aggregation}`"),
                    )
                    .help("remove `n`, or use `aggregation: last_n`"),
                );
                None
            }
        }
    }
}

/// The engine's definition of a validated view: every column reference resolved to a row index, every
/// duration to microseconds. Validation guarantees each lookup succeeds; a miss would only drop a key.
fn engine_view(
    spec: &FeatureViewSpec,
    source: &SourceSpec,
    entities: &[EntitySpec],
    columns: &[Field],
    derived: Vec<Expr>,
    filter: Option<Expr>,
) -> ViewDef {
    let position = |name: &str| source.schema.iter().position(|f| f.name == name);
    let key_columns = spec
        .entities
        .iter()
        .filter_map(|e| entities.iter().find(|x| &x.name == e))
        .flat_map(|e| e.join_keys.iter())
        .filter_map(|k| position(k))
        .collect();
    let features = spec
        .features
        .iter()
        .map(|f| FeatureDef {
            name: f.name.clone(),
            aggregation: f.aggregation,
            column: f
                .column
                .as_ref()
                .and_then(|c| columns.iter().position(|x| &x.name == c)),
            window: f.window.map(|w| w.micros()),
            n: f.n.map(|n| n as usize),
        })
        .collect();
    ViewDef {
        name: spec.name.clone(),
        columns: source
            .schema
            .iter()
            .map(|f| (f.name.clone(), f.data_type))
            .collect(),
        key_columns,
        timestamp_column: position(&source.timestamp_field).unwrap_or(0),
        ingest_time_column: source.ingest_time_field.as_deref().and_then(position),
        event_id_column: source.event_id_field.as_deref().and_then(position),
        derived,
        filter,
        ttl: spec.ttl.map(|t| t.micros()),
        features,
    }
}
