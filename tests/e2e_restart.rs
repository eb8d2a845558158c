//! End to end: the real `palisade` binary stopped and started again on one data directory.
//! Every source and view comes back after a SIGKILL, views are rebuilt exactly, start-up
//! scripts do not run twice, DROP persists, SIGTERM exits 0, and a second server cannot
//! share a directory.

use std::path::PathBuf;
use std::time::Duration;

use palisade_tests::server_process::ServerProcess;
use tokio_postgres::{Client, SimpleQueryMessage};

/// A fresh data directory under the system temp dir, named for the test.
fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A bounded datagen source of 5000 events and two views.
fn datagen_script() -> PathBuf {
    palisade_tests::tests_dir().join("sql/e2e_datagen.sql")
}

async fn connect(server: &ServerProcess) -> Client {
    server
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to the server: {e}\n{}", server.log()))
}

/// The rows of `sql` as text, over the simple protocol.
async fn text_rows(client: &Client, sql: &str) -> Vec<Vec<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// What the datagen script's objects hold once every event is in: the view names SHOW
/// MATERIALIZED VIEWS lists, then each view's rows.
async fn datagen_state(client: &Client) -> Vec<Vec<Vec<String>>> {
    client.simple_query("FLUSH").await.expect("FLUSH");
    let views = text_rows(client, "SHOW MATERIALIZED VIEWS").await;
    vec![
        views.into_iter().map(|r| vec![r[0].clone()]).collect(),
        text_rows(client, "SELECT * FROM status_mix ORDER BY status_code").await,
        text_rows(client, "SELECT * FROM per_minute ORDER BY window_start").await,
    ]
}

#[tokio::test]
async fn after_a_sigkill_every_object_is_back_and_exact() {
    let dir = data_dir("restart");
    let mut first = ServerProcess::builder()
        .script(datagen_script())
        .data_dir(&dir)
        .start()
        .await;
    let before = datagen_state(&connect(&first).await).await;
    assert_eq!(
        before[0],
        vec![
            vec!["status_mix".to_string()],
            vec!["per_minute".to_string()]
        ]
    );
    assert!(before[1].len() > 1 && before[2].len() > 1, "{before:?}");
    first.kill9();

    // The same command again: the script is skipped, the catalog restored.
    let mut second = ServerProcess::builder()
        .script(datagen_script())
        .data_dir(&dir)
        .start()
        .await;
    let client = connect(&second).await;
    assert_eq!(datagen_state(&client).await, before);
    assert!(
        second.log().contains("start-up scripts are skipped"),
        "{}",
        second.log()
    );

    // DROP is saved too.
    client
        .simple_query("DROP MATERIALIZED VIEW per_minute")
        .await
        .expect("DROP");
    second.kill9();
    let third = ServerProcess::builder().data_dir(&dir).start().await;
    let views = text_rows(&connect(&third).await, "SHOW MATERIALIZED VIEWS").await;
    assert_eq!(
        views.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        vec!["status_mix"]
    );
    drop(third);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_server_with_exit_code_zero() {
    let dir = data_dir("sigterm");
    let mut server = ServerProcess::builder().data_dir(&dir).start().await;
    let status = tokio::task::block_in_place(|| server.terminate(Duration::from_secs(30)))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM\n{}", server.log()));
    assert!(status.success(), "{status}\n{}", server.log());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_second_server_cannot_share_a_data_directory() {
    let dir = data_dir("shared");
    let _first = ServerProcess::builder().data_dir(&dir).start().await;
    let output = std::process::Command::new(palisade_tests::server_process::palisade_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("palisade runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another palisade process"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
