//! A catalog table built row by row: the catalogs are a few hundred rows at most and
//! rebuilt per read, so clarity beats columnar builders here.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;

use crate::error::{EngineError, Result};

/// Column types of the catalogs, by the Postgres type they stand for.
#[derive(Debug, Clone, Copy)]
pub enum Col {
    Oid,
    /// `name`, `text`, `"char"`, `pg_node_tree`: all text to clients.
    Text,
    Bool,
    Int2,
    Int4,
    Float4,
    /// `text[]`, `aclitem[]`: always NULL in Palisade's catalogs.
    TextArray,
    /// `oid[]`, `int2vector`.
    OidArray,
    Timestamp,
}

impl Col {
    fn data_type(self) -> DataType {
        match self {
            Col::Oid => DataType::UInt32,
            Col::Text => DataType::Utf8,
            Col::Bool => DataType::Boolean,
            Col::Int2 => DataType::Int16,
            Col::Int4 => DataType::Int32,
            Col::Float4 => DataType::Float32,
            Col::TextArray => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Col::OidArray => DataType::List(Arc::new(Field::new("item", DataType::UInt32, true))),
            Col::Timestamp => DataType::Timestamp(
                datafusion::arrow::datatypes::TimeUnit::Microsecond,
                Some("+00:00".into()),
            ),
        }
    }
}

/// A table's columns and rows, in the order the columns were declared.
pub struct Rows {
    schema: SchemaRef,
    rows: Vec<Vec<ScalarValue>>,
}

impl Rows {
    pub fn new(columns: &[(&str, Col)]) -> Self {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, col)| Field::new(*name, col.data_type(), true))
            .collect();
        Rows {
            schema: Arc::new(Schema::new(fields)),
            rows: vec![],
        }
    }

    /// Adds a row; columns not given (a short row) are NULL.
    pub fn push(&mut self, values: Vec<ScalarValue>) {
        self.rows.push(values);
    }

    pub fn into_table(self) -> Result<Arc<MemTable>> {
        let columns = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let null = ScalarValue::try_from(f.data_type())?;
                let values = self.rows.iter().map(|r| match r.get(i) {
                    Some(ScalarValue::Null) | None => null.clone(),
                    Some(v) => v.clone(),
                });
                if self.rows.is_empty() {
                    return Ok(datafusion::arrow::array::new_empty_array(f.data_type()));
                }
                ScalarValue::iter_to_array(values)
            })
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| EngineError::Internal(format!("building a catalog table: {e}")))?;
        Ok(Arc::new(MemTable::try_new(self.schema, vec![vec![batch]])?))
    }
}

pub fn oid(v: u32) -> ScalarValue {
    ScalarValue::UInt32(Some(v))
}

pub fn text(v: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(v.to_string()))
}

pub fn boolean(v: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(v))
}

pub fn int2(v: i16) -> ScalarValue {
    ScalarValue::Int16(Some(v))
}

pub fn int4(v: i32) -> ScalarValue {
    ScalarValue::Int32(Some(v))
}

pub fn float4(v: f32) -> ScalarValue {
    ScalarValue::Float32(Some(v))
}

pub const NULL: ScalarValue = ScalarValue::Null;
