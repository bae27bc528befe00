//! [`ChangeStream`]: the replication connection's messages turned into whole transactions of
//! [`Record`]s, each row decoded with the batch reader's column readers into the source's schema.

use super::{Transaction, not_cdc, refused, settings};
use crate::postgres::column::{ColumnReader, assemble};
use crate::postgres::pgoutput::{self, Cell, Message, Relation};
use crate::postgres::{PostgresError, bad_url, parse_url};
use crate::read::Record;
use freshet_engine::DataType;
use freshet_project::spec::SourceSpec;
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent, TlsConfig};
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::types::Type;

/// How to read one relation's rows as the source's schema.
#[derive(Debug)]
enum RelationReading {
    /// Another table of the publication.
    NotOurs,
    /// For each declared field: its column's index in the relation and its reader.
    Columns(Vec<(usize, ColumnReader)>),
    /// The table cannot give the declared schema: every row is refused with this field and reason.
    Refused(String, String),
}

/// A live stream of one table's changes.
pub struct ChangeStream {
    client: ReplicationClient,
    source_name: String,
    /// The table as declared: `name` or `schema.name`.
    table: String,
    fields: Vec<(String, DataType)>,
    names: Vec<String>,
    timezone: Option<i32>,
    relations: HashMap<u32, RelationReading>,
    open: Vec<Record>,
    deletes: u64,
    /// Between a transaction's begin and its commit.
    in_transaction: bool,
    /// The newest position handed over.
    handed: u64,
}

