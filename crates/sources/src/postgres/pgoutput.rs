//! Decoding the messages of PostgreSQL's `pgoutput` logical decoding plugin (protocol version 1): the
//! part of a replication stream that says which rows changed.
//!
//! The replication client hands over each message's bytes; transaction boundaries (`B`egin,
//! `C`ommit) are parsed by the client itself. What is left here is the per-table vocabulary:
//! `R`elation describes a table's columns and is sent before the first change to it in a session
//! (and again after `ALTER TABLE`); `I`nsert, `U`pdate and `D`elete carry tuples whose cells are
//! NULL, "unchanged TOAST value" (a large value an update did not touch, not resent), or bytes.
//! Everything else (`Y`pe, `O`rigin, `T`runcate, logical `M`essages) is reported as
//! [`Message::Other`] with its tag, for the caller to count or ignore.
//!
//! Decoding is pure and total: any byte string gives a message or a [`PgOutputError`], never a panic
//! (a fuzz target holds it to that).

/// One column of a relation as `R` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationColumn {
    /// Its name.
    pub name: String,
    /// Its type's OID.
    pub type_oid: u32,
}

/// A table's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The relation's OID, which changes refer to.
    pub id: u32,
    /// Its schema (`public`).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its columns, in table order (the order of every tuple's cells).
    pub columns: Vec<RelationColumn>,
}

/// One cell of a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell<'a> {
    /// SQL NULL.
    Null,
    /// A TOASTed value the change did not touch; the server does not send it again.
    UnchangedToast,
    /// The value in text form.
    Text(&'a [u8]),
    /// The value in binary (send/recv) form.
    Binary(&'a [u8]),
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// A table's description.
    Relation(Relation),
    /// A new row.
    Insert {
        /// The table.
        relation: u32,
        /// The row.
        new: Vec<Cell<'a>>,
    },
    /// A changed row: its new version.
    Update {
        /// The table.
        relation: u32,
        /// The row before the change, when the table's replica identity sends it (`FULL`: the whole
        /// row; a changed key: the key columns, the others null).
        old: Option<Vec<Cell<'a>>>,
        /// The row after the change.
        new: Vec<Cell<'a>>,
    },
    /// A removed row.
    Delete {
        /// The table.
        relation: u32,
    },
    /// Any other message, by its tag.
    Other(u8),
}

/// Bytes that are not a `pgoutput` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed pgoutput message: {0}")]
pub struct PgOutputError(String);

/// A cursor over one message's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], PgOutputError> {
        if self.bytes.len() < n {
            return Err(PgOutputError(format!(
                "it ends inside {what} ({} of {n} bytes left)",
                self.bytes.len()
            )));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, PgOutputError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, PgOutputError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, PgOutputError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A NUL-terminated string.
    fn string(&mut self, what: &str) -> Result<String, PgOutputError> {
        let end = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| PgOutputError(format!("{what} has no terminating NUL")))?;
        let text = std::str::from_utf8(&self.bytes[..end])
            .map_err(|_| PgOutputError(format!("{what} is not UTF-8")))?
            .to_owned();
        self.bytes = &self.bytes[end + 1..];
        Ok(text)
    }

    fn tuple(&mut self) -> Result<Vec<Cell<'a>>, PgOutputError> {
        let count = self.u16("a tuple's column count")?;
        let mut cells = Vec::with_capacity(usize::from(count).min(self.bytes.len()));
        for _ in 0..count {
            let cell = match self.u8("a cell's kind")? {
                b'n' => Cell::Null,
                b'u' => Cell::UnchangedToast,
                kind @ (b't' | b'b') => {
                    let len = self.u32("a cell's length")? as usize;
                    let bytes = self.take(len, "a cell's value")?;
                    if kind == b't' {
                        Cell::Text(bytes)
                    } else {
                        Cell::Binary(bytes)
                    }
                }
                other => {
                    return Err(PgOutputError(format!(
                        "unknown cell kind {:?}",
                        char::from(other)
                    )));
                }
            };
            cells.push(cell);
        }
        Ok(cells)
    }
}

