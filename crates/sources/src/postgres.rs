//! Reading a PostgreSQL table or query (`type: postgres`) into decoded rows.
//!
//! A read is one snapshot: a `REPEATABLE READ, READ ONLY` transaction holding a server-side cursor,
//! fetched a batch at a time, so the rows are consistent with each other and memory stays bounded
//! whatever the size of the table. Only the columns the source declares are selected; others are
//! ignored, as a file's extra columns are.
//!
//! The relation's columns are checked against the source's schema before any row is read. A missing
//! column, or a PostgreSQL type that cannot hold the declared one without guessing (`numeric` as
//! `float64`, a zone-less `timestamp` with no `timezone` on the source), is a problem with the whole
//! source, reported with the cast or setting that fixes it. A problem with one cell (an infinite
//! timestamp) makes that row a [`Record::Bad`] for the dead-letter sink and never stops the read.

pub mod cdc;
mod column;
pub mod pgoutput;

use crate::read::Record;
use column::ColumnReader;
use freshet_project::spec::{Connector, PostgresRelation, SourceSpec};
use std::time::Duration;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

/// Rows fetched from the cursor per round trip.
pub const FETCH_ROWS: u32 = 10_000;

/// Problems with a PostgreSQL source as a whole. Each names the source and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The source is not a `postgres` source.
    #[error("source `{source_name}` is a {kind} source, not a postgres source")]
    NotAPostgresSource {
        /// The source.
        source_name: String,
        /// Its kind.
        kind: &'static str,
    },
    /// The `url` cannot be used: not a connection string, or asking for what freshet cannot do.
    #[error(
        "source `{source_name}`: cannot use its `url`: {reason}; write it as postgres://user:password@host:5432/database (TLS: leave out sslmode, or set sslmode=disable, on a trusted network)"
    )]
    BadUrl {
        /// The source.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The server cannot be reached or refused the login.
    #[error(
        "source `{source_name}`: cannot connect to PostgreSQL at {server}: {reason}; check that the server runs and that the source's `url` (host, port, user, password, database) is right"
    )]
    Connect {
        /// The source.
        source_name: String,
        /// Host, port and database (never the password).
        server: String,
        /// Why.
        reason: String,
    },
    /// A statement failed: the table does not exist, the query is invalid, the connection broke.
    #[error("source `{source_name}`: PostgreSQL refused to read {relation}: {reason}")]
    Query {
        /// The source.
        source_name: String,
        /// The table or query.
        relation: String,
        /// PostgreSQL's message.
        reason: String,
    },
    /// A declared column is not in the relation.
    #[error(
        "source `{source_name}`: {relation} has no column `{column}` (it has: {available}); add the column, select it in the query, or remove it from the source's schema"
    )]
    MissingColumn {
        /// The source.
        source_name: String,
        /// The table or query.
        relation: String,
        /// The declared column.
        column: String,
        /// The relation's columns.
        available: String,
    },
    /// A column's PostgreSQL type cannot be read as the declared type.
    #[error(
        "source `{source_name}`: column `{column}` of {relation} is `{found}` in PostgreSQL and cannot be read as {declared}; {help}"
    )]
    ColumnType {
        /// The source.
        source_name: String,
        /// The table or query.
        relation: String,
        /// The column.
        column: String,
        /// Its PostgreSQL type.
        found: String,
        /// The declared type.
        declared: String,
        /// How to fix it.
        help: String,
    },
    /// The server cannot stream the table's changes: logical WAL is off, or it refused the
    /// publication, the replication slot or the replication connection.
    #[error(
        "source `{source_name}`: cannot follow the changes of table `{table}`: {reason}; {help}"
    )]
    Replication {
        /// The source.
        source_name: String,
        /// The table.
        table: String,
        /// Why.
        reason: String,
        /// How to fix it.
        help: String,
    },
}

