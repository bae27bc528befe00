//! Sources: schema, time columns and the settings of each connector kind.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::raw::{RawProject, RawSource, SOURCE_KINDS};
use crate::scenarios::Scenario;
use crate::spec::{Field, SourceSpec};
use crate::suggest::did_you_mean;
use crate::yaml::Spanned;
use freshet_engine::DataType;

impl Validator {
    pub(super) fn sources(&mut self, raw: &RawProject) -> Vec<SourceSpec> {
        let dups = self.unique("source", raw.sources.iter().filter_map(|s| s.name.as_ref()));
        let mut out = Vec::new();
        for s in &raw.sources {
            let spec = self.source(s);
            if let Some(spec) = spec.filter(|spec| !dups.contains(&spec.name)) {
                out.push(spec);
            }
        }
        out
    }

    fn source(&mut self, s: &RawSource) -> Option<SourceSpec> {
        let name = s.name.as_ref().and_then(|n| self.identifier(n, "source"));
        let kinds: Vec<(&str, &str)> = SOURCE_KINDS.iter().map(|(k, _)| (*k, *k)).collect();
        let kind = s
            .kind
            .as_ref()
            .and_then(|k| self.choice(k, "source type", &kinds));
        let (schema, timestamp_field) = match (kind, &s.scenario) {
            (Some("generator"), Some(scenario)) => {
                let (schema, timestamp) = self.scenario_schema(s, scenario)?;
                (Some(schema), Some(timestamp))
            }
            (Some("generator"), None) => (None, None),
            _ => (self.schema(s), s.timestamp_field.clone()),
        };
        let timestamp_field = self.time_column(
            s,
            schema.as_deref(),
            timestamp_field.as_ref(),
            "timestamp_field",
            true,
        );
        let ingest = self.time_column(
            s,
            schema.as_deref(),
            s.ingest_time_field.as_ref(),
            "ingest_time_field",
            false,
        );
        let event_id = self.event_id(schema.as_deref(), s.event_id_field.as_ref());
        let timezone = s.timezone.as_ref().and_then(|tz| match tz.value.parse() {
            Ok(offset) => Some(offset),
            Err(message) => {
                self.report(
                    Diagnostic::at(&tz.at, message)
                        .help("this offset is applied to timestamps written without a zone"),
                );
                None
            }
        });
        let connector = self.connector(s, kind?, name.as_deref())?;
        let timezone_ok = s.timezone.is_none() || timezone.is_some();
        let event_id_ok = s.event_id_field.is_none() || event_id.is_some();
        let ingest_ok = s.ingest_time_field.is_none() || ingest.is_some();
        if !(timezone_ok && event_id_ok && ingest_ok) {
            return None;
        }
        Some(SourceSpec {
            name: name?,
            description: s.description.as_ref().map(|d| d.value.clone()),
            schema: schema?,
            timestamp_field: timestamp_field?,
            timezone,
            event_id_field: event_id,
            ingest_time_field: ingest,
            connector,
        })
    }

    /// A generator's schema and time column come from its scenario; declaring them is an error.
    fn scenario_schema(
        &mut self,
        s: &RawSource,
        scenario: &Spanned<String>,
    ) -> Option<(Vec<Field>, Spanned<String>)> {
        let names = Scenario::ALL.iter().map(|s| s.name());
        let Some(found) = Scenario::from_name(&scenario.value) else {
            self.report(
                Diagnostic::at(
                    &scenario.at,
                    format!("unknown scenario `{}`", scenario.value),
                )
                .help(did_you_mean(&scenario.value, names)),
            );
            return None;
        };
        for (key, declared) in [
            ("schema", s.schema.as_ref().map(|x| &x.at)),
            ("timestamp_field", s.timestamp_field.as_ref().map(|x| &x.at)),
        ] {
            if let Some(at) = declared {
                self.report(
                    Diagnostic::at(
                        at,
                        format!("a generator source takes its {key} from its scenario"),
                    )
                    .help(format!(
                        "remove `{key}`; scenario `{}` defines it (see docs/project-file.md)",
                        found.name()
                    )),
                );
            }
        }
        let timestamp = Spanned {
            value: found.timestamp_field().to_owned(),
            at: scenario.at.clone(),
        };
        Some((found.schema(), timestamp))
    }

    fn schema(&mut self, s: &RawSource) -> Option<Vec<Field>> {
        let Some(schema) = &s.schema else {
            if s.present.contains(&"schema") {
                return None;
            }
            let help = "declare each column and its type, e.g. \
                        `schema: {driver_id: int64, event_time: timestamp}`";
            self.report(Diagnostic::at(&s.at, "missing required field `schema`").help(help));
            return None;
        };
        if schema.value.is_empty() {
            self.report(
                Diagnostic::at(&schema.at, "the schema declares no columns")
                    .help("declare each column and its type"),
            );
            return None;
        }
        let mut fields = Vec::new();
        let mut ok = true;
        for (column, type_name) in &schema.value {
            let name = self.identifier(column, "column");
            let types = DataType::ALL.map(|t| (t.name(), t));
            let data_type = self.choice(type_name, "column type", &types);
            match (name, data_type) {
                (Some(name), Some(data_type)) => fields.push(Field { name, data_type }),
                _ => ok = false,
            }
        }
        ok.then_some(fields)
    }

    /// Checks that a time column is declared as a timestamp; `required` reports its absence.
    fn time_column(
        &mut self,
        s: &RawSource,
        schema: Option<&[Field]>,
        column: Option<&Spanned<String>>,
        key: &str,
        required: bool,
    ) -> Option<String> {
        let Some(column) = column else {
            if required && s.scenario.is_none() && !s.present.contains(&"timestamp_field") {
                let help = "name the schema column holding each event's time, \
                            e.g. `timestamp_field: event_time`";
                let message = format!("missing required field `{key}`");
                self.report(Diagnostic::at(&s.at, message).help(help));
            }
            return None;
        };
        let field = self.schema_column(schema?, column)?;
        if field.data_type != DataType::Timestamp {
            self.report(
                Diagnostic::at(
                    &column.at,
                    format!(
                        "`{key}` must name a timestamp column, but `{}` is {}",
                        field.name, field.data_type
                    ),
                )
                .help(format!("declare `{}: timestamp` in the schema", field.name)),
            );
            return None;
        }
        Some(field.name.clone())
    }

    fn event_id(
        &mut self,
        schema: Option<&[Field]>,
        column: Option<&Spanned<String>>,
    ) -> Option<String> {
        let field = self.schema_column(schema?, column?)?;
        if !matches!(field.data_type, DataType::String | DataType::Int64) {
            self.report(
                Diagnostic::at(
                    &column?.at,
                    format!(
                        "an event id must be string or int64, but `{}` is {}",
                        field.name, field.data_type
                    ),
                )
                .help("name a column that uniquely identifies each event"),
            );
            return None;
        }
        Some(field.name.clone())
    }

    fn schema_column<'f>(
        &mut self,
        schema: &'f [Field],
        column: &Spanned<String>,
    ) -> Option<&'f Field> {
        let found = schema.iter().find(|f| f.name == column.value);
        if found.is_none() {
            let names = schema.iter().map(|f| f.name.as_str());
            self.report(
                Diagnostic::at(
                    &column.at,
                    format!("the schema has no column `{}`", column.value),
                )
                .help(did_you_mean(&column.value, names)),
            );
        }
        found
    }
}
