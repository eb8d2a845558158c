//! Property tests: random events in random batch splits; after every batch, every view
//! equals the batch oracle. And a database restored from a checkpoint taken at a random
//! point goes on to hold exactly what one that never stopped holds. The same with a
//! WATERMARK on the source: events come out of order, the late ones are exactly those a
//! one-by-one reference calls late, the views equal the oracle over the others (closed
//! windows dropping their state changes nothing), and EMIT ON WINDOW CLOSE shows exactly
//! the closed windows.

use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::events::{self, Event};
use palisade_tests::sorted_views;
use proptest::prelude::*;

fn event() -> impl Strategy<Value = Event> {
    (
        // five minutes, so windows and their edges are shared
        0i64..300_000_000,
        proptest::option::weighted(0.9, 0u8..6),
        0u8..8,
        proptest::option::weighted(0.95, 0u8..10),
        proptest::option::weighted(0.95, 0u8..7),
        proptest::option::weighted(0.9, 0i32..2000),
        proptest::option::weighted(0.9, 0u8..4),
        proptest::option::weighted(0.9, 0u8..3),
    )
        .prop_map(
            |(offset_micros, user, ip, action, status, response_time, referrer, level)| Event {
                offset_micros,
                user,
                ip,
                action,
                status,
                response_time,
                referrer,
                level,
            },
        )
}

async fn database() -> Database {
    let db = Database::new(DatabaseOptions {
        record_inputs: true,
        ..DatabaseOptions::default()
    });
    create_views(&db).await;
    db
}

/// The source, the seed views and the other shapes.
async fn create_views(db: &Database) {
    palisade_tests::create_website_security(db).await;
    let shapes = std::fs::read_to_string(palisade_tests::tests_dir().join("sql/shape_views.sql"))
        .expect("shape views");
    db.execute(&shapes).await.expect("shape views");
}

/// An empty directory for this test thread's data.
fn scratch_dir(prefix: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The watermark delay of [`watermarked_database`]'s source.
const DELAY_MICROS: i64 = 20_000_000;

/// The test source with `WATERMARK FOR request_timestamp AS request_timestamp - 20 s`, the
/// seed views, the other shapes, and an EMIT ON WINDOW CLOSE twin of one seed view.
async fn watermarked_database(options: DatabaseOptions) -> Database {
    let db = Database::open(DatabaseOptions {
        record_inputs: true,
        test_clock: true,
        ..options
    })
    .await
    .unwrap();
    if !db.definitions().await.sources.is_empty() {
        return db;
    }
    let ddl = events::SOURCE_DDL.replace(
        "security_level VARCHAR\n)",
        "security_level VARCHAR,\n    WATERMARK FOR request_timestamp AS request_timestamp - INTERVAL '20 SECONDS'\n)",
    );
    assert_ne!(ddl, events::SOURCE_DDL);
    db.execute(&ddl).await.expect("source");
    db.execute(&palisade_tests::website_security_views())
        .await
        .expect("seed views");
    let shapes = std::fs::read_to_string(palisade_tests::tests_dir().join("sql/shape_views.sql"))
        .expect("shape views");
    db.execute(&shapes).await.expect("shape views");
    db.execute(
        "CREATE MATERIALIZED VIEW status_on_close AS
         SELECT status_code, COUNT(*) AS n, COUNT(DISTINCT username) AS users,
                PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY response_time) AS p50,
                window_start, window_end
         FROM TUMBLE(website_logs_source, request_timestamp, INTERVAL '1 MINUTE')
         GROUP BY status_code, window_start, window_end EMIT ON WINDOW CLOSE;
         CREATE MATERIALIZED VIEW status_on_update AS
         SELECT status_code, COUNT(*) AS n, COUNT(DISTINCT username) AS users,
                PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY response_time) AS p50,
                window_start, window_end
         FROM TUMBLE(website_logs_source, request_timestamp, INTERVAL '1 MINUTE')
         GROUP BY status_code, window_start, window_end;",
    )
    .await
    .expect("twin views");
    db
}

