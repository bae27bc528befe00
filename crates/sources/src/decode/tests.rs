use super::*;
use proptest::prelude::*;

fn decoder(timezone: Option<i32>) -> RowDecoder {
    let f = |name: &str, data_type| Field {
        name: name.into(),
        data_type,
    };
    RowDecoder::new(
        &[
            f("driver_id", DataType::Int64),
            f("fare", DataType::Float64),
            f("status", DataType::String),
            f("event_time", DataType::Timestamp),
            f("vip", DataType::Bool),
        ],
        timezone,
    )
}

#[test]
fn json_objects_in_schema_order_extra_fields_ignored() {
    let row = decoder(None)
        .json_object(br#"{"fare": 12, "event_time": "2024-03-13T10:21:14Z", "driver_id": 7, "extra": [1], "vip": null}"#)
        .unwrap();
    assert_eq!(
        row,
        vec![
            Value::Int64(7),
            Value::Float64(12.0),
            Value::Null,
            Value::Timestamp(Timestamp(1_710_325_274_000_000)),
            Value::Null
        ]
    );
}

#[test]
fn json_type_errors_name_the_field() {
    let d = decoder(None);
    let e = d.json_object(br#"{"driver_id": "7"}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "field `driver_id`: expected int64, found a string"
    );
    assert_eq!(
        e.help.as_deref(),
        Some("send a JSON integer for `driver_id`, or null")
    );
    assert_eq!(
        d.json_object(br#"{"driver_id": 7.5}"#).unwrap_err().reason,
        "7.5 is not a 64-bit integer"
    );
    assert_eq!(
        d.json_object(br#"{"status": 3}"#).unwrap_err().reason,
        "expected string, found a number"
    );
    let e = d.json_object(br#"{"event_time": 1710325274}"#).unwrap_err();
    assert!(e.reason.contains("bare number"), "{e:?}");
    let e = d
        .json_object(br#"{"event_time": "2024-03-13 10:21:14"}"#)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "field `event_time`: timestamp `2024-03-13 10:21:14` has no time zone"
    );
    assert!(
        d.json_object(b"[1, 2]")
            .unwrap_err()
            .reason
            .contains("expected a JSON object, found an array")
    );
    assert!(
        d.json_object(b"{\"driver_id\": ")
            .unwrap_err()
            .reason
            .starts_with("invalid JSON")
    );
    assert!(
        d.json_object(&[0xff, 0xfe])
            .unwrap_err()
            .reason
            .starts_with("invalid JSON")
    );
}

#[test]
fn csv_records_by_header() {
    let d = decoder(Some(0));
    let header = csv::StringRecord::from(vec![
        "status",
        "driver_id",
        "event_time",
        "fare",
        "vip",
        "other",
    ]);
    let columns = d.csv_columns(&header).unwrap();
    let record =
        csv::StringRecord::from(vec!["completed", "7", "2024-03-13 10:21:14", "", "t", "x"]);
    let row = d.csv_record(&columns, &record).unwrap();
    assert_eq!(
        row,
        vec![
            Value::Int64(7),
            Value::Null,
            Value::from("completed"),
            Value::Timestamp(Timestamp(1_710_325_274_000_000)),
            Value::Bool(true)
        ]
    );
    let bad = csv::StringRecord::from(vec![
        "completed",
        "seven",
        "2024-03-13 10:21:14",
        "",
        "t",
        "x",
    ]);
    assert_eq!(
        d.csv_record(&columns, &bad).unwrap_err().to_string(),
        "field `driver_id`: `seven` is not an integer"
    );
    let missing = csv::StringRecord::from(vec!["status", "driver"]);
    assert!(
        d.csv_columns(&missing)
            .unwrap_err()
            .reason
            .contains("no column `driver_id`")
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decoder(Some(0)).json_object(&bytes);
    }

    #[test]
    fn arbitrary_json_objects_never_panic(key in prop::sample::select(vec!["driver_id", "fare", "status", "event_time", "vip"]), text in "\\PC{0,40}", n in any::<f64>()) {
        let d = decoder(None);
        let _ = d.json_object(serde_json::json!({ key: text }).to_string().as_bytes());
        let _ = d.json_object(format!("{{\"{key}\": {n}}}").as_bytes());
    }

    #[test]
    fn arbitrary_timestamps_never_panic(text in "\\PC{0,40}", offset in -90_000i32..90_000) {
        let _ = time::parse_timestamp(&text, Some(offset));
    }
}

#[test]
fn the_one_pass_decode_and_the_general_path_agree_on_edge_cases() {
    let d = decoder(Some(0));
    let payloads: [&[u8]; 15] = [
        br#"{"driver_id": 7, "fare": 1.5, "event_time": "2024-03-13T10:21:14Z"}"#,
        // Integers read as floats, whether the parser sees them as signed or unsigned.
        br#"{"fare": -3, "driver_id": -7}"#,
        br#"{"fare": 7}"#,
        br#"{"driver_id": 18446744073709551615}"#,
        br#"{"driver_id": "7", "driver_id": 7}"#,
        br#"{"driver_id": 7, "driver_id": "7"}"#,
        br#"{"dri\u0076er_id": 7, "status": "a\"b"}"#,
        br#"{"extra": {"deep": [1, 2, {"x": null}]}, "vip": true}"#,
        br#"{"extra": 1e400, "driver_id": 7}"#,
        br#"{"driver_id": 7} trailing"#,
        br#"{"driver_id": 7,}"#,
        br#"[{"driver_id": 7}]"#,
        b"{\"status\": \"\xff\"}",
        b"{\"extra\": \"\xff\", \"driver_id\": 7}",
        br#"{}"#,
    ];
    for payload in payloads {
        assert_eq!(
            d.json_object(payload),
            d.json_object_general(payload),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
}

/// One `"key": value` member, drawn from schema keys, an unknown key and values of every kind.
fn member() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "driver_id",
        "fare",
        "status",
        "event_time",
        "vip",
        "extra",
    ]);
    let value = prop::sample::select(vec![
        "7",
        "-3",
        "7.5",
        "1e400",
        "\"7\"",
        "\"2024-03-13T10:21:14Z\"",
        "\"2024-03-13 10:21:14\"",
        "true",
        "null",
        "[1, {\"a\": 2}]",
        "{\"b\": []}",
    ]);
    (key, value).prop_map(|(k, v)| format!("\"{k}\": {v}"))
}

proptest! {
    #[test]
    fn the_one_pass_decode_agrees_with_the_general_path(members in prop::collection::vec(member(), 0..8), bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let d = decoder(None);
        let object = format!("{{{}}}", members.join(", "));
        prop_assert_eq!(d.json_object(object.as_bytes()), d.json_object_general(object.as_bytes()));
        prop_assert_eq!(d.json_object(&bytes), d.json_object_general(&bytes));
    }
}

#[test]
fn a_wide_schema_finds_its_fields_by_name_as_a_narrow_one_does() {
    // Past `FieldNames::SCANNED` fields, names are looked up in a map instead of scanned.
    let fields: Vec<Field> = (0..FieldNames::SCANNED + 4)
        .map(|i| Field {
            name: format!("f{i}"),
            data_type: DataType::Int64,
        })
        .collect();
    for width in [3, fields.len()] {
        let decoder = RowDecoder::new(&fields[..width], None);
        let last = width - 1;
        let record = format!(r#"{{"f{last}": 7, "f0": 1, "other": 2}}"#);
        let row = decoder.json_object(record.as_bytes()).unwrap();
        assert_eq!(row.len(), width);
        assert_eq!(row[0], Value::Int64(1));
        assert_eq!(row[last], Value::Int64(7));
        assert!(row[1..last].iter().all(|v| *v == Value::Null));
    }
}
