//! Runs every `tests/slt/**/*.slt` file twice, each time on a fresh database: in-process,
//! and over the Postgres wire through `palisade_server::serve`. A file must give the same
//! answers both ways, so the server adds nothing to and loses nothing of the engine's results.
//! `cargo test --test slt -- FILTER` runs the runs whose name (`views/tumble.slt [wire]`)
//! contains FILTER.

use std::path::{Path, PathBuf};

use palisade_tests::harness::Slt;
use palisade_tests::slt::InProcess;
use palisade_tests::wire::Wire;
use sqllogictest::{Runner, TestError};

/// How a file's SQL reaches the engine.
#[derive(Clone, Copy)]
enum Mode {
    InProcess,
    Wire,
}

impl Mode {
    const ALL: [Mode; 2] = [Mode::InProcess, Mode::Wire];

    fn name(self) -> &'static str {
        match self {
            Mode::InProcess => "in-process",
            Mode::Wire => "wire",
        }
    }

    async fn run(self, file: &Path) -> Result<(), TestError> {
        match self {
            Mode::InProcess => {
                Runner::new(|| async { Ok(Slt(InProcess::default())) })
                    .run_file_async(file)
                    .await
            }
            Mode::Wire => {
                Runner::new(|| async { Wire::start().await.map(Slt) })
                    .run_file_async(file)
                    .await
            }
        }
    }
}

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
    for (file, mode) in files
        .iter()
        .flat_map(|f| Mode::ALL.into_iter().map(move |m| (f, m)))
    {
        let name = format!(
            "{} [{}]",
            file.strip_prefix(&root).unwrap_or(file).display(),
            mode.name()
        );
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match runtime.block_on(mode.run(file)) {
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
