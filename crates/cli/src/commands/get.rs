//! `freshet get`: one online lookup from the shell, through the same code as `POST /get-online-features`.

use crate::cli::GetArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_server::Catalog;
use freshet_server::lookup::lookup;
use std::path::Path;

/// `name=value` pairs into Feast's entity columns (one entity); numbers stay numbers.
pub(crate) fn entities(
    pairs: &[String],
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(Failure::Refused {
                message: format!("--entity `{pair}` is not name=value"),
                help: "write e.g. --entity driver_id=1001".to_owned(),
            });
        };
        let value = value
            .parse::<i64>()
            .map_or_else(|_| serde_json::Value::from(value), serde_json::Value::from);
        map.insert(name.to_owned(), serde_json::Value::Array(vec![value]));
    }
    Ok(map)
}

pub(crate) fn run(dir: &Path, args: &GetArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let catalog = Catalog::new(&project);
    let refused = |e: freshet_server::ApiError| Failure::Refused {
        message: e.message,
        help: "see `freshet get --help`".to_owned(),
    };
    let refs = match (&args.service, args.features.is_empty()) {
        (Some(service), true) => catalog.service(service).map_err(refused)?,
        (None, false) => catalog
            .features(&args.features, "--features")
            .map_err(refused)?,
        _ => {
            return Err(Failure::Refused {
                message: "give either --service or --features".to_owned(),
                help: "e.g. --service driver_activity, or --features driver_trips:trips_1h"
                    .to_owned(),
            });
        }
    };
    let entities = entities(&args.entity)?;
    let runtime = super::runtime()?;
    let answer = runtime.block_on(async {
        let store = super::serving::open_store(&project).await?;
        let now = chrono::Utc::now().timestamp_micros();
        lookup(&catalog, &store, &refs, &entities, true, now)
            .await
            .map_err(|e| Failure::Refused {
                message: e.message,
                help: "check the entity's join keys and the online store".to_owned(),
            })
    })?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    let width = answer
        .metadata
        .feature_names
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (name, column) in answer.metadata.feature_names.iter().zip(&answer.results) {
        let value = column
            .values
            .first()
            .map_or_else(String::new, ToString::to_string);
        let status = column.statuses.first().copied().unwrap_or("");
        let time = column.event_timestamps.first().map_or("", String::as_str);
        text.push_str(&format!(
            "{name:<width$}  {value:<24} {status:<15} {time}\n"
        ));
    }
    print_text(&text);
    Ok(())
}
