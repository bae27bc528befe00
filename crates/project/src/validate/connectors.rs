//! Connectors: the settings of each kind of source (Kafka, files, PostgreSQL and its change data
//! capture, push, the generator), each kind read by its own method from one `match`.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::duration::Duration;
use crate::raw::RawSource;
use crate::scenarios::Scenario;
use crate::spec::{
    Connector, EventTimeFrom, FileFormat, PayloadFormat, PostgresRelation, StartOffset,
};
use crate::yaml::Spanned;

impl Validator {
    /// The connector of kind `kind` (already checked against the known kinds), from its settings.
    pub(super) fn connector(
        &mut self,
        s: &RawSource,
        kind: &str,
        name: Option<&str>,
    ) -> Option<Connector> {
        let every = s.every.as_ref().map(|e| self.duration(e));
        let every_ok = every.is_none_or(|e| e.is_some());
        let every: Option<Duration> = every.flatten();
        let connector = match kind {
            "kafka" => self.kafka(s)?,
            "file" => self.file(s, every)?,
            "postgres" => self.postgres(s, every)?,
            "postgres_cdc" => self.postgres_cdc(s, name)?,
            "push" => Connector::Push,
            _ => self.generator(s)?,
        };
        every_ok.then_some(connector)
    }

    fn kafka(&mut self, s: &RawSource) -> Option<Connector> {
        let format = match &s.format {
            Some(f) => self.choice(f, "Kafka payload format", &[("json", PayloadFormat::Json)])?,
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
        Some(Connector::Kafka {
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
        })
    }

    fn file(&mut self, s: &RawSource, every: Option<Duration>) -> Option<Connector> {
        let path = self.require(
            (&s.at, &s.present),
            s.path.as_ref(),
            "path",
            "data/trips.parquet",
        )?;
        let format = self.file_format(s, path)?;
        Some(Connector::File {
            path: path.value.clone(),
            format,
            every,
        })
    }

    fn postgres(&mut self, s: &RawSource, every: Option<Duration>) -> Option<Connector> {
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
        Some(Connector::Postgres {
            url: url?.value.clone(),
            relation: relation?,
            every,
        })
    }

    fn postgres_cdc(&mut self, s: &RawSource, name: Option<&str>) -> Option<Connector> {
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
        Some(Connector::PostgresCdc {
            url: url?.value.clone(),
            table: table?.value.clone(),
            slot: slot?,
            publication: publication?,
        })
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
