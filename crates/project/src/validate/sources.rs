//! Sources: schema, time columns and the settings of each connector kind.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::duration::Duration;
use crate::raw::{RawProject, RawSource, SOURCE_KINDS};
use crate::scenarios::Scenario;
use crate::spec::{
    Connector, EventTimeFrom, Field, FileFormat, PayloadFormat, PostgresRelation, SourceSpec,
    StartOffset,
};
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

    fn connector(&mut self, s: &RawSource, kind: &str, name: Option<&str>) -> Option<Connector> {
        let every = s.every.as_ref().map(|e| self.duration(e));
        let every_ok = every.is_none_or(|e| e.is_some());
        let every: Option<Duration> = every.flatten();
        let connector = match kind {
            "kafka" => {
                let format = match &s.format {
                    Some(f) => {
                        self.choice(f, "Kafka payload format", &[("json", PayloadFormat::Json)])?
                    }
                    None => PayloadFormat::Json,
                };
                let start_offset = match &s.start_offset {
                    Some(o) => self.choice(
                        o,
                        "start offset",
                        &[
                            ("earliest", StartOffset::Earliest),
                            ("latest", StartOffset::Latest),
                        ],
                    )?,
                    None => StartOffset::Earliest,
                };
                let brokers = self.require(
                    (&s.at, &s.present),
                    s.brokers.as_ref(),
                    "brokers",
                    "127.0.0.1:9092",
                );
                let topic = self.require((&s.at, &s.present), s.topic.as_ref(), "topic", "trips");
                Connector::Kafka {
                    brokers: brokers?.value.clone(),
                    topic: topic?.value.clone(),
                    format,
                    group_id: s.group_id.as_ref().map(|g| g.value.clone()),
                    start_offset,
                    key: s.key.as_ref().map(|k| k.value.clone()),
                    event_time: match &s.event_time {
                        Some(e) => self.choice(
                            e,
                            "event time origin",
                            &[
                                ("field", EventTimeFrom::Field),
                                ("record", EventTimeFrom::Record),
                            ],
                        )?,
                        None => EventTimeFrom::Field,
                    },
                    options: s
                        .options
                        .as_ref()
                        .map(|o| {
                            o.value
                                .iter()
                                .map(|(k, v)| (k.value.clone(), v.value.clone()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    assignment: self.assignment(s.assignment.as_ref())?,
                }
            }
            "file" => {
                let path = self.require(
                    (&s.at, &s.present),
                    s.path.as_ref(),
                    "path",
                    "data/trips.parquet",
                )?;
                let format = self.file_format(s, path)?;
                Connector::File {
                    path: path.value.clone(),
                    format,
                    every,
                }
            }
            "postgres" => {
                let url = self.require(
                    (&s.at, &s.present),
                    s.url.as_ref(),
                    "url",
                    "postgres://user:${PG_PASSWORD}@127.0.0.1:5432/db",
                );
                let relation = match (&s.table, &s.query) {
                    (Some(t), None) => Some(PostgresRelation::Table(t.value.clone())),
                    (None, Some(q)) => Some(PostgresRelation::Query(q.value.clone())),
                    (Some(t), Some(_)) => {
                        self.report(
                            Diagnostic::at(&t.at, "give either `table` or `query`, not both")
                                .help("keep the one that says what to read"),
                        );
                        None
                    }
                    (None, None) => {
                        self.report(
                            Diagnostic::at(&s.at, "a postgres source needs `table` or `query`")
                                .help("add `table: loans` or `query: SELECT ...`"),
                        );
                        None
                    }
                };
                Connector::Postgres {
                    url: url?.value.clone(),
                    relation: relation?,
                    every,
                }
            }
            "postgres_cdc" => {
                let url = self.require(
                    (&s.at, &s.present),
                    s.url.as_ref(),
                    "url",
                    "postgres://user:${PG_PASSWORD}@127.0.0.1:5432/db",
                );
                let table = self.require((&s.at, &s.present), s.table.as_ref(), "table", "loans");
                let default = format!("freshet_{}", name.unwrap_or("source"));
                let slot = self.pg_name(s.slot.as_ref(), &default, "replication slot");
                let publication = self.pg_name(s.publication.as_ref(), &default, "publication");
                Connector::PostgresCdc {
                    url: url?.value.clone(),
                    table: table?.value.clone(),
                    slot: slot?,
                    publication: publication?,
                }
            }
            "push" => Connector::Push,
            _ => self.generator(s)?,
        };
        every_ok.then_some(connector)
    }

    fn file_format(
        &mut self,
        s: &RawSource,
        path: &Spanned<crate::env::Templated>,
    ) -> Option<FileFormat> {
        let formats = [
            ("parquet", FileFormat::Parquet),
            ("csv", FileFormat::Csv),
            ("jsonl", FileFormat::JsonLines),
        ];
        if let Some(f) = &s.format {
            return self.choice(f, "file format", &formats);
        }
        let template = path.value.template();
        // `events.csv.gz` is a gzip-compressed CSV file: the format is the extension before `.gz`.
        let name = template.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let extension = name.rsplit('.').next().unwrap_or_default().to_owned();
        match extension.as_str() {
            "parquet" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "jsonl" | "ndjson" => Some(FileFormat::JsonLines),
            _ => {
                self.report(
                    Diagnostic::at(
                        &path.at,
                        format!("cannot tell the format of `{template}` from its extension"),
                    )
                    .help("add `format: parquet`, `format: csv` or `format: jsonl` (text formats may be gzipped: `.csv.gz`)"),
                );
                None
            }
        }
    }

    /// PostgreSQL object names freshet creates: lower-case, at most 63 bytes.
    fn pg_name(
        &mut self,
        value: Option<&Spanned<String>>,
        default: &str,
        what: &str,
    ) -> Option<String> {
        let Some(value) = value else {
            return Some(default.chars().take(63).collect());
        };
        let v = &value.value;
        let ok = !v.is_empty()
            && v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            self.report(
                Diagnostic::at(&value.at, format!("invalid {what} name `{v}`"))
                    .help("use lower-case letters, digits and `_`, at most 63 characters"),
            );
            return None;
        }
        Some(v.clone())
    }

    fn generator(&mut self, s: &RawSource) -> Option<Connector> {
        let Some(scenario) = &s.scenario else {
            let names: Vec<String> = Scenario::ALL
                .iter()
                .map(|s| format!("`{}`", s.name()))
                .collect();
            self.report(
                Diagnostic::at(&s.at, "missing required field `scenario`").help(format!(
                    "add `scenario: rides` (available: {})",
                    names.join(", ")
                )),
            );
            return None;
        };
        let positive = |v: &mut Validator,
                        value: Option<&Spanned<f64>>,
                        default: f64,
                        key: &str| match value {
            None => Some(default),
            Some(x) if x.value > 0.0 => Some(x.value),
            Some(x) => {
                v.report(
                    Diagnostic::at(&x.at, format!("`{key}` must be greater than zero"))
                        .help(format!("the default is {default}")),
                );
                None
            }
        };
        let count =
            |v: &mut Validator, value: Option<&Spanned<i64>>, default: u64, min: i64, key: &str| {
                match value {
                    None => Some(default),
                    Some(x) if x.value >= min => u64::try_from(x.value).ok(),
                    Some(x) => {
                        v.report(
                            Diagnostic::at(&x.at, format!("`{key}` must be at least {min}"))
                                .help(format!("the default is {default}")),
                        );
                        None
                    }
                }
            };
        let rate = positive(self, s.rate.as_ref(), 1_000.0, "rate");
        let speedup = positive(self, s.speedup.as_ref(), 1.0, "speedup");
        let entities = count(self, s.entities.as_ref(), 1_000, 1, "entities");
        let seed = count(self, s.seed.as_ref(), 42, 0, "seed");
        let history = match &s.history {
            None => Some(None),
            Some(h) => self.duration(h).and_then(|d| {
                if d.micros() <= 365 * 86_400_000_000 {
                    Some(Some(d))
                } else {
                    self.report(
                        Diagnostic::at(&h.at, "`history` is over a year")
                            .help("give at most 365d of simulated past"),
                    );
                    None
                }
            }),
        };
        Some(Connector::Generator {
            history: history?,
            scenario: scenario.value.clone(),
            rate: rate?,
            entities: entities?,
            seed: seed?,
            speedup: speedup?,
        })
    }
}
