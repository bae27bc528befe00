//! Any bytes as a Kafka payload or a JSON-lines line decode to a row of the source's schema or to a
//! refusal, never a panic: a decoded row has one value per field, each null or of its field's type,
//! and a refusal names a field of the schema (when it names one) and says what is wrong. The first
//! byte picks the source's time zone, so zone-less timestamps are read both ways.
#![no_main]

use freshet_engine::DataType;
use freshet_project::spec::Field;
use freshet_sources::decode::RowDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&zone, payload)) = data.split_first() else {
        return;
    };
    let schema: Vec<Field> = DataType::ALL
        .iter()
        .enumerate()
        .map(|(i, &data_type)| Field {
            name: ["flag", "id", "fare", "status", "event_time"][i].to_owned(),
            data_type,
        })
        .collect();
    let timezone = (zone % 2 == 1).then_some(i32::from(zone) * 60);
    let decoder = RowDecoder::new(&schema, timezone);
    match decoder.json_object(payload) {
        Ok(row) => {
            assert_eq!(row.len(), schema.len());
            for (value, field) in row.iter().zip(&schema) {
                assert!(value.fits(field.data_type), "{value:?} in {field:?}");
            }
        }
        Err(refused) => {
            assert!(!refused.reason.is_empty());
            if let Some(name) = &refused.field {
                assert!(schema.iter().any(|f| &f.name == name), "{name}");
            }
        }
    }
});