impl std::fmt::Debug for ChangeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeStream")
            .field("source", &self.source_name)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl ChangeStream {
    /// Starts streaming `source`'s changes committed after `start_lsn` (the server starts no
    /// earlier than the slot's confirmed position), telling the server that what lies up to
    /// `acknowledged` is durable until [`ChangeStream::acknowledge`] says more.
    pub async fn connect(
        source: &SourceSpec,
        start_lsn: u64,
        acknowledged: u64,
    ) -> Result<ChangeStream, PostgresError> {
        let s = settings(source).ok_or_else(|| not_cdc(source))?;
        let config = parse_url(s.url).map_err(|r| bad_url(&source.name, r))?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        let user = config.get_user().unwrap_or("postgres").to_owned();
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let database = config.get_dbname().unwrap_or(&user).to_owned();
        let replication =
            ReplicationConfig::new(host, user, password, database, s.slot, s.publication)
                .with_port(config.get_ports().first().copied().unwrap_or(5432))
                .with_tls(TlsConfig::disabled())
                .with_start_lsn(Lsn(start_lsn))
                .with_ack_lsn(Lsn(acknowledged.min(start_lsn)))
                .with_binary(true)
                .with_status_interval(Duration::from_secs(1))
                .with_application_name("freshet");
        let client = ReplicationClient::connect(replication).await.map_err(|e| {
            refused(
                source,
                s.table,
                e.to_string(),
                "the user needs the REPLICATION attribute and a `replication` line in pg_hba.conf",
            )
        })?;
        Ok(ChangeStream {
            client,
            source_name: source.name.clone(),
            table: s.table.to_owned(),
            fields: source
                .schema
                .iter()
                .map(|f| (f.name.clone(), f.data_type))
                .collect(),
            names: source.schema.iter().map(|f| f.name.clone()).collect(),
            timezone: source.timezone.map(|t| t.seconds),
            relations: HashMap::new(),
            open: Vec::new(),
            deletes: 0,
            in_transaction: false,
            handed: start_lsn,
        })
    }

    /// The next committed transaction (one that did not touch the table has no records), or an
    /// empty one at the position up to which the server has sent everything; `None` once the server
    /// ended the stream.
    pub async fn next(&mut self) -> Result<Option<Transaction>, PostgresError> {
        loop {
            let event = self
                .client
                .recv()
                .await
                .map_err(|e| refused_by_name(&self.source_name, &self.table, e.to_string()))?;
            let Some(event) = event else {
                return Ok(None);
            };
            match event {
                ReplicationEvent::Begin { .. } => {
                    self.open.clear();
                    self.deletes = 0;
                    self.in_transaction = true;
                }
                ReplicationEvent::XLogData { data, .. } => self.change(&data),
                ReplicationEvent::Commit { end_lsn, .. } => {
                    // A transaction with nothing for us is handed over too (it is cheap), so that
                    // acknowledging it waits for the transactions before it to be durable.
                    let records = std::mem::take(&mut self.open)
                        .into_iter()
                        .enumerate()
                        .map(|(index, record)| number(record, index as u64 + 1))
                        .collect();
                    self.in_transaction = false;
                    self.handed = self.handed.max(end_lsn.0);
                    return Ok(Some(Transaction {
                        end_lsn: end_lsn.0,
                        records,
                        deletes: std::mem::take(&mut self.deletes),
                    }));
                }
                ReplicationEvent::StoppedAt { .. } => return Ok(None),
                // The server has sent every transaction that committed before `wal_end`. Handing
                // that position over as an empty transaction lets the slot move past WAL the table
                // had no part in (other tables' writes, vacuum); a slot that never moves keeps all
                // WAL on the server's disk.
                ReplicationEvent::KeepAlive { wal_end, .. }
                    if !self.in_transaction && wal_end.0 > self.handed =>
                {
                    self.handed = wal_end.0;
                    return Ok(Some(Transaction {
                        end_lsn: wal_end.0,
                        records: Vec::new(),
                        deletes: 0,
                    }));
                }
                ReplicationEvent::KeepAlive { .. } | ReplicationEvent::Message { .. } => {}
            }
        }
    }

    /// Tells the server that everything up to `lsn` is durable downstream.
    pub fn acknowledge(&self, lsn: u64) {
        self.client.update_applied_lsn(Lsn(lsn));
    }

    /// Ends the stream, sending the last acknowledgement.
    pub async fn close(mut self) {
        let _ = self.client.shutdown().await;
    }

    fn change(&mut self, data: &[u8]) {
        let message = match pgoutput::decode(data) {
            Ok(m) => m,
            Err(e) => {
                self.open.push(Record::Bad {
                    line: 0,
                    error: crate::decode::DecodeError {
                        field: None,
                        reason: e.to_string(),
                        help: Some("report this as a bug, with the server's version".to_owned()),
                    },
                    original: String::new(),
                });
                return;
            }
        };
        match message {
            Message::Relation(relation) => {
                let reading = self.reading(&relation);
                self.relations.insert(relation.id, reading);
            }
            Message::Insert { relation, new } => self.row(relation, None, &new),
            Message::Update { relation, old, new } => self.row(relation, old.as_deref(), &new),
            Message::Delete { relation } => {
                if matches!(self.relations.get(&relation), Some(r) if !matches!(r, RelationReading::NotOurs))
                {
                    self.deletes += 1;
                }
            }
            Message::Other(_) => {}
        }
    }

    fn reading(&self, relation: &Relation) -> RelationReading {
        let (schema, name) = match self.table.split_once('.') {
            Some((schema, name)) => (Some(schema), name),
            None => (None, self.table.as_str()),
        };
        if relation.name != name || schema.is_some_and(|s| s != relation.namespace) {
            return RelationReading::NotOurs;
        }
        let mut columns = Vec::with_capacity(self.fields.len());
        for (field, declared) in &self.fields {
            let Some(index) = relation.columns.iter().position(|c| &c.name == field) else {
                return RelationReading::Refused(
                    field.clone(),
                    format!(
                        "the table has no column `{field}` any more; add it back, or remove it from the source's schema"
                    ),
                );
            };
            let oid = relation.columns[index].type_oid;
            let reader = Type::from_oid(oid)
                .ok_or_else(|| format!("a type freshet does not know (OID {oid})"))
                .and_then(|ty| {
                    ColumnReader::for_column(&ty, *declared, self.timezone).map_err(|m| {
                        format!(
                            "`{}`, which cannot be read as {declared}: {}",
                            ty.name(),
                            m.help
                        )
                    })
                });
            match reader {
                Ok(reader) => columns.push((index, reader)),
                Err(why) => {
                    return RelationReading::Refused(field.clone(), format!("the column is {why}"));
                }
            }
        }
        RelationReading::Columns(columns)
    }

    fn row(&mut self, relation: u32, old: Option<&[Cell<'_>]>, new: &[Cell<'_>]) {
        let record = match self.relations.get(&relation) {
            None | Some(RelationReading::NotOurs) => return,
            Some(RelationReading::Refused(field, why)) => Record::Bad {
                line: 0,
                error: crate::decode::DecodeError {
                    field: Some(field.clone()),
                    reason: why.clone(),
                    help: None,
                },
                original: String::new(),
            },
            Some(RelationReading::Columns(columns)) => assemble(
                columns.iter().map(|&(index, reader)| {
                    let cell = match new.get(index) {
                        Some(Cell::UnchangedToast) => old.and_then(|o| o.get(index)),
                        other => other,
                    };
                    match cell {
                        Some(Cell::Null) => reader.decode(None),
                        Some(Cell::Binary(bytes)) => reader.decode(Some(bytes)),
                        Some(Cell::UnchangedToast) | None => Err(
                            "a large value this update did not change was not sent; run `ALTER TABLE ... REPLICA IDENTITY FULL` so updates carry whole rows"
                                .to_owned(),
                        ),
                        Some(Cell::Text(_)) => Err("the server sent the value as text, not binary".to_owned()),
                    }
                }),
                &self.names,
                0,
                "fix the row in PostgreSQL; its next update is streamed",
            ),
        };
        self.open.push(record);
    }
}

fn refused_by_name(source_name: &str, table: &str, reason: String) -> PostgresError {
    PostgresError::Replication {
        source_name: source_name.to_owned(),
        table: table.to_owned(),
        reason,
        help: "check that PostgreSQL runs; the stream resumes from the last acknowledged change"
            .to_owned(),
    }
}

/// `record`, numbered `line`.
fn number(record: Record, line: u64) -> Record {
    match record {
        Record::Row { row, .. } => Record::Row { line, row },
        Record::Bad {
            error, original, ..
        } => Record::Bad {
            line,
            error,
            original,
        },
    }
}
