//! `connector = 'kafka'` options, as RisingWave users write them: `topic`,
//! `properties.bootstrap.server`, `scan.startup.mode`, `scan.startup.timestamp.millis`,
//! `group.id.prefix`, and any other `properties.<key>` handed to librdkafka as `<key>`.

use std::collections::BTreeMap;

use crate::error::{ConnectorError, Result};

pub const OPT_TOPIC: &str = "topic";
pub const OPT_BOOTSTRAP: &str = "properties.bootstrap.server";
pub const OPT_STARTUP_MODE: &str = "scan.startup.mode";
pub const OPT_STARTUP_TIMESTAMP: &str = "scan.startup.timestamp.millis";
pub const OPT_GROUP_ID_PREFIX: &str = "group.id.prefix";
/// Options under this prefix go to librdkafka with the prefix removed.
pub const PROPERTIES_PREFIX: &str = "properties.";

/// Where a new source starts reading each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest retained message (RisingWave's default).
    Earliest,
    /// Only messages produced after the source starts.
    Latest,
    /// The first message at or after this broker timestamp, in milliseconds since the epoch.
    Timestamp(i64),
}

/// A Kafka source's options, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaOptions {
    pub topic: String,
    pub start: StartFrom,
    /// The consumer group is `<prefix>-<source name>`. Palisade tracks offsets itself; the
    /// group only names the consumer on the broker.
    pub group_id_prefix: String,
    /// librdkafka configuration: `bootstrap.servers` and every `properties.<key>`.
    pub client_config: BTreeMap<String, String>,
}

impl KafkaOptions {
    /// Validates `options` (the `WITH (...)` keys other than `connector`).
    pub fn parse(options: &BTreeMap<String, String>) -> Result<Self> {
        let mut topic = None;
        let mut mode = None;
        let mut timestamp = None;
        let mut group_id_prefix = "palisade".to_string();
        let mut client_config = BTreeMap::new();
        for (key, value) in options {
            match key.as_str() {
                "connector" => {}
                OPT_TOPIC => topic = Some(non_empty(key, value)?),
                OPT_STARTUP_MODE => mode = Some(startup_mode(value)?),
                OPT_STARTUP_TIMESTAMP => {
                    let millis = value.trim().parse::<i64>().ok().filter(|m| *m >= 0);
                    timestamp = Some(millis.ok_or_else(|| {
                        ConnectorError::bad_option(
                            key,
                            format!("'{value}' is not a timestamp in milliseconds since 1970"),
                        )
                    })?);
                }
                OPT_GROUP_ID_PREFIX => group_id_prefix = non_empty(key, value)?,
                // RisingWave's singular spelling of librdkafka's `bootstrap.servers`.
                OPT_BOOTSTRAP => {
                    client_config.insert("bootstrap.servers".into(), non_empty(key, value)?);
                }
                _ => match key.strip_prefix(PROPERTIES_PREFIX) {
                    Some(property) if !property.is_empty() => {
                        client_config.insert(property.to_string(), value.clone());
                    }
                    _ => {
                        return Err(ConnectorError::bad_option(
                            key,
                            "unknown option for connector 'kafka' (known: topic, \
                             properties.bootstrap.server, scan.startup.mode, \
                             scan.startup.timestamp.millis, group.id.prefix, properties.<key>)",
                        ));
                    }
                },
            }
        }
        let topic = topic.ok_or_else(|| ConnectorError::bad_option(OPT_TOPIC, "is required"))?;
        if !client_config.contains_key("bootstrap.servers") {
            return Err(ConnectorError::bad_option(
                OPT_BOOTSTRAP,
                "is required (the brokers, e.g. 'localhost:9092')",
            ));
        }
        let start = match (mode, timestamp) {
            (Some(_), Some(_)) => {
                return Err(ConnectorError::bad_option(
                    OPT_STARTUP_TIMESTAMP,
                    "give either scan.startup.mode or scan.startup.timestamp.millis, not both",
                ));
            }
            (_, Some(millis)) => StartFrom::Timestamp(millis),
            (Some(mode), None) => mode,
            (None, None) => StartFrom::Earliest,
        };
        Ok(KafkaOptions {
            topic,
            start,
            group_id_prefix,
            client_config,
        })
    }
}

