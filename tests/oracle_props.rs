//! Property tests: random events in random batch splits; after every batch, every view
//! equals the batch oracle.

use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::events::{self, Event, SOURCE_DDL};
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
    db.execute(SOURCE_DDL).await.expect("source");
    db.execute(&palisade_tests::website_security_views())
        .await
        .expect("seed views");
    let shapes = std::fs::read_to_string(palisade_tests::tests_dir().join("sql/shape_views.sql"))
        .expect("shape views");
    db.execute(&shapes).await.expect("shape views");
    db
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
}
