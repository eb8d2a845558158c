//! Runs every `tests/slt/**/*.slt` file in-process, each on a fresh database.
//! `cargo test --test slt -- FILTER` runs the files whose path contains FILTER.

use std::path::{Path, PathBuf};

use palisade_tests::slt::InProcess;
use sqllogictest::Runner;

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let root = palisade_tests::tests_dir().join("slt");
    let mut files = vec![];
    slt_files(&root, &mut files);
    files.sort();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        let name = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let result = runtime.block_on(async {
            let mut runner = Runner::new(|| async { Ok(InProcess::default()) });
            runner.run_file_async(&file).await
        });
        match result {
            Ok(()) => {
                println!("test slt::{name} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test slt::{name} ... FAILED\n{e}");
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