/// How many of `events`, judged one by one in order, fall below the watermark of those
/// before them.
fn late_reference(events: &[Event]) -> u64 {
    let mut largest: Option<i64> = None;
    let mut late = 0;
    for e in events {
        if largest.is_some_and(|t| e.offset_micros < t - DELAY_MICROS) {
            late += 1;
        } else {
            largest = Some(largest.map_or(e.offset_micros, |t| t.max(e.offset_micros)));
        }
    }
    late
}

/// Checks a watermarked database after `pushed`: late count and accepted events, every view
/// but the EMIT ON WINDOW CLOSE one against the oracle, and that one against its twin's
/// closed windows.
async fn check_watermarked(db: &Database, pushed: &[Event]) -> Result<(), String> {
    let source = palisade_tests::format::rendered(
        &db.query_batches("SELECT * FROM palisade.late_events")
            .await
            .map_err(|e| e.to_string())?,
    );
    let late = late_reference(pushed);
    if source.len() as u64 != late {
        return Err(format!(
            "{} late events kept, the reference says {late}",
            source.len()
        ));
    }
    let accepted: usize = db
        .recorded_inputs("website_logs_source")
        .iter()
        .map(|b| b.num_rows())
        .sum();
    if (accepted + source.len()) != pushed.len() {
        return Err(format!(
            "{accepted} accepted + {late} late != {} pushed",
            pushed.len()
        ));
    }
    for view in db.definitions().await.views {
        if view.name != "status_on_close" {
            palisade_tests::oracle::check_view(db, &view.name).await?;
        }
    }
    let largest = pushed.iter().map(|e| e.offset_micros).max().unwrap_or(0);
    let watermark = events::BASE_MICROS + largest - DELAY_MICROS;
    let closed = format!(
        "SELECT * FROM status_on_update WHERE window_end <= to_timestamp_micros({watermark}) \
         ORDER BY status_code, window_start"
    );
    let rows = |sql: String| async move {
        db.query_batches(&sql)
            .await
            .map(|b| palisade_tests::format::rendered(&b))
            .map_err(|e| e.to_string())
    };
    let expected = rows(closed).await?;
    let actual =
        rows("SELECT * FROM status_on_close ORDER BY status_code, window_start".into()).await?;
    if expected != actual {
        return Err(format!(
            "EMIT ON WINDOW CLOSE: {actual:?}\n  closed windows: {expected:?}"
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn watermarked_views_equal_the_oracle_over_the_events_in_time(
        events in proptest::collection::vec(event(), 1..250),
        splits in proptest::collection::vec(1usize..80, 1..12),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let db = watermarked_database(DatabaseOptions::default()).await;
            let mut pushed = 0;
            let mut split = splits.iter().cycle();
            while pushed < events.len() {
                let n = (*split.next().unwrap()).min(events.len() - pushed);
                db.push_batch("website_logs_source", events::batch(&events[pushed..pushed + n])).unwrap();
                pushed += n;
                if let Err(e) = check_watermarked(&db, &events[..pushed]).await {
                    panic!("{e}");
                }
            }
        });
    }

    #[test]
    fn watermarks_and_closed_windows_survive_a_checkpoint(
        events in proptest::collection::vec(event(), 1..200),
        cut in 0usize..200,
        split in 1usize..60,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let cut = cut.min(events.len());
            let dir = scratch_dir("palisade-prop-watermark");
            let push = |db: &Database, events: &[Event]| {
                for chunk in events.chunks(split) {
                    db.push_batch("website_logs_source", events::batch(chunk)).unwrap();
                }
            };
            let reference = watermarked_database(DatabaseOptions::default()).await;
            push(&reference, &events);
            let on_disk = DatabaseOptions { data_dir: Some(dir.clone()), ..DatabaseOptions::default() };
            let first = watermarked_database(on_disk.clone()).await;
            push(&first, &events[..cut]);
            first.checkpoint().unwrap();
            drop(first);
            let restored = watermarked_database(on_disk).await;
            push(&restored, &events[cut..]);
            assert_eq!(sorted_views(&restored).await, sorted_views(&reference).await);
            let late = "SELECT source, event_time, watermark, reason, event FROM palisade.late_events \
                        ORDER BY event_time, event";
            let show = |db: Database| async move {
                let mut rows = palisade_tests::format::rendered(&db.query_batches(late).await.unwrap());
                let show = db.query_batches("SHOW SOURCES").await.unwrap();
                rows.extend(palisade_tests::format::rendered(&show));
                rows
            };
            assert_eq!(show(restored.clone()).await, show(reference.clone()).await);
            drop(restored);
            let _ = std::fs::remove_dir_all(&dir);
        });
    }

    #[test]
    fn every_view_equals_the_oracle_after_every_batch(
        events in proptest::collection::vec(event(), 1..250),
        splits in proptest::collection::vec(1usize..80, 1..12),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let db = database().await;
            let mut rest = &events[..];
            let mut split = splits.iter().cycle();
            while !rest.is_empty() {
                let n = (*split.next().unwrap()).min(rest.len());
                db.push_batch("website_logs_source", events::batch(&rest[..n])).unwrap();
                rest = &rest[n..];
                if let Err(e) = palisade_tests::oracle::check_all(&db).await {
                    panic!("{e}");
                }
            }
        });
    }

    #[test]
    fn views_restored_from_a_checkpoint_go_on_exactly(
        events in proptest::collection::vec(event(), 1..200),
        cut in 0usize..200,
        split in 1usize..60,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let cut = cut.min(events.len());
            let dir = scratch_dir("palisade-prop-checkpoint");
            let options = DatabaseOptions {
                data_dir: Some(dir.clone()),
                ..DatabaseOptions::default()
            };
            let push = |db: &Database, events: &[Event]| {
                for chunk in events.chunks(split) {
                    db.push_batch("website_logs_source", events::batch(chunk)).unwrap();
                }
            };

            // Never stopped: every event, checked against the oracle.
            let reference = database().await;
            push(&reference, &events);
            if let Err(e) = palisade_tests::oracle::check_all(&reference).await {
                panic!("{e}");
            }

            // Stopped after a checkpoint at `cut`, restored, then the rest.
            let first = Database::open(options.clone()).await.unwrap();
            create_views(&first).await;
            push(&first, &events[..cut]);
            first.checkpoint().unwrap();
            drop(first);
            let restored = Database::open(options).await.unwrap();
            push(&restored, &events[cut..]);
            assert_eq!(sorted_views(&restored).await, sorted_views(&reference).await);
            drop(restored);
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}

