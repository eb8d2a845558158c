//! The `palisade` binary: `palisade serve` and `palisade demo`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use palisade_engine::{Database, DatabaseOptions};
use palisade_server::auth::{self, Credential, Users};
use palisade_server::tls::Tls;
use palisade_server::{ServerError, ServerOptions, demo, serve};
use tokio::net::TcpListener;

/// `serve`'s data directory when none is given.
const DEFAULT_DATA_DIR: &str = "palisade-data";

/// The environment variable holding `--user`'s password.
const PASSWORD_ENV: &str = "PALISADE_PASSWORD";

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "Palisade: streaming SQL for security monitoring, over the Postgres wire protocol",
    long_about = "Palisade keeps SQL materialized views over streams of security events \
        (web access, authentication, firewall logs) exact and fresh as events arrive. \
        psql, Grafana and any Postgres driver read the views.\n\n\
        Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more or less.\n\n\
        Without passwords any user name connects (trust), as suits a laptop. With \
        --password-file, or PALISADE_PASSWORD in the environment (the password of --user), \
        clients log in with SCRAM-SHA-256 and a wrong or missing password is refused \
        (SQLSTATE 28P01) before any statement runs. --tls-cert and --tls-key add TLS.",
    after_help = "Examples:\n  \
        palisade demo                          live demo views on 127.0.0.1:4566\n  \
        palisade serve -f sources.sql -f views.sql\n  \
        psql -h 127.0.0.1 -p 4566 -d dev -U root -c 'SHOW MATERIALIZED VIEWS'\n  \
        PALISADE_PASSWORD=s3cret palisade serve --user alice --tls-cert cert.pem --tls-key key.pem\n  \
        PGPASSWORD=s3cret psql 'host=127.0.0.1 port=4566 dbname=dev user=alice sslmode=require'"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve SQL over the Postgres wire protocol.
    Serve(ServeArgs),
    /// Serve, with a live source of website access events and five security views over it.
    ///
    /// The source generates 500 events per second with event time on the wall clock;
    /// the views (website_user_metrics, top_user_actions, referrer_activity_summary,
    /// status_code_analysis_summary, security_level_analysis_summary) aggregate them in
    /// one-minute tumbling windows. The psql command to connect is printed at start.
    Demo(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (Postgres protocol). 4566 is RisingWave's port, so its
    /// scripts and Grafana settings carry over.
    #[arg(long, default_value = "127.0.0.1:4566", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// The database name clients connect to (psql -d).
    #[arg(long, default_value = "dev")]
    database: String,
    /// The user shown in the demo's psql command, and the one whose password
    /// PALISADE_PASSWORD gives when that is set in the environment (an environment variable
    /// rather than a flag, so the password does not show in `ps`).
    #[arg(long, default_value = "root")]
    user: String,
    /// Users who may log in, and their passwords: one `NAME:PASSWORD` or `NAME = PASSWORD`
    /// per line. The name ends at the first ':' or '='; spaces around name and password are
    /// dropped; blank lines and lines starting with '#' are skipped. A bad line stops the
    /// server, naming its line number. Passwords are checked with SCRAM-SHA-256 (kept in
    /// memory only salted); keep the file `chmod 600`. Without this and without
    /// PALISADE_PASSWORD, any user connects without a password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// The server's TLS certificate chain, PEM, leaf first (with --tls-key). Clients that ask
    /// for TLS get it (psql sslmode=require or verify-full), and over TLS log in with
    /// SCRAM-SHA-256-PLUS, bound to this certificate. Without it, the server answers 'N' to
    /// a TLS request and clients go on in plaintext or stop, as their sslmode says.
    #[arg(long, value_name = "FILE.pem", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE.pem", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Refuse clients that do not start TLS (sslmode=disable), with SQLSTATE 28000. Without
    /// it, TLS is the client's choice.
    #[arg(long, requires = "tls_cert")]
    tls_required: bool,
    /// A SQL script to run at start, before accepting connections; repeat for several,
    /// run in order. The server does not start if a statement fails. Scripts run only when
    /// the data directory holds no catalog yet: on later starts their objects are restored
    /// from it instead.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    files: Vec<PathBuf>,
    /// Where the catalog of sources and views and their checkpoints persist; after a
    /// restart every object is back, views load the last checkpoint and sources resume
    /// from it. Default: ./palisade-data for `serve`; the demo keeps everything in memory
    /// unless this is given.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep everything in memory: nothing is read from or written to a data directory.
    #[arg(long, conflicts_with = "data_dir")]
    in_memory: bool,
    /// Seconds between checkpoints of every view's state and every source's position in the
    /// data directory (fractions allowed); after a restart, views load the last one and
    /// sources resume from it. 0: only the final checkpoint at shutdown.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    checkpoint_interval: f64,
    /// For tests only: a clock that stands at 1970-01-01 and moves only with
    /// `ADVANCE CLOCK TO '...'` / `ADVANCE CLOCK BY INTERVAL '...'`, so idle sources, window
    /// close and retention happen exactly when a test says. Without it the wall clock runs.
    #[arg(long)]
    test_clock: bool,
    /// Seconds between the per-source ingest-rate log lines; 0 turns them off.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    rate_log_interval: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("palisade: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (args, is_demo) = match cli.command {
        Command::Serve(args) => (args, false),
        Command::Demo(args) => (args, true),
    };
    match runtime.block_on(run(args, is_demo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("palisade: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: ServeArgs, is_demo: bool) -> Result<(), String> {
    // Before the data directory and the scripts: a typo in a password file should not wait
    // for (or follow) a long start.
    let users = load_users(&args).map_err(|e| e.to_string())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key).map_err(|e| e.to_string())?),
        _ => None,
    };
    let data_dir = match (&args.data_dir, args.in_memory, is_demo) {
        (_, true, _) | (None, _, true) => None,
        (Some(dir), _, _) => Some(dir.clone()),
        (None, _, false) => Some(PathBuf::from(DEFAULT_DATA_DIR)),
    };
    if !(args.checkpoint_interval.is_finite() && args.checkpoint_interval >= 0.0) {
        return Err(format!(
            "--checkpoint-interval must be a number of seconds >= 0, not {}",
            args.checkpoint_interval
        ));
    }
    let db = Database::open(DatabaseOptions {
        data_dir: data_dir.clone(),
        checkpoint_interval: Duration::from_secs_f64(args.checkpoint_interval),
        test_clock: args.test_clock,
        ..DatabaseOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    match &data_dir {
        Some(dir) => tracing::info!(data_dir = %dir.display(), "catalog persists"),
        None => tracing::info!("in memory: the catalog is gone when the server stops"),
    }
    if db.restored_objects() > 0 {
        if is_demo || !args.files.is_empty() {
            tracing::info!(
                "the data directory has a catalog: start-up scripts are skipped, their objects \
                 were restored"
            );
        }
    } else {
        if is_demo {
            run_script(&db, "the demo source", demo::SOURCE).await?;
            run_script(&db, "the demo views", demo::VIEWS).await?;
        }
        for file in &args.files {
            let sql = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            run_script(&db, &file.display().to_string(), &sql).await?;
        }
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    tracing::info!(%address, database = %args.database, "listening for Postgres clients");
    match &users {
        Some(users) => tracing::info!(users = ?users.names(), "passwords required (SCRAM-SHA-256)"),
        None if !address.ip().is_loopback() => tracing::warn!(
            %address,
            "no passwords configured: anyone who reaches this address logs in as any user \
             (see --password-file)"
        ),
        None => tracing::info!("no passwords configured: any user connects (trust)"),
    }
    if tls.is_some() {
        tracing::info!(tls_required = args.tls_required, "TLS on");
    }
    if is_demo {
        println!(
            "{}",
            demo::banner(
                &address.ip().to_string(),
                address.port(),
                &args.database,
                &args.user
            )
        );
    }
    if args.rate_log_interval > 0 {
        tokio::spawn(log_ingest_rates(
            db.clone(),
            Duration::from_secs(args.rate_log_interval),
        ));
    }
    let options = ServerOptions {
        database: args.database,
        user: args.user,
        users: users.map(Arc::new),
        tls,
        tls_required: args.tls_required,
    };
    tokio::select! {
        served = serve(listener, db.clone(), options) => served.map_err(|e| format!("server stopped: {e}")),
        signal = stop_signal() => {
            tracing::info!(signal, "stopping");
            match db.checkpoint() {
                Ok(Some(sequence)) => tracing::info!(sequence, "final checkpoint written"),
                Ok(None) => {}
                Err(e) => return Err(format!("the final checkpoint failed: {e}")),
            }
            Ok(())
        }
    }
}

/// Ctrl-C or SIGTERM (what systemd and container runtimes send), whichever comes first.
async fn stop_signal() -> &'static str {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupt",
        _ = terminate => "SIGTERM",
    }
}

