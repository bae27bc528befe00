//! `kafka://host:port[,host:port]/topic`: how the command line names a topic, e.g. for
//! `freshet generate --to`.

use crate::KafkaError;

/// Bootstrap servers and a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaAddress {
    /// `host:port[,host:port]`.
    pub brokers: String,
    /// The topic.
    pub topic: String,
}

impl KafkaAddress {
    /// Parses `kafka://brokers/topic`.
    pub fn parse(text: &str) -> Result<KafkaAddress, KafkaError> {
        let bad = |why: &str| {
            KafkaError::Address(format!(
                "`{text}` is not a Kafka address: {why}; write kafka://127.0.0.1:9092/trips"
            ))
        };
        let rest = text
            .strip_prefix("kafka://")
            .ok_or_else(|| bad("it must start with kafka://"))?;
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| bad("the topic is missing after the brokers"))?;
        if brokers.is_empty() {
            return Err(bad("the brokers are missing"));
        }
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if topic.is_empty() || topic.len() > 249 || !topic.chars().all(legal) {
            return Err(bad(
                "a topic name is 1 to 249 letters, digits, dots, underscores or hyphens",
            ));
        }
        Ok(KafkaAddress {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_brokers_and_topic() {
        let a = KafkaAddress::parse("kafka://h1:9092,h2:9092/trips").unwrap();
        assert_eq!(a.brokers, "h1:9092,h2:9092");
        assert_eq!(a.topic, "trips");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for text in [
            "h:1/t",
            "kafka://h:1",
            "kafka:///t",
            "kafka://h:1/",
            "kafka://h:1/a b",
        ] {
            let e = KafkaAddress::parse(text).unwrap_err().to_string();
            assert!(e.contains("kafka://127.0.0.1:9092/trips"), "{e}");
        }
    }
}
