//! Every connector Palisade knows, in one place, and the dispatch from a `SourceSpec` to a reader.

use chrono::{DateTime, Utc};

use crate::datagen::DatagenReader;
use crate::error::{ConnectorError, Result};
use crate::source::{SourceReader, SourceSpec};

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
        name: "embedded",
        description: "rows pushed through the engine's in-process API; takes no options",
    },
];

/// Every known connector.
pub fn connectors() -> &'static [ConnectorInfo] {
    CONNECTORS
}

/// Opens the reader for `spec`. `Ok(None)` means the source has no reader because the engine
/// feeds it directly (`embedded`). `now` is the source's creation time, passed in rather than read
/// here so tests are deterministic.
pub fn open_source(spec: &SourceSpec, now: DateTime<Utc>) -> Result<Option<Box<dyn SourceReader>>> {
    match spec.connector.to_ascii_lowercase().as_str() {
        "datagen" => Ok(Some(Box::new(DatagenReader::new(spec, now)?))),
        "embedded" => {
            if let Some(option) = spec.unknown_options(&[]).next() {
                return Err(ConnectorError::bad_option(
                    option,
                    "the embedded connector takes no options",
                ));
            }
            Ok(None)
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
        let reader = open_source(&spec("datagen", &[]), now()).unwrap().unwrap();
        assert_eq!(reader.rows_per_second(), Some(10.0));
    }

    #[test]
    fn embedded_has_no_reader_and_no_options() {
        assert!(
            open_source(&spec("embedded", &[]), now())
                .unwrap()
                .is_none()
        );
        let err = open_source(&spec("embedded", &[("datagen.seed", "1")]), now())
            .err()
            .unwrap();
        assert!(
            matches!(&err, ConnectorError::BadOption { option, .. } if option == "datagen.seed")
        );
    }

    #[test]
    fn unknown_connector_names_itself_and_the_known_ones() {
        let err = open_source(&spec("kafka", &[]), now()).err().unwrap();
        let text = err.to_string();
        assert!(text.contains("kafka") && text.contains("datagen") && text.contains("embedded"));
    }
}