/// Decodes one message.
pub fn decode(bytes: &[u8]) -> Result<Message<'_>, PgOutputError> {
    let mut r = Reader { bytes };
    let tag = r.u8("the message tag")?;
    match tag {
        b'R' => {
            let id = r.u32("the relation id")?;
            let namespace = r.string("the namespace")?;
            let name = r.string("the relation name")?;
            let _replica_identity = r.u8("the replica identity")?;
            let count = r.u16("the column count")?;
            let mut columns = Vec::with_capacity(usize::from(count).min(r.bytes.len()));
            for _ in 0..count {
                let _flags = r.u8("a column's flags")?;
                let name = r.string("a column name")?;
                let type_oid = r.u32("a column's type")?;
                let _modifier = r.u32("a column's type modifier")?;
                columns.push(RelationColumn { name, type_oid });
            }
            Ok(Message::Relation(Relation {
                id,
                namespace,
                name,
                columns,
            }))
        }
        b'I' => {
            let relation = r.u32("the relation id")?;
            expect(r.u8("the tuple marker")?, b"N")?;
            Ok(Message::Insert {
                relation,
                new: r.tuple()?,
            })
        }
        b'U' => {
            let relation = r.u32("the relation id")?;
            let mut marker = r.u8("the tuple marker")?;
            let mut old = None;
            if marker == b'K' || marker == b'O' {
                // A new tuple's unchanged TOAST cells are read from the old one when it is whole.
                let tuple = r.tuple()?;
                old = (marker == b'O').then_some(tuple);
                marker = r.u8("the new tuple marker")?;
            }
            expect(marker, b"N")?;
            Ok(Message::Update {
                relation,
                old,
                new: r.tuple()?,
            })
        }
        b'D' => {
            let relation = r.u32("the relation id")?;
            expect(r.u8("the tuple marker")?, b"KO")?;
            r.tuple()?;
            Ok(Message::Delete { relation })
        }
        other => Ok(Message::Other(other)),
    }
}

fn expect(found: u8, allowed: &[u8]) -> Result<(), PgOutputError> {
    if allowed.contains(&found) {
        Ok(())
    } else {
        Err(PgOutputError(format!(
            "tuple marker {:?} where {:?} was expected",
            char::from(found),
            allowed.iter().map(|&b| char::from(b)).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fuzz target's promise, checked on every test run: whatever follows a tag, decoding
        /// gives a message or an error.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(
            tag in prop::sample::select(vec![b'R', b'I', b'U', b'D', b'Y']),
            body in prop::collection::vec(any::<u8>(), 0..96),
        ) {
            let mut bytes = vec![tag];
            bytes.extend(body);
            let _ = decode(&bytes);
        }
    }

    fn relation_bytes() -> Vec<u8> {
        let mut b = vec![b'R'];
        b.extend(16_385u32.to_be_bytes());
        b.extend(b"public\0loans\0");
        b.push(b'd');
        b.extend(2u16.to_be_bytes());
        for (name, oid) in [("id", 20u32), ("note", 25)] {
            b.push(1);
            b.extend(name.as_bytes());
            b.push(0);
            b.extend(oid.to_be_bytes());
            b.extend(u32::MAX.to_be_bytes());
        }
        b
    }

    fn tuple_bytes() -> Vec<u8> {
        let mut b = 3u16.to_be_bytes().to_vec();
        b.push(b'b');
        b.extend(8u32.to_be_bytes());
        b.extend(7i64.to_be_bytes());
        b.push(b'n');
        b.push(b'u');
        b
    }

    #[test]
    fn relations_describe_their_columns() {
        let Message::Relation(r) = decode(&relation_bytes()).unwrap() else {
            panic!("not a relation");
        };
        assert_eq!(
            (r.id, r.namespace.as_str(), r.name.as_str()),
            (16_385, "public", "loans")
        );
        assert_eq!(
            r.columns,
            [
                RelationColumn {
                    name: "id".into(),
                    type_oid: 20
                },
                RelationColumn {
                    name: "note".into(),
                    type_oid: 25
                }
            ]
        );
    }

    /// A change to relation 16385 with tag `tag`, carrying the sample tuple behind `markers`.
    fn change_bytes(tag: u8, markers: &[u8]) -> Vec<u8> {
        let mut bytes = vec![tag];
        bytes.extend(16_385u32.to_be_bytes());
        for &marker in markers {
            bytes.push(marker);
            bytes.extend(tuple_bytes());
        }
        bytes
    }

    #[test]
    fn inserts_and_updates_carry_the_new_row() {
        let insert = change_bytes(b'I', b"N");
        let seven = 7i64.to_be_bytes();
        let row = vec![Cell::Binary(&seven), Cell::Null, Cell::UnchangedToast];
        assert_eq!(
            decode(&insert).unwrap(),
            Message::Insert {
                relation: 16_385,
                new: row.clone()
            }
        );
        // An update under REPLICA IDENTITY FULL sends the old row first.
        let update = change_bytes(b'U', b"ON");
        assert_eq!(
            decode(&update).unwrap(),
            Message::Update {
                relation: 16_385,
                old: Some(row.clone()),
                new: row
            }
        );
        let delete = change_bytes(b'D', b"K");
        assert_eq!(
            decode(&delete).unwrap(),
            Message::Delete { relation: 16_385 }
        );
    }

    #[test]
    fn other_messages_are_named_by_their_tag() {
        assert_eq!(decode(b"Yanything").unwrap(), Message::Other(b'Y'));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for message in [relation_bytes(), change_bytes(b'I', b"N")] {
            for end in 0..message.len() {
                assert!(decode(&message[..end]).is_err(), "prefix of {end} bytes");
            }
        }
        let huge_length = [b'I', 0, 0, 0, 1, b'N', 0, 1, b'b', 255, 255, 255, 255];
        assert!(
            decode(&huge_length)
                .unwrap_err()
                .to_string()
                .contains("cell's value")
        );
    }
}
