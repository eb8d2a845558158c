//! `datagen`: a synthetic website access-log source for demos, tests and benchmarks.
//!
//! Row i is a pure function of (`datagen.seed`, i), so the engine may read any range in any
//! split, or re-read it later, and get identical rows. See [`DatagenReader`] for the options.

mod columns;
mod event;
mod options;
mod rng;
mod tables;

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use chrono::{DateTime, Utc};

pub use columns::DATAGEN_COLUMNS;
pub use event::{MAX_OUT_OF_ORDER_MICROS, OUT_OF_ORDER_PER_MILLE, USER_COUNT};
pub use options::{
    DATAGEN_OPTIONS, DEFAULT_ROWS_PER_SECOND, OPT_EVENT_TIME_RATE, OPT_EVENT_TIME_START,
    OPT_ROWS_PER_SECOND, OPT_ROWS_TOTAL, OPT_SEED,
};
pub use tables::USER_ACTIONS;

use self::columns::ColumnPlan;
use self::event::{Event, Model, Timeline};
use self::options::{DatagenOptions, Rate};
use crate::error::Result;
use crate::source::{SourceReader, SourceSpec};

/// Reads website access-log events generated on demand.
///
/// Options (all optional):
/// - `datagen.seed` (u64, default 0);
/// - `datagen.rows.total` (u64): a bounded stream of that many rows;
/// - `datagen.rows.per.second` (> 0): delivery pace. Default: unpaced if `rows.total` is given,
///   otherwise [`DEFAULT_ROWS_PER_SECOND`];
/// - `datagen.event.time.start` + `datagen.event.time.rate` (both or neither): simulated event
///   time, row i at `start + floor(i * 1e6 / rate)` µs. Without them event time follows the wall
///   clock: row i at `now + i / rows.per.second` (1 µs apart when unpaced).
///
/// In both modes [`OUT_OF_ORDER_PER_MILLE`] rows in a thousand are moved back by up to
/// [`MAX_OUT_OF_ORDER_MICROS`].
#[derive(Debug)]
pub struct DatagenReader {
    schema: SchemaRef,
    columns: Vec<ColumnPlan>,
    model: Model,
    total_rows: Option<u64>,
    rows_per_second: Option<f64>,
    /// Reused across batches so steady-state reading does not allocate the row buffer.
    scratch: Vec<Event>,
}

impl DatagenReader {
    /// Validates options and declared columns. `now` anchors wall-clock event time.
    pub fn new(spec: &SourceSpec, now: DateTime<Utc>) -> Result<Self> {
        let options = DatagenOptions::parse(&spec.options)?;
        let columns = spec
            .schema
            .fields()
            .iter()
            .map(|f| ColumnPlan::resolve(f))
            .collect::<Result<Vec<_>>>()?;
        let fields: Vec<_> = spec
            .schema
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, plan)| {
                if plan.produces_nulls() && !f.is_nullable() {
                    Arc::new(f.as_ref().clone().with_nullable(true))
                } else {
                    Arc::clone(f)
                }
            })
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            spec.schema.metadata().clone(),
        ));

        let timeline = match options.event_time {
            Some(event_time) => Timeline {
                origin_micros: event_time.start_micros,
                rate: event_time.rate,
            },
            None => Timeline {
                origin_micros: now.timestamp_micros(),
                rate: options.rows_per_second.unwrap_or(Rate::PER_MICROSECOND),
            },
        };
        Ok(Self {
            schema,
            columns,
            model: Model::new(options.seed, timeline),
            total_rows: options.total_rows,
            rows_per_second: options.rows_per_second.map(Rate::value),
            scratch: Vec::new(),
        })
    }
}