/// A view dropped and created again under the same name after a checkpoint must not load
/// the old view's state from it.
#[tokio::test]
async fn a_recreated_view_does_not_load_its_namesakes_checkpoint() {
    let dir = std::env::temp_dir().join(format!("palisade-recreated-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = DatabaseOptions {
        data_dir: Some(dir.clone()),
        ..DatabaseOptions::default()
    };
    let count = |db: Database| async move {
        let batches = db.query_batches("SELECT n FROM v").await.expect("v reads");
        palisade_tests::format::rows(&batches)[0][0].render()
    };

    let db = Database::open(options.clone()).await.unwrap();
    db.execute(
        "CREATE SOURCE s (x INT) WITH (connector = 'embedded');
         CREATE MATERIALIZED VIEW v AS SELECT COUNT(*) AS n FROM s;
         INSERT INTO s VALUES (1), (2), (3);",
    )
    .await
    .unwrap();
    db.checkpoint().unwrap();
    assert_eq!(count(db.clone()).await, "3");
    // The new v sees none of the earlier rows (an embedded source cannot replay them).
    db.execute(
        "DROP MATERIALIZED VIEW v;
         CREATE MATERIALIZED VIEW v AS SELECT COUNT(*) AS n FROM s WHERE x > 1;",
    )
    .await
    .unwrap();
    assert_eq!(count(db.clone()).await, "0");
    drop(db);

    let restored = Database::open(options).await.unwrap();
    assert_eq!(count(restored.clone()).await, "0");
    drop(restored);
    let _ = std::fs::remove_dir_all(&dir);
}
