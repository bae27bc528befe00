//! Decoding: raw records (a JSON object, a CSV record) into rows of typed values in schema order.
//!
//! This is the first stage of every source: what fails here never reaches the event log or the engine,
//! and goes to the dead-letter sink with a [`DecodeError`] naming the field and the fix. The rules are
//! strict where guessing would change a feature's meaning, and lenient where it would not:
//! - fields not in the schema are ignored (a payload may carry more than a view needs); a missing field
//!   is null (the engine then rejects a null key or event time with its own error);
//! - JSON values must have the declared type (a JSON number is an `int64` only if it is integral; a
//!   number is never read as a string, nor a string as a number); CSV text is parsed per declared type;
//! - timestamps follow [`time::parse_timestamp`]: zone-less text only with the source's `timezone`.

pub mod time;

use freshet_engine::{DataType, Timestamp, Value};
use freshet_project::spec::{Field, SourceSpec};
use std::collections::HashMap;
use std::sync::Arc;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct DecodeError {
    /// The offending field, if the problem is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
    /// How to fix it, when knowable.
    pub help: Option<String>,
}

impl DecodeError {
    fn record(reason: impl Into<String>) -> DecodeError {
        DecodeError {
            field: None,
            reason: reason.into(),
            help: None,
        }
    }

    fn field(field: &Field, reason: impl Into<String>, help: impl Into<String>) -> DecodeError {
        DecodeError {
            field: Some(field.name.clone()),
            reason: reason.into(),
            help: Some(help.into()),
        }
    }
}

/// Decodes records of one source into rows in its schema order.
#[derive(Debug, Clone)]
pub struct RowDecoder {
    fields: Vec<Field>,
    by_name: FieldNames,
    timezone: Option<i32>,
}

/// Schema positions by field name. A source has a handful of fields, and comparing a record's key
/// with each name costs less than hashing it (SipHash and the string compare behind a map lookup
/// were 4 % of B2k); a wide schema is looked up in a map.
#[derive(Debug, Clone)]
struct FieldNames {
    names: Vec<String>,
    map: Option<HashMap<String, usize>>,
}

impl FieldNames {
    /// Names this many or fewer are scanned rather than hashed.
    const SCANNED: usize = 16;

    fn new(schema: &[Field]) -> FieldNames {
        let names: Vec<String> = schema.iter().map(|f| f.name.clone()).collect();
        let map = (names.len() > Self::SCANNED).then(|| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect()
        });
        FieldNames { names, map }
    }

    /// The position of field `key` (the last, should a schema name a field twice).
    fn get(&self, key: &str) -> Option<usize> {
        match &self.map {
            Some(map) => map.get(key).copied(),
            None => self.names.iter().rposition(|n| n == key),
        }
    }
}

impl RowDecoder {
    /// A decoder for `schema`; `timezone` (seconds east of UTC) reads zone-less timestamps.
    pub fn new(schema: &[Field], timezone: Option<i32>) -> RowDecoder {
        RowDecoder {
            by_name: FieldNames::new(schema),
            fields: schema.to_vec(),
            timezone,
        }
    }

    /// A decoder for a validated source.
    pub fn for_source(source: &SourceSpec) -> RowDecoder {
        RowDecoder::new(&source.schema, source.timezone.map(|t| t.seconds))
    }

    /// Seconds east of UTC for zone-less timestamps, if the source set `timezone`.
    pub fn timezone(&self) -> Option<i32> {
        self.timezone
    }

    /// The schema rows are decoded into.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Decodes one JSON object (a Kafka payload, a JSON-lines line).
    pub fn json_object(&self, bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
        // A good record is decoded in one pass that builds no map of the whole object; anything
        // else takes the general path, which gives the error. Bad records are rare, so parsing
        // them twice costs nothing that matters, and both paths accept exactly the same records.
        match self.json_object_in_one_pass(bytes) {
            Some(row) => Ok(row),
            None => self.json_object_general(bytes),
        }
    }

    /// [`RowDecoder::json_object`] for a record that decodes without error; `None` otherwise.
    fn json_object_in_one_pass(&self, bytes: &[u8]) -> Option<Vec<Value>> {
        use serde::de::DeserializeSeed;
        // Text already checked as UTF-8 is what the general path's parser checks string by string.
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parser = serde_json::Deserializer::from_str(text);
        let row = SchemaFields(self).deserialize(&mut parser).ok()?;
        parser.end().ok()?;
        Some(row)
    }