/// A read in progress: an open snapshot and cursor over one source's relation.
#[derive(Debug)]
pub struct RelationReader {
    client: Client,
    source_name: String,
    relation: String,
    columns: Vec<ColumnReader>,
    column_names: Vec<String>,
    fetch: String,
    rows_read: u64,
    finished: bool,
}

/// How a relation is named in messages: `table loans` or `the query of source x`.
pub fn describe_relation(source: &SourceSpec) -> String {
    match &source.connector {
        Connector::Postgres {
            relation: PostgresRelation::Table(table),
            ..
        } => format!("table `{}`", table.resolved()),
        _ => format!("the query of source `{}`", source.name),
    }
}

/// Quotes a possibly schema-qualified table name part by part: `public.Loans` → `"public"."Loans"`.
fn quote_table(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

fn quote_column(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Host, port and database of a connection, for messages (never the password).
fn server_of(config: &Config) -> String {
    let host = config.get_hosts().first().map_or_else(
        || "localhost".to_owned(),
        |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

/// PostgreSQL's own message for an error, without the driver's prefix.
fn reason(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.hint() {
            Some(hint) => format!("{} ({hint})", db.message()),
            None => db.message().to_owned(),
        },
        None => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
    }
}

/// Why `source_name`'s `url` cannot be used.
fn bad_url(source_name: &str, reason: String) -> PostgresError {
    PostgresError::BadUrl {
        source_name: source_name.to_owned(),
        reason,
    }
}

/// The connection settings of `url`, with freshet's defaults (a 10 s connect timeout,
/// `application_name = freshet`) where the URL sets none; why not, when freshet cannot use them.
fn parse_url(url: &str) -> Result<Config, String> {
    let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| reason(&e))?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err(
            "it asks for `sslmode=require`, and freshet does not speak TLS to PostgreSQL yet"
                .to_owned(),
        );
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("freshet");
    }
    Ok(config)
}

/// Connects to `url`; the connection is driven by a task of its own, which ends when the client is
/// dropped.
async fn connect(source_name: &str, url: &str) -> Result<Client, PostgresError> {
    let config = parse_url(url).map_err(|r| bad_url(source_name, r))?;
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| PostgresError::Connect {
            source_name: source_name.to_owned(),
            server: server_of(&config),
            reason: reason(&e),
        })?;
    // A broken connection also fails the pending statement, which reports it with the source's name.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl RelationReader {
    /// Connects, checks the relation's columns against the source's schema, and opens the snapshot.
    /// Must run inside a tokio runtime: the connection is driven by a task of its own.
    pub async fn open(source: &SourceSpec) -> Result<RelationReader, PostgresError> {
        let Connector::Postgres { url, relation, .. } = &source.connector else {
            return Err(PostgresError::NotAPostgresSource {
                source_name: source.name.clone(),
                kind: source.connector.kind(),
            });
        };
        let source_name = source.name.clone();
        let client = connect(&source_name, url.resolved()).await?;
        let from = match relation {
            PostgresRelation::Table(table) => quote_table(table.resolved()),
            PostgresRelation::Query(query) => {
                format!("({}) AS freshet_source", query.trim().trim_end_matches(';'))
            }
        };
        let relation_text = describe_relation(source);
        let query_error = |e: tokio_postgres::Error| PostgresError::Query {
            source_name: source_name.clone(),
            relation: relation_text.clone(),
            reason: reason(&e),
        };
        let probe = client
            .prepare(&format!("SELECT * FROM {from}"))
            .await
            .map_err(query_error)?;
        let mut columns = Vec::with_capacity(source.schema.len());
        for field in &source.schema {
            let Some(column) = probe.columns().iter().find(|c| c.name() == field.name) else {
                return Err(PostgresError::MissingColumn {
                    source_name,
                    relation: relation_text,
                    column: field.name.clone(),
                    available: probe
                        .columns()
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let timezone = source.timezone.map(|t| t.seconds);
            let reader = ColumnReader::for_column(column.type_(), field.data_type, timezone)
                .map_err(|mismatch| PostgresError::ColumnType {
                    source_name: source_name.clone(),
                    relation: relation_text.clone(),
                    column: field.name.clone(),
                    found: column.type_().name().to_owned(),
                    declared: field.data_type.to_string(),
                    help: mismatch.help,
                })?;
            columns.push(reader);
        }
        let selected: Vec<String> = source
            .schema
            .iter()
            .map(|f| quote_column(&f.name))
            .collect();
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
                 DECLARE freshet_cursor NO SCROLL CURSOR FOR SELECT {} FROM {from}",
                selected.join(", ")
            ))
            .await
            .map_err(query_error)?;
        Ok(RelationReader {
            client,
            source_name,
            relation: relation_text,
            columns,
            column_names: source.schema.iter().map(|f| f.name.clone()).collect(),
            fetch: format!("FETCH FORWARD {FETCH_ROWS} FROM freshet_cursor"),
            rows_read: 0,
            finished: false,
        })
    }

    /// Appends the next batch of records to `out`, numbering rows from 1 in the order read; returns
    /// false once the relation is exhausted (and the snapshot closed).
    pub async fn next_batch(&mut self, out: &mut Vec<Record>) -> Result<bool, PostgresError> {
        if self.finished {
            return Ok(false);
        }
        let rows = self
            .client
            .query(self.fetch.as_str(), &[])
            .await
            .map_err(|e| self.query_error(&e))?;
        if rows.is_empty() {
            self.finished = true;
            self.client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| self.query_error(&e))?;
            return Ok(false);
        }
        out.reserve(rows.len());
        for row in &rows {
            self.rows_read += 1;
            out.push(column::decode_row(
                row,
                &self.columns,
                &self.column_names,
                self.rows_read,
            ));
        }
        Ok(true)
    }

    /// Rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// The table or query, as messages name it.
    pub fn relation(&self) -> &str {
        &self.relation
    }

    fn query_error(&self, e: &tokio_postgres::Error) -> PostgresError {
        PostgresError::Query {
            source_name: self.source_name.clone(),
            relation: self.relation.clone(),
            reason: reason(e),
        }
    }
}

