//! The resolved source: where events come from ([`Connector`]: files, PostgreSQL, Kafka, push, the
//! generator), how their payloads and times are read, and where a stream starts. Plain data, as
//! the rest of [`crate::spec`].

use super::Field;
use crate::duration::Duration;
use crate::env::Templated;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A fixed offset from UTC used to read timestamps that carry no zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UtcOffset {
    /// Seconds east of UTC.
    pub seconds: i32,
}

impl std::str::FromStr for UtcOffset {
    type Err = String;
    fn from_str(s: &str) -> Result<UtcOffset, String> {
        if matches!(s, "UTC" | "utc" | "Z") {
            return Ok(UtcOffset { seconds: 0 });
        }
        let bad = || format!("invalid time zone `{s}`: write `UTC` or an offset such as `+02:00`");
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1, &s[1..]),
            Some(b'-') => (-1, &s[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(bad)?;
        let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h.to_string().len() > 2 || h > 18 || !(0..60).contains(&m) || rest.len() != 5 {
            return Err(bad());
        }
        Ok(UtcOffset {
            seconds: sign * (h * 3600 + m * 60),
        })
    }
}

impl TryFrom<String> for UtcOffset {
    type Error = String;
    fn try_from(s: String) -> Result<UtcOffset, String> {
        s.parse()
    }
}

impl From<UtcOffset> for String {
    fn from(o: UtcOffset) -> String {
        o.to_string()
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("UTC");
        }
        let sign = if self.seconds < 0 { '-' } else { '+' };
        let abs = self.seconds.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
    }
}

/// A source of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Columns of each event, in declaration order.
    pub schema: Vec<Field>,
    /// The `timestamp` column holding each event's event time.
    pub timestamp_field: String,
    /// How to read timestamps without a zone; `None` rejects them.
    pub timezone: Option<UtcOffset>,
    /// A column whose value identifies an event, so duplicates count once.
    pub event_id_field: Option<String>,
    /// A `timestamp` column holding when each event became known (historical files).
    pub ingest_time_field: Option<String>,
    /// How events are read.
    pub connector: Connector,
}

impl SourceSpec {
    /// A schema column by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.schema.iter().find(|f| f.name == name)
    }
}

/// How a source reads events. Every kind can be declared and validated; the runtimes arrive per issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Connector {
    /// A Kafka topic.
    Kafka {
        /// Bootstrap servers, `host:port[,host:port]`.
        brokers: Templated,
        /// Topic name.
        topic: Templated,
        /// Payload encoding.
        format: PayloadFormat,
        /// Consumer group; defaults to `freshet-<project>`.
        group_id: Option<Templated>,
        /// Where a partition with no checkpoint starts.
        start_offset: StartOffset,
        /// The payload field records are keyed by, so all events of an entity share a partition;
        /// validation fills it in from the views fed by the source when it is not written.
        key: Option<String>,
        /// Where each event's time comes from.
        event_time: EventTimeFrom,
        /// Further librdkafka consumer properties (security, timeouts), passed through.
        options: Vec<(String, Templated)>,
        /// Who decides which partitions this worker reads.
        #[serde(default)]
        assignment: PartitionAssignment,
    },
    /// Files in Parquet, CSV or JSON lines.
    File {
        /// A file, directory or glob, relative to the project.
        path: Templated,
        /// File format.
        format: FileFormat,
        /// Re-ingest on this schedule in `freshet run`.
        every: Option<Duration>,
    },
    /// A PostgreSQL table or query, read in batches.
    Postgres {
        /// `postgres://` URL.
        url: Templated,
        /// What to read.
        relation: PostgresRelation,
        /// Re-read on this schedule in `freshet run`.
        every: Option<Duration>,
    },
    /// Change data capture from a PostgreSQL table via logical replication.
    PostgresCdc {
        /// `postgres://` URL.
        url: Templated,
        /// Table to follow.
        table: Templated,
        /// Replication slot name.
        slot: String,
        /// Publication name.
        publication: String,
    },
    /// Events pushed over HTTP (`POST /push`).
    Push,
    /// The built-in generator.
    Generator {
        /// Scenario name.
        scenario: String,
        /// Events per second when streaming live.
        rate: f64,
        /// Number of distinct entities.
        entities: u64,
        /// Random seed.
        seed: u64,
        /// Clock acceleration: simulated seconds per wall-clock second.
        speedup: f64,
        /// Simulated past a fresh stream starts with, released at once.
        history: Option<Duration>,
    },
}

impl Connector {
    /// The `type:` spelling of this connector.
    pub fn kind(&self) -> &'static str {
        match self {
            Connector::Kafka { .. } => "kafka",
            Connector::File { .. } => "file",
            Connector::Postgres { .. } => "postgres",
            Connector::PostgresCdc { .. } => "postgres_cdc",
            Connector::Push => "push",
            Connector::Generator { .. } => "generator",
        }
    }
}

/// What a `postgres` source reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostgresRelation {
    /// A whole table.
    Table(Templated),
    /// A `SELECT` query.
    Query(String),
}

/// Kafka payload encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// One JSON object per record.
    Json,
}

/// Where a Kafka event's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventTimeFrom {
    /// The payload's `timestamp_field`.
    Field,
    /// The record's timestamp (written into `timestamp_field`).
    Record,
}

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOffset {
    /// The oldest retained record.
    Earliest,
    /// Only records produced from now on.
    Latest,
}

/// Which partitions of a Kafka topic a worker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionAssignment {
    /// The consumer group assigns them and moves them between workers as workers come and go.
    #[default]
    Group,
    /// Worker `worker` of `workers` reads the partitions whose number modulo `workers` is `worker`,
    /// without joining the group: a restarted worker resumes at once, with no rebalance to wait
    /// for, but a stopped worker's partitions wait for it.
    Fixed {
        /// This worker's number, below `workers`.
        worker: u32,
        /// How many workers share the topic.
        workers: u32,
    },
}

/// File formats for `file` sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_offsets() {
        let p = |s: &str| s.parse::<UtcOffset>().map(|o| o.seconds);
        assert_eq!(p("UTC"), Ok(0));
        assert_eq!(p("+02:00"), Ok(7200));
        assert_eq!(p("-05:30"), Ok(-19800));
        assert!(p("Europe/Paris").is_err());
        assert!(p("+2:00").is_err());
        assert!(p("+02:60").is_err());
        assert_eq!("-05:30".parse::<UtcOffset>().unwrap().to_string(), "-05:30");
    }
}