impl SourceReader for DatagenReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn read_range(&mut self, start: u64, len: usize) -> Result<RecordBatch> {
        let mut end = start.saturating_add(len as u64);
        if let Some(total) = self.total_rows {
            end = end.min(total);
        }
        let rows = end.saturating_sub(start) as usize;
        self.model.fill(start, rows, &mut self.scratch);
        let arrays = self
            .columns
            .iter()
            .map(|c| c.build(&self.scratch))
            .collect::<Result<Vec<_>>>()?;
        // The explicit row count keeps batches of a zero-column schema the right length.
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.schema(),
            arrays,
            &options,
        )?)
    }

    fn total_rows(&self) -> Option<u64> {
        self.total_rows
    }

    fn rows_per_second(&self) -> Option<f64> {
        self.rows_per_second
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use arrow::array::{Array, AsArray};
    use arrow::compute::concat_batches;
    use arrow::datatypes::{DataType, Field, Int32Type, TimeUnit, TimestampMicrosecondType};
    use chrono::TimeZone;

    use super::*;
    use crate::error::ConnectorError;

    fn full_schema() -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        let mut fields = vec![Field::new("request_timestamp", ts, false)];
        for name in &DATAGEN_COLUMNS[1..] {
            let data_type = match *name {
                "status_code" | "response_time" => DataType::Int32,
                _ => DataType::Utf8,
            };
            fields.push(Field::new(*name, data_type, true));
        }
        Arc::new(Schema::new(fields))
    }

    fn spec_with(schema: SchemaRef, options: &[(&str, &str)]) -> SourceSpec {
        SourceSpec {
            connector: "datagen".into(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            schema,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn reader(options: &[(&str, &str)]) -> DatagenReader {
        DatagenReader::new(&spec_with(full_schema(), options), now()).unwrap()
    }

    fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a arrow::array::ArrayRef {
        batch.column_by_name(name).unwrap()
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let a = reader(&[("datagen.seed", "7")]).read_range(0, 500).unwrap();
        let b = reader(&[("datagen.seed", "7")]).read_range(0, 500).unwrap();
        let c = reader(&[("datagen.seed", "8")]).read_range(0, 500).unwrap();
        assert_eq!(a, b);
        assert_ne!(column(&a, "ip_address"), column(&c, "ip_address"));
    }

    #[test]
    fn any_split_gives_the_same_rows() {
        let mut r = reader(&[("datagen.seed", "3")]);
        let whole = r.read_range(100, 1000).unwrap();
        let mut parts = Vec::new();
        let mut at = 100u64;
        for len in [1usize, 0, 17, 255, 300, 427] {
            parts.push(r.read_range(at, len).unwrap());
            at += len as u64;
        }
        assert_eq!(at, 1100);
        let joined = concat_batches(&r.schema(), &parts).unwrap();
        assert_eq!(whole, joined);
        // Reading backwards after forwards changes nothing either.
        assert_eq!(r.read_range(100, 1000).unwrap(), whole);
    }

    #[test]
    fn bounded_stream_stops() {
        let mut r = reader(&[("datagen.rows.total", "1000")]);
        assert_eq!(r.total_rows(), Some(1000));
        assert_eq!(r.rows_per_second(), None);
        assert_eq!(r.read_range(0, 600).unwrap().num_rows(), 600);
        assert_eq!(r.read_range(600, 600).unwrap().num_rows(), 400);
        assert_eq!(r.read_range(1000, 10).unwrap().num_rows(), 0);
        assert_eq!(r.read_range(5000, 10).unwrap().num_rows(), 0);
        assert_eq!(r.read_range(u64::MAX, usize::MAX).unwrap().num_rows(), 0);
    }

    #[test]
    fn pacing_defaults() {
        let r = reader(&[]);
        assert_eq!((r.total_rows(), r.rows_per_second()), (None, Some(10.0)));
        let r = reader(&[("datagen.rows.per.second", "250")]);
        assert_eq!(r.rows_per_second(), Some(250.0));
    }

    #[test]
    fn event_time_mode_is_exact_apart_from_jitter() {
        let mut r = reader(&[
            ("datagen.event.time.start", "2024-01-01 00:00:00"),
            ("datagen.event.time.rate", "1000"),
        ]);
        let batch = r.read_range(0, 100_000).unwrap();
        let ts = column(&batch, "request_timestamp").as_primitive::<TimestampMicrosecondType>();
        let start = 1_704_067_200_000_000i64;
        let mut exact = 0;
        for (i, t) in ts.values().iter().enumerate() {
            let nominal = start + i as i64 * 1_000;
            let back = nominal - t;
            assert!((0..=MAX_OUT_OF_ORDER_MICROS).contains(&back), "row {i}");
            exact += usize::from(back == 0);
        }
        assert!(exact > 90_000, "{exact} exact rows");
        // 100k rows at 1000/s is 100 simulated seconds; at 100/s, over 16 minutes.
        let span = ts.values().iter().max().unwrap() - ts.values().iter().min().unwrap();
        assert!((98_000_000..=102_000_000).contains(&span), "span {span} µs");
        let mut slow = reader(&[
            ("datagen.event.time.start", "2024-01-01T00:00:00Z"),
            ("datagen.event.time.rate", "100"),
        ]);
        let last = slow.read_range(99_999, 1).unwrap();
        let ts = column(&last, "request_timestamp").as_primitive::<TimestampMicrosecondType>();
        assert!(ts.value(0) - start > 16 * 60_000_000);
    }

    #[test]
    fn wall_clock_mode_follows_the_pace() {
        let mut r = reader(&[("datagen.rows.per.second", "4")]);
        let batch = r.read_range(0, 1000).unwrap();
        let ts = column(&batch, "request_timestamp").as_primitive::<TimestampMicrosecondType>();
        let origin = now().timestamp_micros();
        for (i, t) in ts.values().iter().enumerate() {
            let back = origin + i as i64 * 250_000 - t;
            assert!((0..=MAX_OUT_OF_ORDER_MICROS).contains(&back), "row {i}");
        }
    }

    #[test]
    fn columns_follow_the_declaration() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("mystery", DataType::Float64, false),
            Field::new("Status_Code", DataType::Int64, true),
            Field::new(
                "request_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                true,
            ),
        ]));
        let mut r = DatagenReader::new(&spec_with(schema, &[]), now()).unwrap();
        let batch = r.read_range(0, 50).unwrap();
        assert_eq!(batch.num_columns(), 3);
        assert_eq!(batch.column(0).null_count(), 50);
        assert!(r.schema().field(0).is_nullable());
        assert_eq!(batch.column(1).data_type(), &DataType::Int64);
        assert_eq!(
            batch.column(2).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        );
    }

    #[test]
    fn empty_schema_still_counts_rows() {
        let mut r = DatagenReader::new(&spec_with(Arc::new(Schema::empty()), &[]), now()).unwrap();
        assert_eq!(r.read_range(0, 5).unwrap().num_rows(), 5);
    }

    #[test]
    fn bad_declarations_and_options_are_rejected() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "request_timestamp",
            DataType::Boolean,
            true,
        )]));
        let err = DatagenReader::new(&spec_with(schema, &[]), now()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("request_timestamp") && text.contains("Boolean"),
            "{text}"
        );

        let err = DatagenReader::new(&spec_with(full_schema(), &[("rows", "5")]), now());
        assert!(matches!(err, Err(ConnectorError::BadOption { option, .. }) if option == "rows"));
    }

    #[test]
    fn users_are_consistent_and_distributions_hold() {
        let batch = reader(&[]).read_range(0, 100_000).unwrap();
        let ids = column(&batch, "user_id").as_string::<i32>();
        let names = column(&batch, "username").as_string::<i32>();
        let mut name_of: HashMap<&str, &str> = HashMap::new();
        for (id, name) in ids.iter().zip(names.iter()) {
            let (id, name) = (id.unwrap(), name.unwrap());
            assert_eq!(&name[5..], &id[1..]);
            assert_eq!(*name_of.entry(id).or_insert(name), name);
        }
        assert!((1000..=10_000).contains(&name_of.len()));
        let ips: HashSet<_> = column(&batch, "ip_address")
            .as_string::<i32>()
            .iter()
            .collect();
        assert!(ips.len() > name_of.len());

        let status = column(&batch, "status_code").as_primitive::<Int32Type>();
        let ok = status.values().iter().filter(|s| **s == 200).count() as f64 / 1e5;
        assert!((0.75..0.95).contains(&ok), "200 share {ok}");
        let actions: HashSet<_> = column(&batch, "user_action")
            .as_string::<i32>()
            .iter()
            .collect();
        assert_eq!(actions.len(), USER_ACTIONS.len());
        for a in USER_ACTIONS {
            assert!(actions.contains(&Some(a)), "{a} missing");
        }
    }

    /// `cargo test --release -p palisade-connectors -- --ignored --nocapture throughput`
    #[test]
    #[ignore = "throughput measurement; run in release"]
    fn throughput() {
        let mut r = reader(&[("datagen.rows.total", "100000000")]);
        let rows = 4_000_000u64;
        let started = std::time::Instant::now();
        let mut at = 0;
        while at < rows {
            at += r.read_range(at, 8192).unwrap().num_rows() as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        println!("{:.2} M rows/s (all 12 columns)", rows as f64 / secs / 1e6);
    }
}