/// Reads the whole relation of `source` into memory (for label sources, which are small next to the
/// events they label): the rows that decoded, and the records that did not.
pub async fn read_all(source: &SourceSpec) -> Result<Vec<Record>, PostgresError> {
    let mut reader = RelationReader::open(source).await?;
    let mut records = Vec::new();
    while reader.next_batch(&mut records).await? {}
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_quoted_part_by_part() {
        assert_eq!(quote_table("loans"), "\"loans\"");
        assert_eq!(quote_table("public.Loans"), "\"public\".\"Loans\"");
        assert_eq!(quote_table("we\"ird"), "\"we\"\"ird\"");
    }

    fn open_error(url: &str) -> String {
        let yaml = format!(
            "project: p\nsources:\n  - {{name: s, type: postgres, url: \"{url}\", table: t, timestamp_field: ts, schema: {{ts: timestamp}}}}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("freshet.yaml"), yaml).unwrap();
        let project =
            freshet_project::load_project(dir.path(), &freshet_project::ProcessEnv).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(RelationReader::open(&project.spec.sources[0]))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn urls_freshet_cannot_use_are_refused_before_connecting() {
        let tls = open_error("postgres://ann:secret@127.0.0.1:1/db?sslmode=require");
        assert!(tls.contains("does not speak TLS"), "{tls}");
        assert!(!tls.contains("secret"), "{tls}");
        let garbage = open_error("postgres://ann@127.0.0.1:notaport/db");
        assert!(
            garbage.contains("source `s`: cannot use its `url`"),
            "{garbage}"
        );
    }

    #[test]
    fn server_descriptions_never_show_the_password() {
        let config: Config = "postgres://ann:secret@db.example:6543/loans"
            .parse()
            .unwrap();
        let text = server_of(&config);
        assert_eq!(text, "db.example:6543/loans");
        assert!(!text.contains("secret"));
    }
}