    /// Decodes one JSON object through a whole parsed `serde_json::Value`.
    fn json_object_general(&self, bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
        let parsed: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| DecodeError {
            field: None,
            reason: format!("invalid JSON: {e}"),
            help: Some("each record must be one JSON object".to_owned()),
        })?;
        let serde_json::Value::Object(object) = parsed else {
            return Err(DecodeError::record(format!(
                "expected a JSON object, found {}",
                json_kind(&parsed)
            )));
        };
        self.json_map(&object)
    }

    /// Decodes one parsed JSON object; keys outside the schema are ignored, absent fields are null.
    pub fn json_map(
        &self,
        object: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<Value>, DecodeError> {
        let mut row = vec![Value::Null; self.fields.len()];
        for (key, value) in object {
            if let Some(i) = self.by_name.get(key) {
                row[i] = self.json_value(&self.fields[i], value)?;
            }
        }
        Ok(row)
    }

    /// One parsed JSON value as `field`'s type: [`TypedValue`]'s rules, which the one-pass decode
    /// applies as it parses, so both paths accept exactly the same values; a refusal is explained.
    fn json_value(&self, field: &Field, value: &serde_json::Value) -> Result<Value, DecodeError> {
        use serde::de::DeserializeSeed;
        TypedValue {
            decoder: self,
            field,
        }
        .deserialize(value)
        .map_err(|_| self.refusal(field, value))
    }

    /// Why [`TypedValue`] refused `value` for `field`, naming the field and the fix.
    fn refusal(&self, field: &Field, value: &serde_json::Value) -> DecodeError {
        use serde_json::Value as J;
        let wrong = || {
            DecodeError::field(
                field,
                format!("expected {}, found {}", field.data_type, json_kind(value)),
                format!(
                    "send a JSON {} for `{}`, or null",
                    json_type(field.data_type),
                    field.name
                ),
            )
        };
        match (field.data_type, value) {
            (DataType::Int64, J::Number(n)) => DecodeError::field(
                field,
                format!("{n} is not a 64-bit integer"),
                "send a whole number within the int64 range",
            ),
            (DataType::Timestamp, J::String(s)) => {
                self.timestamp(field, s).err().unwrap_or_else(wrong)
            }
            (DataType::Timestamp, J::Number(n)) => self
                .timestamp(field, &n.to_string())
                .err()
                .unwrap_or_else(wrong),
            _ => wrong(),
        }
    }

    fn timestamp(&self, field: &Field, text: &str) -> Result<Timestamp, DecodeError> {
        time::parse_timestamp(text, self.timezone)
            .map(Timestamp)
            .map_err(|e| DecodeError {
                field: Some(field.name.clone()),
                reason: e.reason,
                help: Some(e.help),
            })
    }

    /// For CSV files: where each schema field sits in the header. Every schema field must be present.
    pub fn csv_columns(&self, header: &csv::StringRecord) -> Result<Vec<usize>, DecodeError> {
        let names: Vec<&str> = header.iter().map(str::trim).collect();
        self.fields
            .iter()
            .map(|f| {
                names
                    .iter()
                    .position(|n| *n == f.name)
                    .ok_or_else(|| DecodeError {
                        field: Some(f.name.clone()),
                        reason: format!(
                            "the header has no column `{}` (it has: {})",
                            f.name,
                            names.join(", ")
                        ),
                        help: Some(
                            "rename the column in the file, or the field in the source schema"
                                .to_owned(),
                        ),
                    })
            })
            .collect()
    }

    /// Decodes one CSV record, given the positions from [`RowDecoder::csv_columns`]. Empty cells are null.
    pub fn csv_record(
        &self,
        columns: &[usize],
        record: &csv::StringRecord,
    ) -> Result<Vec<Value>, DecodeError> {
        self.fields
            .iter()
            .zip(columns)
            .map(|(field, &i)| {
                let text = record.get(i).unwrap_or("").trim();
                if text.is_empty() {
                    return Ok(Value::Null);
                }
                let bad = |what: &str| {
                    DecodeError::field(
                        field,
                        format!("`{text}` is not {what}"),
                        format!("write {what}, or leave the cell empty for null"),
                    )
                };
                Ok(match field.data_type {
                    DataType::String => Value::String(Arc::from(text)),
                    DataType::Int64 => Value::Int64(text.parse().map_err(|_| bad("an integer"))?),
                    DataType::Float64 => Value::Float64(
                        text.parse::<f64>()
                            .ok()
                            .filter(|f| !f.is_nan())
                            .ok_or_else(|| bad("a number"))?,
                    ),
                    DataType::Bool => match text.to_ascii_lowercase().as_str() {
                        "true" | "t" | "1" => Value::Bool(true),
                        "false" | "f" | "0" => Value::Bool(false),
                        _ => return Err(bad("true or false")),
                    },
                    DataType::Timestamp => Value::Timestamp(self.timestamp(field, text)?),
                })
            })
            .collect()
    }
}

