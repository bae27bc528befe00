//! `freshet run` on a Kafka source, against librdkafka's mock cluster: a real Kafka-protocol broker
//! on a loopback port, hosted by this test process, so it outlives the `freshet` processes the tests
//! kill. Every figure is checked against an independent oracle: the events the test produced, folded
//! by hand.

use super::http;
use freshet_engine::{EntityKey, RecordReader, Value};
use freshet_kafka::producer::Producer;
use freshet_kafka::{MockBroker, MockCluster};
use freshet_online::OnlineStore;
use freshet_project::{ProcessEnv, load_project};
use freshet_testkit::ports;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600_000_000;

/// The test project; `source_extra` is inserted as lines of the Kafka source.
fn project_yaml(brokers: &str, topic: &str, store: &str, source_extra: &str) -> String {
    format!(
        r#"project: stream
online_store: {store}
entities:
  - {{name: driver, join_keys: [driver_id]}}
sources:
  - name: trips
    type: kafka
    brokers: "{brokers}"
    topic: {topic}
    timestamp_field: event_time
    schema: {{driver_id: int64, fare: float64, status: string, event_time: timestamp}}
{source_extra}    options: {{session.timeout.ms: "6000", heartbeat.interval.ms: "500"}}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    filter: "status = 'completed'"
    features:
      - {{name: trips_1h, aggregation: count, window: 1h}}
      - {{name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}}
      - {{name: last_fare, aggregation: last, column: fare}}
"#
    )
}

/// A produced trip.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trip {
    driver: i64,
    fare: f64,
    completed: bool,
    /// Event time, microseconds (whole milliseconds, like the record timestamps).
    time: i64,
}

impl Trip {
    fn payload(&self) -> String {
        let time = chrono::DateTime::from_timestamp_micros(self.time)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        format!(
            r#"{{"driver_id":{},"fare":{},"status":"{}","event_time":"{time}"}}"#,
            self.driver,
            self.fare,
            if self.completed {
                "completed"
            } else {
                "cancelled"
            }
        )
    }
}

/// `n` trips of `drivers` drivers in time order over the 3 hours before `end`, seeded.
pub(crate) fn trips(n: usize, drivers: i64, end: i64, seed: u64) -> Vec<Trip> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let start = end - 3 * HOUR;
    (0..n)
        .map(|i| Trip {
            driver: 1 + (next() % drivers as u64) as i64,
            fare: (next() % 80) as f64 + 0.5,
            completed: next() % 5 != 0,
            time: (start + (3 * HOUR) * i as i64 / n as i64) / 1_000 * 1_000,
        })
        .collect()
}

