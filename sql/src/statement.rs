//! The statements Palisade understands, after parsing and before planning.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use sqlparser::ast::Query;

use crate::error::Position;

/// A statement with where it starts in the text and its own text (for the catalog and errors).
#[derive(Debug, Clone)]
pub struct Located {
    pub statement: Statement,
    pub position: Position,
    pub text: String,
}

#[derive(Debug, Clone)]
pub enum Statement {
    CreateSource(CreateSource),
    CreateMaterializedView(CreateMaterializedView),
    Drop(DropObject),
    Show(ShowObjects),
    /// Returns once every event accepted before it is reflected in every view.
    Flush,
    /// An ad-hoc query over materialized views.
    Query(Box<Query>),
    /// `INSERT INTO source [(cols)] VALUES ...` into an embedded source.
    Insert(Insert),
    /// `ADVANCE CLOCK TO '...'` / `ADVANCE CLOCK BY INTERVAL '...'`: moves a test clock.
    AdvanceClock(ClockStep),
    /// `SET name = value`: a setting of the client's session.
    Set(SetVariable),
    /// `RESET name`, or every setting (`RESET ALL`, `DISCARD ALL`) when `None`.
    Reset(Option<String>),
    /// `SHOW name`; `all` for `SHOW ALL`.
    ShowVariable(String),
    /// BEGIN, COMMIT, ROLLBACK: accepted so drivers that wrap reads in transactions work.
    Transaction(TransactionStep),
}

/// `SET [LOCAL] name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetVariable {
    /// Lower-cased, as Postgres matches setting names.
    pub name: String,
    /// The value as written (several comma-separated values joined by `, `); `None` for
    /// `DEFAULT`.
    pub value: Option<String>,
    /// `SET LOCAL`: until the end of the transaction block.
    pub local: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStep {
    Begin,
    Commit,
    Rollback,
}

/// How far `ADVANCE CLOCK` moves the test clock.
#[derive(Debug, Clone, PartialEq)]
pub enum ClockStep {
    /// To this timestamp (text as written; the engine parses it as a TIMESTAMP).
    To(String),
    /// Forward by this many microseconds.
    By(i64),
}

/// `WATERMARK FOR col AS col - INTERVAL '...'` in CREATE SOURCE.
#[derive(Debug, Clone, PartialEq)]
pub struct WatermarkDecl {
    /// The event-time column.
    pub column: String,
    /// How far the watermark trails the largest event time seen, in microseconds.
    pub delay_micros: i64,
    pub position: Position,
}

#[derive(Debug, Clone)]
pub struct Insert {
    pub source: String,
    /// The whole statement, which DataFusion plans against the source's schema.
    pub statement: Box<sqlparser::ast::Statement>,
}

/// `CREATE SOURCE name (cols) WITH (connector = '...', ...) FORMAT PLAIN ENCODE JSON`.
#[derive(Debug, Clone)]
pub struct CreateSource {
    pub name: String,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnDecl>,
    /// The `connector` option, lower-cased.
    pub connector: String,
    /// Every other `WITH` option, keys lower-cased, values unquoted.
    pub options: BTreeMap<String, String>,
    /// `FORMAT x ENCODE y`, lower-cased, when given.
    pub format: Option<(String, String)>,
    pub watermark: Option<WatermarkDecl>,
}

#[derive(Debug, Clone)]
pub struct ColumnDecl {
    pub name: String,
    pub data_type: DataType,
    /// The type as the user wrote it, for SHOW and messages.
    pub sql_type: String,
}

/// `CREATE MATERIALIZED VIEW [IF NOT EXISTS] name [AS] query [EMIT ON WINDOW CLOSE]`.
#[derive(Debug, Clone)]
pub struct CreateMaterializedView {
    pub name: String,
    pub if_not_exists: bool,
    pub query: Box<Query>,
    /// A window's rows appear once, when the watermark passes its end.
    pub emit_on_window_close: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Source,
    MaterializedView,
}

impl ObjectKind {
    pub fn describe(&self) -> &'static str {
        match self {
            ObjectKind::Source => "source",
            ObjectKind::MaterializedView => "materialized view",
        }
    }
}

/// `DROP SOURCE|MATERIALIZED VIEW [IF EXISTS] name`.
#[derive(Debug, Clone)]
pub struct DropObject {
    pub kind: ObjectKind,
    pub name: String,
    pub if_exists: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowObjects {
    Sources,
    MaterializedViews,
}
