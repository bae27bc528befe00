//! The group consumer against librdkafka's mock cluster: a real Kafka-protocol broker on a loopback
//! port, hosted by this test process.

use freshet_kafka::MockCluster;
use freshet_kafka::consumer::{ConsumerSettings, Delivery, GroupConsumer, StartAt};
use freshet_kafka::producer::Producer;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn produce(brokers: &str, topic: &str, n: usize) {
    let producer = Producer::new(brokers, topic).unwrap();
    for i in 0..n {
        let key = format!("k{}", i % 37);
        producer
            .send(
                key.as_bytes(),
                format!("{i}").as_bytes(),
                Some(1_000 + i as i64),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn decode(raw: freshet_kafka::consumer::RawRecord<'_>) -> (u64, Option<i64>) {
    let text = std::str::from_utf8(raw.payload.unwrap()).unwrap();
    (text.parse().unwrap(), raw.timestamp_millis)
}

/// Takes deliveries until `want` values arrived, answering assignments with `start`.
async fn collect(
    consumer: &mut GroupConsumer<(u64, Option<i64>)>,
    want: usize,
    start: impl Fn(i32) -> StartAt,
) -> (BTreeSet<u64>, BTreeSet<i32>) {
    let mut seen = BTreeSet::new();
    let mut partitions = BTreeSet::new();
    while seen.len() < want {
        let delivery = tokio::time::timeout(Duration::from_secs(60), consumer.next())
            .await
            .expect("deliveries keep coming")
            .expect("the consumer runs");
        match delivery {
            Delivery::Records(records) => {
                for r in records {
                    assert!(
                        partitions.contains(&r.partition),
                        "records of an assigned partition"
                    );
                    seen.insert(r.value.0);
                }
            }
            Delivery::Assigned {
                partitions: ps,
                reply,
            } => {
                partitions.extend(ps.iter().copied());
                reply.send(ps.iter().map(|&p| (p, start(p))).collect());
            }
            Delivery::Revoked {
                partitions: ps,
                reply,
            } => {
                for p in &ps {
                    partitions.remove(p);
                }
                reply.send(BTreeMap::new());
            }
        }
    }
    (seen, partitions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_reads_every_partition_from_where_it_is_told() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("t1", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, "t1", 2_000);
    let settings = ConsumerSettings::new(&brokers, "t1", "g1");
    let mut consumer = GroupConsumer::start(&settings, decode).unwrap();
    let (seen, partitions) = collect(&mut consumer, 2_000, |_| StartAt::Beginning).await;
    assert_eq!(seen.len(), 2_000);
    assert_eq!(partitions, (0..4).collect());
    consumer.close();

    // A new member told to start partition 0 at offset 10 and the others at the end reads only the
    // rest of partition 0.
    produce(&brokers, "t1", 0);
    let mut consumer = GroupConsumer::start(&settings, decode).unwrap();
    let mut offsets = BTreeSet::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), consumer.next())
            .await
            .unwrap()
            .unwrap()
        {
            Delivery::Assigned { partitions, reply } => reply.send(
                partitions
                    .iter()
                    .map(|&p| {
                        (
                            p,
                            if p == 0 {
                                StartAt::Offset(10)
                            } else {
                                StartAt::End
                            },
                        )
                    })
                    .collect(),
            ),
            Delivery::Records(records) => {
                for r in records {
                    assert_eq!(r.partition, 0);
                    offsets.insert(r.offset);
                }
            }
            Delivery::Revoked { reply, .. } => reply.send(BTreeMap::new()),
        }
        if offsets.len() > 5 && offsets.first() == Some(&10) {
            break;
        }
    }
    consumer.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_takes_partitions_over_with_a_revocation_first() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("t2", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, "t2", 500);
    let settings = ConsumerSettings::new(&brokers, "t2", "g2");
    let mut first = GroupConsumer::start(&settings, decode).unwrap();
    let (_, partitions) = collect(&mut first, 500, |_| StartAt::Beginning).await;
    assert_eq!(partitions.len(), 4);
    let mut second = GroupConsumer::start(&settings, decode).unwrap();
    // The first member hears of the revocation and answers before the second is assigned anything.
    let mut revoked = false;
    let mut first_now = BTreeSet::new();
    let mut second_now = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while first_now.len() + second_now.len() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "the group settles");
        tokio::select! {
            Some(d) = first.next() => match d {
                Delivery::Revoked { partitions, reply } => {
                    revoked = true;
                    for p in partitions { first_now.remove(&p); }
                    reply.send(BTreeMap::new());
                }
                Delivery::Assigned { partitions, reply } => {
                    first_now.extend(partitions.iter().copied());
                    reply.send(partitions.iter().map(|&p| (p, StartAt::End)).collect());
                }
                Delivery::Records(_) => {}
            },
            Some(d) = second.next() => match d {
                Delivery::Assigned { partitions, reply } => {
                    second_now.extend(partitions.iter().copied());
                    reply.send(partitions.iter().map(|&p| (p, StartAt::End)).collect());
                }
                Delivery::Revoked { partitions, reply } => {
                    for p in partitions { second_now.remove(&p); }
                    reply.send(BTreeMap::new());
                }
                Delivery::Records(_) => {}
            },
        }
    }
    assert!(revoked);
    assert!(first_now.is_disjoint(&second_now));
    assert!(!second_now.is_empty(), "the new member got a share");
    first.close();
    second.close();
}