/// A row of the fields of a JSON object that a schema names, each decoded straight into its typed
/// value, the last of repeated keys winning: what [`RowDecoder::json_map`] gives from a parsed
/// `serde_json::Map`, without building the map or a `serde_json::Value` per field. Both type values
/// with [`TypedValue`]; a refusal fails the parse, and the general path then names the error.
/// Other fields are parsed into a `serde_json::Value` and dropped, so a record is refused for the
/// same syntax errors either way (skipping them unparsed would accept out-of-range numbers).
struct SchemaFields<'d>(&'d RowDecoder);

impl<'de> serde::de::DeserializeSeed<'de> for SchemaFields<'_> {
    type Value = Vec<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, parser: D) -> Result<Self::Value, D::Error> {
        parser.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for SchemaFields<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let decoder = self.0;
        let mut row = vec![Value::Null; decoder.fields.len()];
        while let Some(field) = map.next_key_seed(FieldPosition(&decoder.by_name))? {
            match field {
                Some(i) => {
                    row[i] = map.next_value_seed(TypedValue {
                        decoder,
                        field: &decoder.fields[i],
                    })?;
                }
                None => {
                    map.next_value::<serde_json::Value>()?;
                }
            }
        }
        Ok(row)
    }
}

/// One field's JSON value as its declared type: the rules both paths apply, whether the value is
/// being parsed or was parsed into a `serde_json::Value`. A refusal is an error without a message;
/// [`RowDecoder::refusal`] explains it.
struct TypedValue<'d> {
    decoder: &'d RowDecoder,
    field: &'d Field,
}

impl TypedValue<'_> {
    fn refused<E: serde::de::Error>() -> E {
        E::custom("refused")
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for TypedValue<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, parser: D) -> Result<Self::Value, D::Error> {
        parser.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TypedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} for `{}`", self.field.data_type, self.field.name)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        match self.field.data_type {
            DataType::Bool => Ok(Value::Bool(b)),
            _ => Err(Self::refused()),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<Value, E> {
        match self.field.data_type {
            DataType::Int64 => Ok(Value::Int64(i)),
            // As `serde_json::Number::as_f64` reads an integer.
            DataType::Float64 => Ok(Value::Float64(i as f64)),
            _ => Err(Self::refused()),
        }
    }

    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
        match self.field.data_type {
            DataType::Int64 => i64::try_from(u)
                .map(Value::Int64)
                .map_err(|_| Self::refused()),
            DataType::Float64 => Ok(Value::Float64(u as f64)),
            _ => Err(Self::refused()),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Value, E> {
        match self.field.data_type {
            DataType::Float64 => Ok(Value::Float64(f)),
            _ => Err(Self::refused()),
        }
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Value, E> {
        match self.field.data_type {
            DataType::String => Ok(Value::String(Arc::from(text))),
            DataType::Timestamp => time::parse_timestamp(text, self.decoder.timezone)
                .map(|t| Value::Timestamp(Timestamp(t)))
                .map_err(|_| Self::refused()),
            _ => Err(Self::refused()),
        }
    }
}

/// A key's position in the schema, if the schema names it.
struct FieldPosition<'d>(&'d FieldNames);

impl<'de> serde::de::DeserializeSeed<'de> for FieldPosition<'_> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, parser: D) -> Result<Self::Value, D::Error> {
        parser.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for FieldPosition<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.get(key))
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn json_type(t: DataType) -> &'static str {
    match t {
        DataType::Bool => "boolean",
        DataType::Int64 => "integer",
        DataType::Float64 => "number",
        DataType::String | DataType::Timestamp => "string",
    }
}

#[cfg(test)]
mod tests;