/// The users of `--password-file` and `PALISADE_PASSWORD`; None when neither is given.
fn load_users(args: &ServeArgs) -> Result<Option<Users>, ServerError> {
    let mut credentials = Vec::new();
    if let Some(file) = &args.password_file {
        credentials.extend(auth::read_password_file(file)?);
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(password) if password.trim().is_empty() => {
            return Err(ServerError::Users(format!(
                "{PASSWORD_ENV} is set but empty; unset it for no password"
            )));
        }
        Ok(password) => credentials.push(Credential {
            user: args.user.clone(),
            password,
            origin: PASSWORD_ENV.into(),
        }),
        Err(std::env::VarError::NotPresent) => {}
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(ServerError::Users(format!("{PASSWORD_ENV} is not UTF-8")));
        }
    }
    if credentials.is_empty() && args.password_file.is_none() {
        return Ok(None);
    }
    Users::new(credentials).map(Some)
}

async fn run_script(db: &Database, name: &str, sql: &str) -> Result<(), String> {
    db.execute(sql)
        .await
        .map(|_| tracing::info!(script = name, "ran start-up script"))
        .map_err(|e| format!("{name}: {e}"))
}

/// Logs each source's events per second since the previous line, for sources that moved.
async fn log_ingest_rates(db: Database, every: Duration) {
    let mut previous: HashMap<String, u64> = HashMap::new();
    let mut since = Instant::now();
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let elapsed = since.elapsed().as_secs_f64().max(1e-3);
        since = Instant::now();
        for (source, rows) in db.rows_ingested() {
            let before = previous.insert(source.clone(), rows).unwrap_or(0);
            if rows > before {
                let rate = (rows - before) as f64 / elapsed;
                tracing::info!(%source, rows, events_per_second = rate.round(), "ingest");
            }
        }
    }
}
