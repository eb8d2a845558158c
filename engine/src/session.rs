//! A client's session: who it is, the settings it changed with SET, and whether it is in a
//! transaction block. The server keeps one per connection; in-process callers that do not
//! care get a fresh default one per call.

use std::collections::BTreeMap;

use palisade_sql::{PlanErrorKind, SqlError};

use crate::error::{EngineError, Result};

/// The major version Palisade speaks as: psql picks its catalog queries by it.
pub const SERVER_VERSION: &str = concat!("15.0 (Palisade ", env!("CARGO_PKG_VERSION"), ")");
pub const SERVER_VERSION_NUM: &str = "150000";

/// What a setting may be set to.
#[derive(Clone, Copy)]
enum Accepts {
    /// Reported, never changed (`server_version`).
    ReadOnly,
    /// Any text.
    Any,
    /// Any integer.
    Integer,
    /// One of these (compared case-insensitively, spaces ignored); Palisade behaves one
    /// way only, so a value asking for another behaviour is refused rather than ignored.
    OneOf(&'static [&'static str]),
}

/// Every setting: name (lower-case), default, what it accepts, description.
const SETTINGS: &[(&str, &str, Accepts, &str)] = &[
    (
        "application_name",
        "",
        Accepts::Any,
        "The client's name, as it gave it.",
    ),
    (
        "bytea_output",
        "hex",
        Accepts::OneOf(&["hex"]),
        "How bytea values are written.",
    ),
    (
        "client_encoding",
        "UTF8",
        Accepts::OneOf(&["utf8", "unicode"]),
        "The client's character set.",
    ),
    (
        "client_min_messages",
        "notice",
        Accepts::Any,
        "Which notices the client is sent.",
    ),
    (
        "datestyle",
        "ISO, MDY",
        Accepts::OneOf(&["iso", "iso,mdy", "mdy,iso", "iso,ymd", "iso,dmy"]),
        "How dates and times are written.",
    ),
    (
        "default_transaction_isolation",
        "read committed",
        Accepts::Any,
        "Isolation of new transactions (each query reads a consistent snapshot of each view).",
    ),
    (
        "default_transaction_read_only",
        "off",
        Accepts::Any,
        "Whether new transactions are read-only.",
    ),
    (
        "extra_float_digits",
        "1",
        Accepts::Integer,
        "Floats are always written in their shortest exact form, as with the default.",
    ),
    (
        "idle_in_transaction_session_timeout",
        "0",
        Accepts::Integer,
        "Accepted for drivers that set it.",
    ),
    (
        "in_hot_standby",
        "off",
        Accepts::ReadOnly,
        "Whether this is a standby.",
    ),
    (
        "integer_datetimes",
        "on",
        Accepts::ReadOnly,
        "Timestamps are 64-bit integers.",
    ),
    (
        "intervalstyle",
        "postgres",
        Accepts::OneOf(&["postgres"]),
        "How intervals are written.",
    ),
    (
        "is_superuser",
        "on",
        Accepts::ReadOnly,
        "Whether the session's user is a superuser.",
    ),
    (
        "lc_collate",
        "C.UTF-8",
        Accepts::ReadOnly,
        "Text is compared bytewise.",
    ),
    (
        "lc_ctype",
        "C.UTF-8",
        Accepts::ReadOnly,
        "Character classification.",
    ),
    (
        "lock_timeout",
        "0",
        Accepts::Integer,
        "Accepted for drivers that set it; queries take no locks.",
    ),
    (
        "max_identifier_length",
        "63",
        Accepts::ReadOnly,
        "Longest identifier, as in Postgres.",
    ),
    (
        "search_path",
        "\"$user\", public",
        Accepts::Any,
        "Schemas searched for unqualified names.",
    ),
    (
        "server_encoding",
        "UTF8",
        Accepts::ReadOnly,
        "The server's character set.",
    ),
    (
        "server_version",
        SERVER_VERSION,
        Accepts::ReadOnly,
        "The Postgres version Palisade speaks as.",
    ),
    (
        "server_version_num",
        SERVER_VERSION_NUM,
        Accepts::ReadOnly,
        "The same as a number.",
    ),
    (
        "standard_conforming_strings",
        "on",
        Accepts::OneOf(&["on"]),
        "Backslashes in '...' are literal.",
    ),
    (
        "statement_timeout",
        "0",
        Accepts::OneOf(&["0"]),
        "Queries are not timed out (only 0 is accepted).",
    ),
    (
        "timezone",
        "UTC",
        Accepts::OneOf(&[
            "utc",
            "etc/utc",
            "gmt",
            "z",
            "zulu",
            "0",
            "+00",
            "+00:00",
            "universal",
        ]),
        "Timestamps with a time zone are shown in UTC (the only zone accepted).",
    ),
    (
        "transaction_isolation",
        "read committed",
        Accepts::Any,
        "Isolation of the current transaction.",
    ),
    (
        "transaction_read_only",
        "off",
        Accepts::ReadOnly,
        "Whether the current transaction is read-only.",
    ),
];