pub(crate) fn produce(brokers: &str, topic: &str, trips: &[Trip]) {
    let producer = Producer::new(brokers, topic).unwrap();
    for t in trips {
        producer
            .send(
                t.driver.to_string().as_bytes(),
                t.payload().as_bytes(),
                Some(t.time / 1_000),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// (trips in the hour, fare sum over the day, last fare) of `driver` at `now`, folded by hand.
fn oracle(trips: &[Trip], driver: i64, now: i64) -> (i64, Option<f64>, Option<f64>) {
    let mine: Vec<&Trip> = trips
        .iter()
        .filter(|t| t.driver == driver && t.completed && t.time <= now)
        .collect();
    let count = mine.iter().filter(|t| t.time > now - HOUR).count() as i64;
    let day: Vec<f64> = mine
        .iter()
        .filter(|t| t.time > now - 24 * HOUR)
        .map(|t| t.fare)
        .collect();
    let sum = (!day.is_empty()).then(|| day.iter().sum());
    (count, sum, mine.last().map(|t| t.fare))
}

fn spawn_run(root: &Path, port: u16) -> Child {
    spawn_worker(root, port, None)
}

/// `freshet run` with `WORKER_ID` set to `worker`, for projects with a fixed assignment.
fn spawn_worker(root: &Path, port: u16, worker: Option<u32>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_freshet"));
    if let Some(worker) = worker {
        command.env("WORKER_ID", worker.to_string());
    }
    command
        .args([
            "run",
            "-p",
            "stream",
            "--checkpoint-interval",
            "0.5",
            "--port",
            &port.to_string(),
        ])
        .current_dir(root)
        .env("FRESHET_LOG", "freshet=info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join(format!("worker-{port}.log"))).unwrap())
        .spawn()
        .unwrap()
}

/// The last lines each worker under `root` logged, for a failing test's message.
fn worker_logs(root: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("worker-") {
            let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            text.push_str(&format!("--- {name}\n"));
            for line in &lines[lines.len().saturating_sub(15)..] {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

/// The next offset of each partition a worker owns, from its `/metrics`.
fn positions(port: u16) -> BTreeMap<i32, i64> {
    let metrics = http(
        port,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap_or_default();
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("freshet_stream_position{source=\"trips/"))
        .filter_map(|l| {
            let (partition, rest) = l.split_once('"')?;
            let offset = rest.rsplit(' ').next()?.trim().parse().ok()?;
            Some((partition.parse().ok()?, offset))
        })
        .collect()
}

fn consumed(port: u16) -> i64 {
    positions(port).values().sum()
}

fn stop(mut child: Child) {
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert_eq!(child.wait().unwrap().code(), Some(0), "SIGTERM stops a run");
}

/// The test process's environment, with a `WORKER_ID` for projects with a fixed assignment: the
/// checks read the shared stores, whichever worker wrote them.
struct AnyWorker;

impl freshet_project::Env for AnyWorker {
    fn var(&self, name: &str) -> Option<String> {
        ProcessEnv
            .var(name)
            .or_else(|| (name == "WORKER_ID").then(|| "0".to_owned()))
    }
}

/// Checks the event log (each produced event once) and the online store (the oracle's values).
pub(crate) fn check_figures(dir: &Path, trips: &[Trip], drivers: i64) {
    let project = load_project(dir, &AnyWorker).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = super::first_source_log(dir, &project).await;
        // (partition, offset) of every logged event, and what each says.
        let mut logged: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
        let mut twice = 0;
        freshet_offline::scan::scan_files(&log.files().unwrap(), log.fields(), |e| {
            let (Value::Int64(driver), Value::Timestamp(t)) = (&e.row[0], &e.row[3]) else {
                panic!("a logged row has its types");
            };
            if logged.insert(e.position, (*driver, t.micros())).is_some() {
                twice += 1;
            }
        })
        .unwrap();
        let mut produced: Vec<(i64, i64)> = trips.iter().map(|t| (t.driver, t.time)).collect();
        let mut found: Vec<(i64, i64)> = logged.values().copied().collect();
        produced.sort_unstable();
        found.sort_unstable();
        let lost = produced.len().saturating_sub(found.len());
        eprintln!(
            "events produced {}, in the log {}, lost {lost}, logged twice {twice}",
            produced.len(),
            found.len()
        );
        assert_eq!(twice, 0, "an event was logged twice");
        let first_difference = found.iter().zip(&produced).position(|(f, p)| f != p);
        assert!(
            found.len() == produced.len() && first_difference.is_none(),
            "the log differs from what was produced, first at {first_difference:?}"
        );

        let store = OnlineStore::open(&project).await.unwrap();
        let def = project.views[0].def.clone();
        let reader = RecordReader::new(&def);
        let now = trips.iter().map(|t| t.time).max().unwrap();
        let keys: Vec<EntityKey> = (1..=drivers).map(EntityKey::int).collect();
        let records = store.read(&def.name, &keys).await.unwrap();
        let mut wrong = 0;
        for (driver, record) in (1..=drivers).zip(&records) {
            let row = reader.read(record.as_deref(), now, i64::MAX).unwrap();
            let got = (
                scalar(&row.values[0]).and_then(|v| match v {
                    Value::Int64(i) => Some(i),
                    _ => None,
                }),
                scalar(&row.values[1]).and_then(float),
                scalar(&row.values[2]).and_then(float),
            );
            let (count, sum, last) = oracle(trips, driver, now);
            let want = (Some(count).filter(|_| last.is_some()), sum, last);
            if got != want && !(want.0.is_none() && got.0 == Some(0)) {
                wrong += 1;
                eprintln!("driver {driver}: online {got:?}, oracle {want:?}");
            }
        }
        eprintln!("entities checked {drivers}, online values differing from the oracle {wrong}");
        assert_eq!(wrong, 0);
    });
}

fn scalar(v: &freshet_engine::FeatureValue) -> Option<Value> {
    match v {
        freshet_engine::FeatureValue::Scalar(Value::Null) => None,
        freshet_engine::FeatureValue::Scalar(v) => Some(v.clone()),
        freshet_engine::FeatureValue::List(_) => None,
    }
}

fn float(v: Value) -> Option<f64> {
    match v {
        Value::Float64(f) => Some(f),
        _ => None,
    }
}

/// A one-broker mock cluster with `topic` in `partitions` partitions, and its bootstrap servers.
fn broker(topic: &str, partitions: i32) -> (MockBroker, String) {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(topic, partitions, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    (cluster, brokers)
}

fn project_dir(root: &Path, brokers: &str, topic: &str, store: &str) -> PathBuf {
    project_dir_with(root, brokers, topic, store, "")
}

fn project_dir_with(
    root: &Path,
    brokers: &str,
    topic: &str,
    store: &str,
    source_extra: &str,
) -> PathBuf {
    let dir = root.join("stream");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("freshet.yaml"),
        project_yaml(brokers, topic, store, source_extra),
    )
    .unwrap();
    dir
}

/// Waits until the workers on `ports` together stand at the topic's high watermarks, then stops them.
pub(crate) fn drain(children: Vec<Child>, ports: &[u16], brokers: &str, limit: Duration) {
    let marks = freshet_kafka::high_watermarks(brokers, "trips", Duration::from_secs(10)).unwrap();
    let started = Instant::now();
    loop {
        let mut at = BTreeMap::new();
        for port in ports {
            at.extend(positions(*port));
        }
        if marks
            .iter()
            .all(|(p, high)| at.get(p).is_some_and(|o| o >= high))
        {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "positions {at:?}, high watermarks {marks:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for child in children {
        stop(child);
    }
}

#[test]
fn a_million_events_through_ten_kills_are_counted_exactly_once() {
    // Each restart waits for the group to time the killed member out, so a million events produced
    // at once still outlast the ten kills.
    kills_are_counted_exactly_once("", 1_000_000, 10, None);
}

/// With a fixed assignment a restarted worker takes its partitions back at once, without waiting
/// for the group to time the dead member out; the result is the same.
#[test]
fn a_fixed_share_through_kills_is_counted_exactly_once() {
    // A restart takes a second, so the events arrive over about fifteen, to land the kills mid-stream.
    kills_are_counted_exactly_once(
        "    assignment: fixed\n",
        300_000,
        6,
        Some((20_000, Duration::from_secs(1))),
    );
}

/// Produces `events` trips (or `FRESHET_TEST_EVENTS`), at once or `pace` (so many, then a pause),
/// while a worker is killed `kills` times (or `FRESHET_TEST_KILLS`), then checks the log and the
/// store against the oracle.
fn kills_are_counted_exactly_once(
    source_extra: &str,
    events: usize,
    kills: usize,
    pace: Option<(usize, Duration)>,
) {
    // The mock broker keeps at most 100,000 records (or 5 MiB) per partition: 16 partitions hold
    // the million without expiring any before the workers read them.
    let (_cluster, brokers) = broker("trips", 16);
    let keep = std::env::var_os("FRESHET_TEST_KEEP").is_some();
    let temp = tempfile::Builder::new()
        .disable_cleanup(keep)
        .tempdir()
        .unwrap();
    let root = temp.path();
    eprintln!("project in {}", root.display());
    let dir = project_dir_with(root, &brokers, "trips", "{type: embedded}", source_extra);
    let end = chrono::Utc::now().timestamp_micros() - 10 * 60 * 1_000_000;
    let drivers = 5_000;
    let events = std::env::var("FRESHET_TEST_EVENTS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(events);
    let all = trips(events, drivers, end, 7);
    let producing = {
        let (brokers, all) = (brokers.clone(), all.clone());
        std::thread::spawn(move || match pace {
            None => produce(&brokers, "trips", &all),
            Some((chunk, pause)) => {
                for part in all.chunks(chunk) {
                    produce(&brokers, "trips", part);
                    std::thread::sleep(pause);
                }
            }
        })
    };
    let port = ports::reserve();
    let kills: usize = std::env::var("FRESHET_TEST_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(kills);
    // Seeded "random" moments: 0 to 1.5 seconds after a run has made progress.
    let mut seed = 11u64;
    let mut before = 0;
    for kill in 0..kills {
        let mut child = spawn_run(root, port);
        let started = Instant::now();
        // Progress: past where the last run was killed (a restart first restores its checkpoints).
        while consumed(port) <= before && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let after = (seed >> 40) as f64 / (1u64 << 24) as f64 * 1.5;
        std::thread::sleep(Duration::from_secs_f64(after));
        eprintln!(
            "kill {} at {:.1}s, {after:.1}s after it made progress; consumed {}",
            kill + 1,
            started.elapsed().as_secs_f64(),
            consumed(port)
        );
        before = consumed(port);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    producing.join().unwrap();
    drain(
        vec![spawn_run(root, port)],
        &[port],
        &brokers,
        Duration::from_secs(600),
    );
    check_figures(&dir, &all, drivers);
}

#[test]
fn poison_records_go_to_the_dead_letters_and_good_ones_flow() {
    let (_cluster, brokers) = broker("trips", 2);
    let root = tempfile::tempdir().unwrap();
    let dir = project_dir(root.path(), &brokers, "trips", "{type: embedded}");
    let now = chrono::Utc::now().timestamp_micros() / 1_000 * 1_000;
    let good = trips(2_000, 50, now - 60_000_000, 3);
    let producer =
        Producer::with_options(&brokers, "trips", &[("message.max.bytes", "4000000")]).unwrap();
    let now_ms = Some(now / 1_000);
    let time = chrono::DateTime::from_timestamp_micros(now - 120_000_000)
        .unwrap()
        .to_rfc3339();
    let huge = format!(
        r#"{{"driver_id":7,"fare":1.0,"status":"completed","event_time":"{time}","note":"{}"}}"#,
        "x".repeat(1_500_000)
    );
    let mut invalid_utf8 = br#"{"driver_id":7,"fare":1.0,"status":""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    invalid_utf8.extend_from_slice(br#"","event_time":"2026-01-01T00:00:00Z"}"#);
    // (record key, payload, what the dead letter's reason says)
    type Poison = (Option<Vec<u8>>, Option<Vec<u8>>, &'static str);
    let poison: Vec<Poison> = vec![
        (Some(b"7".to_vec()), Some(br#"{"driver_id": 7, "fare": "#.to_vec()), "invalid JSON"),
        (
            Some(b"7".to_vec()),
            Some(format!(r#"{{"driver_id":"seven","fare":1.0,"status":"completed","event_time":"{time}"}}"#).into_bytes()),
            "expected int64",
        ),
        (
            Some(b"7".to_vec()),
            Some(format!(r#"{{"fare":1.0,"status":"completed","event_time":"{time}"}}"#).into_bytes()),
            "join key `driver_id` is missing",
        ),
        (Some(b"7".to_vec()), Some(huge.into_bytes()), "over the 1048576-byte limit"),
        (Some(b"7".to_vec()), Some(invalid_utf8), "invalid JSON"),
        (
            Some(b"7".to_vec()),
            Some(br#"{"driver_id":7,"fare":1.0,"status":"completed","event_time":"9999-12-31T23:59:59Z"}"#.to_vec()),
            "more than 5 minutes after the record's timestamp",
        ),
        (
            Some(b"8".to_vec()),
            Some(format!(r#"{{"driver_id":7,"fare":1.0,"status":"completed","event_time":"{time}"}}"#).into_bytes()),
            "is not the value of `driver_id`",
        ),
        (Some(b"7".to_vec()), None, "no payload"),
    ];
    for (i, t) in good.iter().enumerate() {
        producer
            .send(
                t.driver.to_string().as_bytes(),
                t.payload().as_bytes(),
                Some(t.time / 1_000),
            )
            .unwrap();
        if i % 250 == 0 {
            let (key, payload, _) = &poison[(i / 250) % poison.len()];
            producer
                .send_record(key.as_deref(), payload.as_deref(), now_ms)
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let port = ports::reserve();
    drain(
        vec![spawn_run(root.path(), port)],
        &[port],
        &brokers,
        Duration::from_secs(120),
    );

    let mut letters = Vec::new();
    for p in 0..2 {
        let file = dir.join(format!(
            ".freshet/offline/dead-letter/trips/partition-{p}.jsonl"
        ));
        if let Ok(text) = std::fs::read_to_string(&file) {
            letters.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
            );
        }
    }
    assert_eq!(letters.len(), poison.len(), "{letters:#?}");
    let original = |letter: &serde_json::Value| -> Vec<u8> {
        match letter["original"].as_str() {
            Some(text) => text.as_bytes().to_vec(),
            None => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(letter["original_base64"].as_str().unwrap_or_default())
                    .unwrap()
            }
        }
    };
    for (_, payload, reason) in &poison {
        let payload = payload.as_deref().unwrap_or_default();
        let letter = letters
            .iter()
            .find(|l| l["reason"].as_str().unwrap().contains(reason) && original(l) == payload)
            .unwrap_or_else(|| panic!("no dead letter says `{reason}` with the original bytes"));
        assert_eq!(letter["topic"], "trips");
        assert!(letter["offset"].as_i64().is_some() && letter["partition"].as_i64().is_some());
    }
    check_figures(&dir, &good, 50);
}

#[test]
fn workers_joining_and_leaving_split_the_topic_and_agree_with_one() {
    let redis = freshet_testkit::redis::RedisServer::start();
    let (_cluster, brokers) = broker("trips", 8);
    let root = tempfile::tempdir().unwrap();
    let store = format!("{{type: redis, url: \"{}\"}}", redis.url());
    let dir = project_dir(root.path(), &brokers, "trips", &store);
    let end = chrono::Utc::now().timestamp_micros() - 10 * 60 * 1_000_000;
    let drivers = 2_000;
    let all = trips(300_000, drivers, end, 21);
    let producing = {
        let (brokers, all) = (brokers.clone(), all.clone());
        std::thread::spawn(move || {
            // Paced, so workers come and go while events arrive.
            for chunk in all.chunks(30_000) {
                produce(&brokers, "trips", chunk);
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let worker_ports: Vec<u16> = (0..3).map(|_| ports::reserve()).collect();
    let progressed = |port: u16| {
        let started = Instant::now();
        let at = consumed(port);
        while consumed(port) <= at && started.elapsed() < Duration::from_secs(90) {
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("worker on {port} consumed {}", consumed(port));
    };
    // 1 -> 2 -> 3 -> 1 workers.
    let first = spawn_run(root.path(), worker_ports[0]);
    progressed(worker_ports[0]);
    let second = spawn_run(root.path(), worker_ports[1]);
    progressed(worker_ports[1]);
    let third = spawn_run(root.path(), worker_ports[2]);
    progressed(worker_ports[2]);
    stop(second);
    let mut third = third;
    third.kill().unwrap();
    third.wait().unwrap();
    producing.join().unwrap();
    drain(
        vec![first],
        &worker_ports[..1],
        &brokers,
        Duration::from_secs(300),
    );
    check_figures(&dir, &all, drivers);
}

#[test]
fn a_broker_restart_mid_stream_loses_and_doubles_nothing() {
    let (cluster, brokers) = broker("trips", 4);
    let root = tempfile::tempdir().unwrap();
    let dir = project_dir(root.path(), &brokers, "trips", "{type: embedded}");
    let end = chrono::Utc::now().timestamp_micros() - 10 * 60 * 1_000_000;
    let drivers = 1_000;
    let all = trips(120_000, drivers, end, 33);
    let (before, after) = all.split_at(60_000);
    produce(&brokers, "trips", before);
    let port = ports::reserve();
    let worker = spawn_run(root.path(), port);
    let started = Instant::now();
    while consumed(port) == 0 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The broker goes away mid-stream and comes back; the worker is not restarted.
    cluster.broker_down(1).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    cluster.broker_up(1).unwrap();
    produce(&brokers, "trips", after);
    drain(vec![worker], &[port], &brokers, Duration::from_secs(120));
    check_figures(&dir, &all, drivers);
}

#[test]
fn generated_events_flow_from_a_topic_through_run_keyed_and_whole() {
    let (_cluster, brokers) = broker("rides", 3);
    let root = tempfile::tempdir().unwrap();
    let to = format!("kafka://{brokers}/rides");
    // Historical events as fast as the broker takes them, then a live second at 1,000 events/s.
    for args in [
        vec![
            "generate",
            "--to",
            &to,
            "--events",
            "3000",
            "--entities",
            "40",
            "--days",
            "1",
        ],
        vec![
            "generate",
            "--to",
            &to,
            "--events",
            "500",
            "--entities",
            "40",
            "--rate",
            "1000",
        ],
    ] {
        let out = super::freshet(root.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{}", super::stderr(&out));
    }
    let marks = freshet_kafka::high_watermarks(&brokers, "rides", Duration::from_secs(10)).unwrap();
    assert_eq!(marks.values().sum::<i64>(), 3_500, "{marks:?}");

    let dir = root.path().join("stream");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("freshet.yaml"),
        format!(
            r#"project: stream
entities:
  - {{name: driver, join_keys: [driver_id]}}
sources:
  - name: trips
    type: kafka
    brokers: "{brokers}"
    topic: rides
    timestamp_field: event_time
    schema: {{trip_id: string, driver_id: int64, event_time: timestamp, fare: float64, distance: float64, status: string}}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    features:
      - {{name: trips, aggregation: count}}
"#
        ),
    )
    .unwrap();
    let port = ports::reserve();
    let worker = spawn_run(root.path(), port);
    let started = Instant::now();
    while positions(port).values().sum::<i64>() < 3_500 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            positions(port)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(worker);
    // Every record was keyed by its driver and well formed: nothing went to the dead letters.
    assert!(!dir.join(".freshet/offline/dead-letter").exists());
}

/// Two workers with fixed shares split the topic between them, each reading only its own
/// partitions, and together agree with one worker.
#[test]
fn fixed_workers_read_their_own_partitions_and_agree_with_one() {
    let redis = freshet_testkit::redis::RedisServer::start();
    let (_cluster, brokers) = broker("trips", 6);
    let root = tempfile::tempdir().unwrap();
    let store = format!("{{type: redis, url: \"{}\"}}", redis.url());
    let share = "    assignment: {worker: \"${WORKER_ID}\", workers: 2}\n";
    let dir = project_dir_with(root.path(), &brokers, "trips", &store, share);
    let end = chrono::Utc::now().timestamp_micros() - 10 * 60 * 1_000_000;
    let drivers = 2_000;
    let all = trips(100_000, drivers, end, 45);
    produce(&brokers, "trips", &all);
    let worker_ports = [ports::reserve(), ports::reserve()];
    let workers: Vec<Child> = (0..2)
        .map(|w| spawn_worker(root.path(), worker_ports[w], Some(w as u32)))
        .collect();
    let started = Instant::now();
    while worker_ports.iter().any(|p| positions(*p).len() < 3) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "workers took no partitions; positions {:?} and {:?}\n{}",
            positions(worker_ports[0]),
            positions(worker_ports[1]),
            worker_logs(root.path())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (worker, port) in worker_ports.iter().enumerate() {
        let owned: Vec<i32> = positions(*port).into_keys().collect();
        let expected: Vec<i32> = (0..6).filter(|p| p % 2 == worker as i32).collect();
        assert_eq!(owned, expected, "worker {worker}'s partitions");
    }
    drain(workers, &worker_ports, &brokers, Duration::from_secs(120));
    check_figures(&dir, &all, drivers);
}

/// Two workers started with the same number would both read its partitions: the second is refused,
/// naming the partition and the fix, and the first runs on.
#[test]
fn a_second_worker_with_the_same_number_is_refused() {
    let redis = freshet_testkit::redis::RedisServer::start();
    let (_cluster, brokers) = broker("trips", 2);
    let root = tempfile::tempdir().unwrap();
    let dir = project_dir_with(
        root.path(),
        &brokers,
        "trips",
        &format!("{{type: redis, url: \"{}\"}}", redis.url()),
        "    assignment: {worker: \"${WORKER_ID}\", workers: 1}\n",
    );
    let end = chrono::Utc::now().timestamp_micros() - 10 * 60 * 1_000_000;
    let all = trips(2_000, 100, end, 5);
    produce(&brokers, "trips", &all);
    let port = ports::reserve();
    let first = spawn_worker(root.path(), port, Some(0));
    let started = Instant::now();
    while positions(port).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first worker took no partitions"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = root.path().join("second.log");
    let mut second = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(["run", "-p"])
        .arg(&dir)
        .args(["--port", &ports::reserve().to_string()])
        .env("WORKER_ID", "0")
        .env("FRESHET_LOG", "freshet=info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            second.kill().unwrap();
            second.wait().unwrap();
            panic!("the second worker with the same number kept running");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_ne!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("partition 0 is already read by another worker of this project"),
        "{stderr}"
    );
    assert!(stderr.contains("assignment.worker"), "{stderr}");
    drain(vec![first], &[port], &brokers, Duration::from_secs(60));
    check_figures(&dir, &all, 100);
}
