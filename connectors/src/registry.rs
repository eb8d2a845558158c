//! Every connector Palisade knows, in one place, and the dispatch from a `SourceSpec` to a reader.

use chrono::{DateTime, Utc};

use crate::datagen::DatagenReader;
use crate::error::{ConnectorError, Result};
use crate::kafka::KafkaSource;
use crate::source::{Offsets, SourceReader, SourceSpec, StreamReader};

/// One entry of the connector catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorInfo {
    /// The value users write in `WITH (connector = '...')`.
    pub name: &'static str,
    /// One line for `SHOW CONNECTORS`-style listings and error messages.
    pub description: &'static str,
}

const CONNECTORS: &[ConnectorInfo] = &[
    ConnectorInfo {
        name: "datagen",
        description: "synthetic website access-log events, deterministic per (seed, row)",
    },
    ConnectorInfo {
        name: "kafka",
        description: "JSON records from every partition of a Kafka topic (FORMAT PLAIN ENCODE JSON)",
    },
    ConnectorInfo {
        name: "embedded",
        description: "rows pushed through the engine's in-process API; takes no options",
    },
];

/// Every known connector.
pub fn connectors() -> &'static [ConnectorInfo] {
    CONNECTORS
}

/// How a source's rows arrive, as [`open_source`] found out.
pub enum Opened {
    /// Rows by position, re-readable at will (datagen).
    Positional(Box<dyn SourceReader>),
    /// A log polled as it grows, with its own offsets (Kafka).
    Stream(Box<dyn StreamReader>),
    /// No reader: the engine feeds the source itself (`embedded`, INSERT).
    Embedded,
}

/// Opens the reader for source `name` as `spec` describes it. `now` is the source's creation
/// time, passed in rather than read here so tests are deterministic. A log source starts
/// each partition in `resume` there, the others by its startup options. May block on the
/// network (Kafka looks up the topic's partitions and offsets).
pub fn open_source(
    name: &str,
    spec: &SourceSpec,
    now: DateTime<Utc>,
    resume: &Offsets,
) -> Result<Opened> {
    match spec.connector.to_ascii_lowercase().as_str() {
        "datagen" => Ok(Opened::Positional(Box::new(DatagenReader::new(spec, now)?))),
        "kafka" => Ok(Opened::Stream(Box::new(KafkaSource::open(
            name, spec, resume,
        )?))),
        "embedded" => {
            if let Some(option) = spec.unknown_options(&[]).next() {
                return Err(ConnectorError::bad_option(
                    option,
                    "the embedded connector takes no options",
                ));
            }
            Ok(Opened::Embedded)
        }
        _ => Err(ConnectorError::UnknownConnector {
            name: spec.connector.clone(),
            known: CONNECTORS
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A log source's records from offsets `from` up to `until` (exclusive), read again for a
/// view created after the source started. The caller polls until [`Replay::done`].
pub struct Replay {
    source: KafkaSource,
}

impl Replay {
    pub fn open(name: &str, spec: &SourceSpec, from: &Offsets, until: Offsets) -> Result<Self> {
        match spec.connector.to_ascii_lowercase().as_str() {
            "kafka" => Ok(Replay {
                source: KafkaSource::replay(name, spec, from, until)?,
            }),
            other => Err(ConnectorError::Internal(format!(
                "connector '{other}' is not a log and cannot replay offsets"
            ))),
        }
    }

    pub fn reader(&mut self) -> &mut dyn StreamReader {
        &mut self.source
    }

    /// Whether every partition has been read up to `until`.
    pub fn done(&self) -> bool {
        self.source.replayed()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};
    use chrono::TimeZone;

    use super::*;

    fn spec(connector: &str, options: &[(&str, &str)]) -> SourceSpec {
        SourceSpec {
            connector: connector.to_string(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            schema: Arc::new(Schema::new(vec![Field::new("url", DataType::Utf8, true)])),
        }
    }

    fn open_source_now(name: &str, spec: &SourceSpec, now: DateTime<Utc>) -> Result<Opened> {
        open_source(name, spec, now, &Offsets::new())
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn catalogue_names_are_unique() {
        let mut names: Vec<_> = connectors().iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), connectors().len());
    }

    #[test]
    fn datagen_opens_a_reader() {
        let Opened::Positional(reader) =
            open_source_now("s", &spec("datagen", &[]), now()).unwrap()
        else {
            panic!("datagen is positional");
        };
        assert_eq!(reader.rows_per_second(), Some(10.0));
    }

    #[test]
    fn embedded_has_no_reader_and_no_options() {
        assert!(matches!(
            open_source_now("s", &spec("embedded", &[]), now()).unwrap(),
            Opened::Embedded
        ));
        let err = open_source_now("s", &spec("embedded", &[("datagen.seed", "1")]), now())
            .err()
            .unwrap();
        assert!(
            matches!(&err, ConnectorError::BadOption { option, .. } if option == "datagen.seed")
        );
    }

    #[test]
    fn unknown_connector_names_itself_and_the_known_ones() {
        let err = open_source_now("s", &spec("kafak", &[]), now())
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains("kafak") && text.contains("kafka") && text.contains("embedded"));
    }
}