/// How `SHOW` spells a setting whose name Postgres reports in mixed case.
fn display_name(name: &str) -> &str {
    match name {
        "datestyle" => "DateStyle",
        "timezone" => "TimeZone",
        "intervalstyle" => "IntervalStyle",
        other => other,
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub database: String,
    /// Values SET in this session, by lower-case name.
    values: BTreeMap<String, String>,
    /// SET LOCAL values, dropped at the end of the transaction block.
    local: BTreeMap<String, String>,
    /// The session values when BEGIN ran, restored by ROLLBACK.
    saved: Option<BTreeMap<String, String>>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new("root", "dev")
    }
}

impl Session {
    pub fn new(user: &str, database: &str) -> Self {
        Session {
            user: user.to_string(),
            database: database.to_string(),
            values: BTreeMap::new(),
            local: BTreeMap::new(),
            saved: None,
        }
    }

    /// Starts with what the client sent in its startup message (`application_name`,
    /// `DateStyle`, `options=-c x=y`, ...), keeping only values Palisade accepts.
    pub fn with_startup_settings<'a>(
        mut self,
        settings: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        for (name, value) in settings {
            let name = name.to_ascii_lowercase();
            if let Some((_, _, accepts, _)) = SETTINGS.iter().find(|(n, ..)| *n == name)
                && !matches!(accepts, Accepts::ReadOnly)
                && check(&name, value, *accepts).is_ok()
            {
                self.values.insert(name, value.to_string());
            }
        }
        self
    }

    pub fn in_transaction(&self) -> bool {
        self.saved.is_some()
    }

    /// A setting's current value; `None` when Palisade does not know it.
    pub fn setting(&self, name: &str) -> Option<String> {
        if let Some(v) = self.local.get(name).or_else(|| self.values.get(name)) {
            return Some(v.clone());
        }
        match name {
            "session_authorization" | "session_user" => return Some(self.user.clone()),
            "transaction_read_only" if self.in_transaction() => return Some("off".into()),
            _ => {}
        }
        SETTINGS
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(_, default, ..)| default.to_string())
    }

    /// `SET name = value` (`None`: DEFAULT). Names with a dot are custom settings, which
    /// Postgres accepts for any value, as here.
    pub fn set(&mut self, name: &str, value: Option<&str>, local: bool) -> Result<String> {
        let custom = name.contains('.');
        let accepts = match SETTINGS.iter().find(|(n, ..)| *n == name) {
            Some((_, _, accepts, _)) => *accepts,
            None if custom => Accepts::Any,
            None => return Err(unknown(name)),
        };
        if matches!(accepts, Accepts::ReadOnly) {
            return Err(EngineError::Sql(SqlError::plan(
                PlanErrorKind::InvalidParameter,
                format!("parameter \"{name}\" cannot be changed"),
                None,
            )));
        }
        let target = if local {
            // Postgres: SET LOCAL outside a transaction block has no effect.
            if !self.in_transaction() {
                return Ok(self.setting(name).unwrap_or_default());
            }
            &mut self.local
        } else {
            &mut self.values
        };
        match value {
            None => {
                target.remove(name);
            }
            Some(v) => {
                check(name, v, accepts)?;
                target.insert(name.to_string(), v.to_string());
            }
        }
        Ok(self.setting(name).unwrap_or_default())
    }

    /// `RESET name`, or every setting.
    pub fn reset(&mut self, name: Option<&str>) -> Result<()> {
        match name {
            None => {
                self.values.clear();
                self.local.clear();
            }
            Some(name) => {
                self.set(name, None, false)?;
            }
        }
        Ok(())
    }

    pub fn begin(&mut self) {
        if self.saved.is_none() {
            self.saved = Some(self.values.clone());
        }
    }

    /// COMMIT keeps what SET did in the block; ROLLBACK undoes it, as in Postgres.
    pub fn end(&mut self, commit: bool) {
        if let Some(saved) = self.saved.take()
            && !commit
        {
            self.values = saved;
        }
        self.local.clear();
    }

    /// `SHOW name`: the column name and value; `SHOW ALL`: every setting.
    pub fn show(&self, name: &str) -> Result<Vec<(String, String, String)>> {
        if name == "all" {
            return Ok(SETTINGS
                .iter()
                .map(|(n, _, _, description)| {
                    (
                        display_name(n).to_string(),
                        self.setting(n).unwrap_or_default(),
                        description.to_string(),
                    )
                })
                .collect());
        }
        match self.setting(name) {
            Some(value) => Ok(vec![(display_name(name).to_string(), value, String::new())]),
            None => Err(unknown(name)),
        }
    }

    /// Every setting's name, default and description, for `pg_settings`.
    pub fn defaults() -> Vec<(String, String, String)> {
        SETTINGS
            .iter()
            .map(|(n, d, _, description)| (n.to_string(), d.to_string(), description.to_string()))
            .collect()
    }
}

