//! `palisade-bench` end to end: each scenario run by the real binary (the debug build, so
//! small sizes) with `--check`, its JSON report read back. Nothing here is timed: the
//! figures only have to be there; the views have to equal the batch oracle.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_palisade-bench");

/// A fresh directory for one test's files under the target directory's tmp.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "palisade-bench-smoke-{test}-{}",
        std::process::id()
    ));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Runs the binary with `args`; panics with its output when it fails.
fn bench(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {BIN}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "palisade-bench {} failed ({}):\n{stdout}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");
    stdout
}

/// Runs a scenario with `--check --report` and returns the report.
fn scenario(dir: &Path, args: &[&str]) -> Value {
    let report = dir.join("report.json");
    let report_arg = report.to_str().expect("a UTF-8 path");
    let mut all = args.to_vec();
    all.extend(["--check", "--report", report_arg]);
    bench(&all);
    let text =
        std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", report.display()))
}

/// What every report must say: its scenario, no rejected events, checked, every one of the
/// five views holding rows, figures that are numbers.
fn check_report(report: &Value, scenario: &str) {
    assert_eq!(report["scenario"], scenario, "{report:#}");
    assert_eq!(report["rejected"], 0, "{report:#}");
    assert_eq!(report["checked"], true, "{report:#}");
    let views = report["view_rows"].as_object().expect("view_rows");
    assert_eq!(views.len(), 5, "{report:#}");
    for (view, rows) in views {
        assert!(rows.as_u64().is_some_and(|n| n > 0), "{view} has no rows");
    }
    for figure in ["cpu_seconds", "events_per_cpu_second", "state_bytes"] {
        assert!(
            report[figure].as_f64().is_some_and(|x| x > 0.0),
            "{figure}: {report:#}"
        );
    }
    assert!(
        report["freshness"]["count"].as_u64().is_some_and(|n| n > 0),
        "no freshness samples: {report:#}"
    );
}

#[test]
fn ingest_checks_out() {
    let dir = scratch("ingest");
    let report = scenario(&dir, &["ingest", "--events", "20000"]);
    check_report(&report, "ingest");
    assert_eq!(report["events"], 20_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generated_file_ingests_and_dumps() {
    let dir = scratch("file");
    let events = dir.join("events.jsonl");
    let dump = dir.join("views");
    let events_arg = events.to_str().expect("a UTF-8 path");
    bench(&["generate", "--events", "5000", "--out", events_arg]);
    let report = scenario(
        &dir,
        &[
            "ingest",
            "--file",
            events_arg,
            "--dump",
            dump.to_str().expect("a UTF-8 path"),
        ],
    );
    check_report(&report, "ingest");
    assert_eq!(report["events"], 5_000);
    assert_eq!(report["settings"]["file"], events_arg);
    // Every view dumped, one JSON object per row, as many as the report counts.
    for (view, rows) in report["view_rows"].as_object().expect("view_rows") {
        let path = dump.join(format!("{view}.jsonl"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = 0;
        for line in text.lines() {
            let row: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
            assert!(
                row.get("window_start").is_some(),
                "{}: {line}",
                path.display()
            );
            lines += 1;
        }
        assert_eq!(Some(lines), rows.as_u64(), "{}", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kafka_on_the_mock_broker_checks_out() {
    let dir = scratch("kafka");
    let report = scenario(
        &dir,
        &[
            "kafka",
            "--broker",
            "mock",
            "--rate",
            "2000",
            "--seconds",
            "3",
        ],
    );
    check_report(&report, "kafka");
    assert_eq!(report["events"], 6_000);
    assert_eq!(report["settings"]["broker"], "mock");
    assert_eq!(report["settings"]["partitions"], 4);
    // The producer's and broker's CPU time is not ours, but the source's is.
    assert!(
        report["stages"]["source"].as_f64().is_some_and(|s| s > 0.0),
        "{report:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same against a real broker (Tansu, when installed: CI installs it), which the run
/// creates its topic on; small, as a debug Tansu serves only a few thousand events a second.
#[test]
fn kafka_on_tansu_checks_out() {
    let Some(binary) = palisade_tests::broker::tansu_binary() else {
        return;
    };
    let broker = palisade_tests::broker::Broker::start(&binary);
    let dir = scratch("tansu");
    let address = broker.bootstrap();
    let report = scenario(
        &dir,
        &[
            "kafka",
            "--broker",
            &address,
            "--rate",
            "500",
            "--seconds",
            "2",
        ],
    );
    check_report(&report, "kafka");
    assert_eq!(report["events"], 1_000);
    assert_eq!(report["settings"]["broker"], address.as_str());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn panels_check_out() {
    let dir = scratch("panels");
    let report = scenario(
        &dir,
        &[
            "panels",
            "--hours",
            "1",
            "--rate",
            "20",
            "--ingest-rate",
            "1000",
            "--seconds",
            "3",
        ],
    );
    check_report(&report, "panels");
    assert_eq!(report["settings"]["history_events"], 72_000);
    // Live events at 1000 a second for 3 s: as many as a debug build keeps up with.
    let live = report["events"].as_u64().expect("events");
    assert!((1..=3_000).contains(&live), "{live} live events");
    let queries = &report["panel_queries"];
    assert!(
        queries["count"].as_u64().is_some_and(|n| n > 0),
        "{report:#}"
    );
    let panels = report["panels"].as_object().expect("per-panel figures");
    assert!(!panels.is_empty(), "{report:#}");
    for (panel, summary) in panels {
        assert!(
            summary["count"].as_u64().is_some_and(|n| n > 0),
            "{panel}: {summary}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