fn non_empty(key: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ConnectorError::bad_option(key, "must not be empty"));
    }
    Ok(value.to_string())
}

fn startup_mode(value: &str) -> Result<StartFrom> {
    match value.trim().to_ascii_lowercase().as_str() {
        "earliest" => Ok(StartFrom::Earliest),
        "latest" => Ok(StartFrom::Latest),
        _ => Err(ConnectorError::bad_option(
            OPT_STARTUP_MODE,
            format!("'{value}' is not 'earliest' or 'latest'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<KafkaOptions> {
        let options = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KafkaOptions::parse(&options)
    }

    fn bad_option(result: Result<KafkaOptions>) -> (String, String) {
        match result {
            Err(ConnectorError::BadOption { option, message }) => (option, message),
            other => panic!("expected a bad option, got {other:?}"),
        }
    }

    #[test]
    fn seed_003_source_options() {
        let o = parse(&[
            ("connector", "kafka"),
            ("topic", "website_logs"),
            ("properties.bootstrap.server", "kafka:9092"),
            ("scan.startup.mode", "earliest"),
        ])
        .expect("valid");
        assert_eq!(o.topic, "website_logs");
        assert_eq!(o.start, StartFrom::Earliest);
        assert_eq!(o.group_id_prefix, "palisade");
        assert_eq!(
            o.client_config,
            BTreeMap::from([("bootstrap.servers".to_string(), "kafka:9092".to_string())])
        );
    }

    #[test]
    fn properties_pass_through_to_librdkafka() {
        let o = parse(&[
            ("topic", "t"),
            ("properties.bootstrap.server", "b:9093"),
            ("properties.security.protocol", "SASL_SSL"),
            ("properties.sasl.mechanism", "SCRAM-SHA-512"),
            ("properties.sasl.username", "alice"),
            ("properties.sasl.password", "S3cret"),
            ("properties.ssl.ca.location", "/etc/ca.pem"),
            ("scan.startup.timestamp.millis", "1706185845678"),
            ("group.id.prefix", "soc"),
        ])
        .expect("valid");
        assert_eq!(o.start, StartFrom::Timestamp(1_706_185_845_678));
        assert_eq!(o.group_id_prefix, "soc");
        assert_eq!(o.client_config["security.protocol"], "SASL_SSL");
        assert_eq!(o.client_config["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(o.client_config["sasl.username"], "alice");
        assert_eq!(o.client_config["sasl.password"], "S3cret");
        assert_eq!(o.client_config["ssl.ca.location"], "/etc/ca.pem");
        assert_eq!(o.client_config.len(), 6);
    }

    #[test]
    fn errors_name_the_option() {
        let base = [("topic", "t"), ("properties.bootstrap.server", "b:9092")];
        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            bad_option(parse(&pairs))
        };
        assert_eq!(with(("scan.startup.mod", "earliest")).0, "scan.startup.mod");
        assert_eq!(with(("scan.startup.mode", "oldest")).0, "scan.startup.mode");
        assert_eq!(
            with(("scan.startup.timestamp.millis", "yesterday")).0,
            "scan.startup.timestamp.millis"
        );
        assert_eq!(with(("properties.", "x")).0, "properties.");
        assert_eq!(bad_option(parse(&base[1..])).0, "topic");
        assert_eq!(
            bad_option(parse(&base[..1])).0,
            "properties.bootstrap.server"
        );
        let both = bad_option(parse(&[
            ("topic", "t"),
            ("properties.bootstrap.server", "b:9092"),
            ("scan.startup.mode", "latest"),
            ("scan.startup.timestamp.millis", "5"),
        ]));
        assert!(both.1.contains("not both"), "{}", both.1);
    }
}