fn check(name: &str, value: &str, accepts: Accepts) -> Result<()> {
    let ok = match accepts {
        Accepts::ReadOnly => false,
        Accepts::Any => true,
        Accepts::Integer => value.trim().parse::<i64>().is_ok(),
        Accepts::OneOf(values) => {
            let v: String = value
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            values.contains(&v.as_str())
        }
    };
    if ok {
        return Ok(());
    }
    let accepted = match accepts {
        Accepts::OneOf(values) => format!(" (Palisade accepts: {})", values.join(", ")),
        Accepts::Integer => " (an integer)".to_string(),
        _ => String::new(),
    };
    Err(EngineError::Sql(SqlError::plan(
        PlanErrorKind::InvalidParameter,
        format!("invalid value for parameter \"{name}\": \"{value}\"{accepted}"),
        None,
    )))
}

fn unknown(name: &str) -> EngineError {
    EngineError::Sql(SqlError::plan(
        PlanErrorKind::UndefinedObject,
        format!("unrecognized configuration parameter \"{name}\""),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_show_reset_and_rollback() {
        let mut s = Session::default();
        assert_eq!(s.setting("timezone").as_deref(), Some("UTC"));
        s.set("timezone", Some("Etc/UTC"), false).unwrap();
        assert_eq!(s.show("timezone").unwrap()[0].0, "TimeZone");
        assert!(s.set("timezone", Some("Europe/Paris"), false).is_err());
        assert!(s.set("server_version", Some("16"), false).is_err());
        assert!(s.set("no_such", Some("1"), false).is_err());
        s.set("myapp.tenant", Some("42"), false).unwrap();
        s.begin();
        s.set("search_path", Some("x"), false).unwrap();
        s.set("application_name", Some("in-block"), true).unwrap();
        assert_eq!(s.setting("application_name").as_deref(), Some("in-block"));
        s.end(false);
        assert_eq!(
            s.setting("search_path").as_deref(),
            Some("\"$user\", public")
        );
        assert_eq!(s.setting("application_name").as_deref(), Some(""));
        assert_eq!(s.setting("myapp.tenant").as_deref(), Some("42"));
        s.reset(None).unwrap();
        assert_eq!(s.setting("timezone").as_deref(), Some("UTC"));
    }
}
