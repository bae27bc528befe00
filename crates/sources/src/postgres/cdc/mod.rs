//! Change data capture from a PostgreSQL table (`type: postgres_cdc`): the table's committed inserts
//! and updates, in commit order, through logical replication.
//!
//! [`prepare`] makes sure the server can stream the table: `wal_level = logical`, a publication of
//! the table and a `pgoutput` replication slot (both created when missing, named by the source).
//! The slot keeps every change from its creation on until it is acknowledged, so a consumer that
//! crashes resumes where it last acknowledged; rows committed before the slot existed are read
//! with a snapshot of the table instead (the caller does that once, when [`Follow::slot_created`]).
//!
//! A [`ChangeStream`] receives changes in binary form and decodes each cell with the batch reader's
//! own column readers, so a row streamed here and the same row read by `freshet ingest` are the
//! same values (and so the same event-log position). A transaction is handed over whole, once its
//! commit arrives. Each row becomes a [`Record`], numbered by its place in the stream so that a
//! replay numbers it the same; a row that cannot be decoded is a [`Record::Bad`] naming the
//! column, and the stream goes on. Deletes are counted: a deleted row's events stay history.
//!
//! Acknowledging is the caller's: [`ChangeStream::acknowledge`] a commit's end only once what it
//! carried is durable. PostgreSQL then frees the WAL before it.

mod stream;

pub use stream::ChangeStream;

use super::{PostgresError, connect, reason};
use crate::read::Record;
use freshet_project::spec::{Connector, SourceSpec};
use pgwire_replication::Lsn;

/// Where a source's stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    /// The slot was made now: rows committed before it must be read from the table.
    pub slot_created: bool,
    /// The slot's confirmed position: changes committed after it are streamed.
    pub confirmed: u64,
}

/// One committed transaction's changes to the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The end of its commit record: acknowledge this once its rows are durable.
    pub end_lsn: u64,
    /// Its inserted and updated rows, in order; a record's `line` is its place among them, from 1, so
    /// `(end_lsn, line)` grows in stream order and a replay numbers every row as before.
    pub records: Vec<Record>,
    /// Rows it deleted.
    pub deletes: u64,
}

/// The settings of a `postgres_cdc` source.
struct Settings<'a> {
    url: &'a str,
    table: &'a str,
    slot: &'a str,
    publication: &'a str,
}

/// The source's settings; `None` if it is not a `postgres_cdc` source.
fn settings(source: &SourceSpec) -> Option<Settings<'_>> {
    match &source.connector {
        Connector::PostgresCdc {
            url,
            table,
            slot,
            publication,
        } => Some(Settings {
            url: url.resolved(),
            table: table.resolved(),
            slot,
            publication,
        }),
        _ => None,
    }
}

fn not_cdc(source: &SourceSpec) -> PostgresError {
    PostgresError::NotAPostgresSource {
        source_name: source.name.clone(),
        kind: source.connector.kind(),
    }
}

fn refused(source: &SourceSpec, table: &str, reason: String, help: &str) -> PostgresError {
    PostgresError::Replication {
        source_name: source.name.clone(),
        table: table.to_owned(),
        reason,
        help: help.to_owned(),
    }
}

/// Checks that the server can stream `source`'s table and creates its publication and slot when
/// they are missing.
pub async fn prepare(source: &SourceSpec) -> Result<Follow, PostgresError> {
    let s = settings(source).ok_or_else(|| not_cdc(source))?;
    let client = connect(&source.name, s.url).await?;
    let fail = |e: tokio_postgres::Error, help: &str| refused(source, s.table, reason(&e), help);
    let wal_level: String = client
        .query_one("SHOW wal_level", &[])
        .await
        .map_err(|e| fail(e, "check the connection"))?
        .get(0);
    if wal_level != "logical" {
        return Err(refused(
            source,
            s.table,
            format!("the server's wal_level is `{wal_level}`"),
            "set `wal_level = logical` in postgresql.conf and restart PostgreSQL",
        ));
    }
    let publication_exists = !client
        .query(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&s.publication],
        )
        .await
        .map_err(|e| fail(e, "check the connection"))?
        .is_empty();
    if !publication_exists {
        check_replica_identity(&client, source, s.table).await?;
        client
            .batch_execute(&format!(
                "CREATE PUBLICATION {} FOR TABLE {}",
                super::quote_column(s.publication),
                super::quote_table(s.table)
            ))
            .await
            .map_err(|e| {
                fail(
                    e,
                    "the user needs to own the table (or create the publication for it beforehand)",
                )
            })?;
    }
    let slot = client
        .query(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&s.slot],
        )
        .await
        .map_err(|e| fail(e, "check the connection"))?;
    let (slot_created, confirmed) = match slot.first() {
        Some(row) => (false, row.get::<_, Option<String>>(0)),
        None => {
            let row = client
                .query_one(
                    "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
                    &[&s.slot],
                )
                .await
                .map_err(|e| {
                    fail(
                        e,
                        "the user needs the REPLICATION attribute, and max_replication_slots a free slot",
                    )
                })?;
            (true, row.get::<_, Option<String>>(0))
        }
    };
    let confirmed = confirmed
        .as_deref()
        .map(Lsn::parse)
        .transpose()
        .map_err(|e| refused(source, s.table, e.to_string(), "report this as a bug"))?
        .unwrap_or(Lsn::ZERO);
    Ok(Follow {
        slot_created,
        confirmed: confirmed.0,
    })
}

/// Refuses a table whose updates and deletes a publication would block: PostgreSQL refuses those
/// statements on a published table that has no replica identity (no primary key, and no `FULL`).
async fn check_replica_identity(
    client: &tokio_postgres::Client,
    source: &SourceSpec,
    table: &str,
) -> Result<(), PostgresError> {
    let row = client
        .query_one(
            "SELECT c.relreplident::text, EXISTS (SELECT 1 FROM pg_index i \
               WHERE i.indrelid = c.oid AND i.indisprimary) \
             FROM pg_class c WHERE c.oid = $1::text::regclass",
            &[&super::quote_table(table)],
        )
        .await
        .map_err(|e| refused(source, table, reason(&e), "check the source's `table`"))?;
    let (identity, has_key): (String, bool) = (row.get(0), row.get(1));
    if identity == "n" || (identity == "d" && !has_key) {
        return Err(refused(
            source,
            table,
            "the table has no primary key, and PostgreSQL refuses UPDATE and DELETE on a published table without one".to_owned(),
            &format!(
                "add a primary key, or run `ALTER TABLE {table} REPLICA IDENTITY FULL`, then start again"
            ),
        ));
    }
    Ok(())
}
