//! The crate's one error type. Variants are split by who is at fault, so the engine can tell
//! a user's SQL mistake (report it verbatim) from a bug in Palisade (log it loudly).

use thiserror::Error;

/// Everything that can go wrong when opening or reading a connector.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// The user's `WITH (connector = '...')` names a connector Palisade does not have.
    #[error("unknown connector '{name}'; known connectors: {known}")]
    UnknownConnector {
        /// The connector name as written by the user.
        name: String,
        /// Comma-separated list of the connectors that do exist.
        known: String,
    },

    /// The user's SQL is at fault: an unknown or malformed option, or a declared column whose
    /// type the connector cannot produce. `option` is the option key (or `column <name>`).
    #[error("{option}: {message}")]
    BadOption {
        /// The offending option key, or `column <name>` for a column declaration.
        option: String,
        /// What was wrong and what was expected.
        message: String,
    },

    /// A bug in Palisade, not something the user can fix.
    #[error("internal connector error: {0}")]
    Internal(String),

    /// The outside system is at fault or out of reach: a broker down, a topic missing, a
    /// credential refused. `system` names what was being read.
    #[error("{system}: {message}")]
    Unavailable {
        /// What failed, e.g. `kafka topic 'web_logs'`.
        system: String,
        /// The system's own words.
        message: String,
    },
}

impl ConnectorError {
    /// Shorthand for [`ConnectorError::BadOption`].
    pub fn bad_option(option: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadOption {
            option: option.into(),
            message: message.into(),
        }
    }
}

impl From<arrow::error::ArrowError> for ConnectorError {
    // Arrow only fails here if we built mismatched arrays, which is our bug, never the user's.
    fn from(e: arrow::error::ArrowError) -> Self {
        Self::Internal(format!("arrow: {e}"))
    }
}

impl From<std::fmt::Error> for ConnectorError {
    // Formatting into an in-memory string builder cannot fail unless our Display impls are wrong.
    fn from(_: std::fmt::Error) -> Self {
        Self::Internal("formatting into a string builder failed".to_string())
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, ConnectorError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_option_names_the_option() {
        let e = ConnectorError::bad_option("datagen.seed", "expected an unsigned integer");
        assert_eq!(e.to_string(), "datagen.seed: expected an unsigned integer");
    }

    #[test]
    fn unknown_connector_lists_known_ones() {
        let e = ConnectorError::UnknownConnector {
            name: "kafka".into(),
            known: "datagen, embedded".into(),
        };
        assert!(e.to_string().contains("kafka"));
        assert!(e.to_string().contains("datagen, embedded"));
    }
}
