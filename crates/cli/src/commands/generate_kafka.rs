//! `freshet generate --to kafka://host:port/topic [--rate R [--speedup S]]`: the scenario generator
//! into a Kafka topic, as historical events (as fast as the broker takes them) or live.

use super::generate::{historical_rows, progress_bar, refused};
use crate::cli::GenerateArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_engine::Value;
use freshet_kafka::KafkaAddress;
use freshet_kafka::producer::Producer;
use freshet_project::scenarios::Scenario;
use freshet_sources::formats::json_value;
use freshet_sources::generator::{LiveConfig, LiveGenerator};
use std::time::{Duration, Instant};

/// Turns a row into (key, JSON payload, timestamp in ms).
struct Encoder {
    names: Vec<String>,
    key: usize,
    time: usize,
}

impl Encoder {
    fn new(scenario: Scenario) -> Encoder {
        let names: Vec<String> = scenario.schema().into_iter().map(|f| f.name).collect();
        let at = |name: &str| names.iter().position(|n| n == name).unwrap_or(0);
        Encoder {
            key: at(scenario.key_field()),
            time: at(scenario.timestamp_field()),
            names,
        }
    }

    fn encode(&self, row: &[Value]) -> (String, Vec<u8>, Option<i64>) {
        let object: serde_json::Map<String, serde_json::Value> = self
            .names
            .iter()
            .zip(row)
            .map(|(n, v)| (n.clone(), json_value(v)))
            .collect();
        let key = match &row[self.key] {
            Value::String(s) => s.to_string(),
            other => json_value(other).to_string(),
        };
        let time = match &row[self.time] {
            Value::Timestamp(t) => Some(t.micros().div_euclid(1_000)),
            _ => None,
        };
        let payload = serde_json::to_vec(&object).unwrap_or_default();
        (key, payload, time)
    }
}

pub(crate) fn run(
    scenario: Scenario,
    args: &GenerateArgs,
    to: &str,
    json: bool,
) -> Result<(), Failure> {
    let address = KafkaAddress::parse(to)
        .map_err(|e| refused(e.to_string(), "see `freshet generate --help`"))?;
    let producer = Producer::new(&address.brokers, &address.topic)
        .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    let encoder = Encoder::new(scenario);
    let bar = progress_bar(args.events, json);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut send = |row: &[Value]| -> Result<(), Failure> {
        let (key, payload, time) = encoder.encode(row);
        producer
            .send(key.as_bytes(), &payload, time)
            .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
        sent += 1;
        if sent.is_multiple_of(1_024) {
            bar.set_position(sent);
        }
        Ok(())
    };
    match args.rate {
        None => {
            let rows = historical_rows(scenario, args)?;
            for row in rows {
                send(&row)?;
            }
        }
        Some(rate) => {
            let start = chrono::Utc::now().timestamp_micros() / 1_000 * 1_000;
            let mut live = LiveGenerator::new(&LiveConfig {
                scenario,
                entities: args.entities,
                seed: args.seed,
                rate,
                speedup: args.speedup,
                start_micros: start,
                days: args.days,
                history_micros: 0,
            })
            .map_err(|e| {
                refused(
                    e.to_string(),
                    "see `freshet generate --help` for valid values",
                )
            })?;
            let clock = Instant::now();
            let mut left = args.events;
            while left > 0 {
                let now = live.simulated_now(clock.elapsed());
                let due = live.due(now, usize::try_from(left).unwrap_or(usize::MAX));
                for (_, row) in &due {
                    send(row)?;
                }
                left = left.saturating_sub(due.len() as u64);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if json {
        print_json(&serde_json::json!({
            "ok": true,
            "scenario": scenario.name(),
            "events": sent,
            "to": to,
            "seconds": seconds,
        }));
    } else {
        print_text(&format!(
            "sent {sent} {} events ({} entities, seed {}) to topic `{}` in {seconds:.1} s\n",
            scenario.name(),
            args.entities,
            args.seed,
            address.topic
        ));
    }
    Ok(())
}