/// Two workers with fixed shares each get exactly their partitions, at once and without a group:
/// between them every record, none twice; and a worker restarted with the same number resumes where
/// it is told, with nobody to wait for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_shares_split_a_topic_by_worker_number() {
    use freshet_kafka::assignment::Assignment;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("t3", 5, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, "t3", 1_000);
    let share = |worker| {
        let mut settings = ConsumerSettings::new(&brokers, "t3", "g3");
        settings.assignment = Assignment::Fixed { worker, workers: 2 };
        settings
    };
    let mut even = GroupConsumer::start(&share(0), decode).unwrap();
    let mut odd = GroupConsumer::start(&share(1), decode).unwrap();
    // Records arrive only for assigned partitions (`collect` checks), so the counts are exact.
    let per_partition = count_per_partition(&brokers, "t3");
    let evens: usize = [0, 2, 4].iter().map(|p| per_partition[p]).sum();
    let (seen_even, partitions_even) = collect(&mut even, evens, |_| StartAt::Beginning).await;
    let (seen_odd, partitions_odd) = collect(&mut odd, 1_000 - evens, |_| StartAt::Beginning).await;
    assert_eq!(partitions_even, [0, 2, 4].into_iter().collect());
    assert_eq!(partitions_odd, [1, 3].into_iter().collect());
    assert!(seen_even.is_disjoint(&seen_odd));
    assert_eq!(seen_even.len() + seen_odd.len(), 1_000);
    odd.close();

    // Restarted while the other worker still runs: the same partitions, from where it is told.
    let mut odd = GroupConsumer::start(&share(1), decode).unwrap();
    let (again, partitions) = collect(&mut odd, per_partition[&3] - 5, |p| {
        if p == 3 {
            StartAt::Offset(5)
        } else {
            StartAt::End
        }
    })
    .await;
    assert_eq!(partitions, [1, 3].into_iter().collect());
    assert_eq!(again.len(), per_partition[&3] - 5);
    odd.close();
    even.close();
}

/// Records per partition of `topic`, from its watermarks.
fn count_per_partition(brokers: &str, topic: &str) -> BTreeMap<i32, usize> {
    freshet_kafka::watermarks(brokers, topic, Duration::from_secs(10))
        .unwrap()
        .into_iter()
        .map(|(p, (low, high))| (p, usize::try_from(high - low).unwrap()))
        .collect()
}
