//! The `palisade` binary. The Postgres-wire server and `palisade demo` land with the server
//! issue; until then the binary runs a SQL script in-process and prints each result, which
//! is enough to try the engine from a shell.

use std::process::ExitCode;

use palisade_engine::{Database, StatementResult};

const USAGE: &str = "usage: palisade run FILE.sql

Runs every statement of FILE.sql on an in-process Palisade database and prints each result.
FLUSH waits for sources to deliver what they accepted; datagen sources with
datagen.rows.total are delivered in full before FLUSH returns.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = match args.as_slice() {
        [cmd, file] if cmd == "run" => file.clone(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sql = match std::fs::read_to_string(&file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("palisade: cannot read {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("palisade: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let db = Database::default();
        match db.execute(&sql).await {
            Ok(results) => {
                for result in results {
                    match result {
                        StatementResult::Done { tag } => println!("{tag}"),
                        StatementResult::Rows { batches, .. } => {
                            match arrow::util::pretty::pretty_format_batches(&batches) {
                                Ok(table) => println!("{table}"),
                                Err(e) => eprintln!("palisade: {e}"),
                            }
                        }
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ERROR: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
