//! Property tests: random events in random batch splits; after every batch, every view
//! equals the batch oracle. And a database restored from a checkpoint taken at a random
//! point goes on to hold exactly what one that never stopped holds.

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

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
            let dir = std::env::temp_dir().join(format!(
                "palisade-prop-checkpoint-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
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
