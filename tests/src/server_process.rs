//! The real `palisade` binary as a child process on a local port, for end-to-end tests that
//! talk to it the way users do (tokio-postgres, psql).
//!
//! The binary belongs to another package of the workspace, so cargo does not build it for
//! this crate's tests nor set `CARGO_BIN_EXE_palisade`. [`palisade_binary`] finds it in the
//! target directory the test executable runs from and builds it there when it is missing or
//! older than its sources.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use tokio_postgres::{Client, NoTls};

/// How long a starting server may take to accept a connection (it runs its `-f` scripts
/// first; a debug build on a busy 2-core machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `palisade serve`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    port: u16,
    /// The server's stdout and stderr, shown when it fails to start.
    log: PathBuf,
    /// Who [`ServerProcess::connect`] logs in as.
    login: Login,
}

/// A user name and, for a server with passwords, the password.
#[derive(Clone)]
struct Login {
    user: String,
    password: Option<String>,
}

impl Default for Login {
    fn default() -> Self {
        Login {
            user: "root".into(),
            password: None,
        }
    }
}

/// Options for [`ServerProcess::start`].
#[derive(Default)]
pub struct ServerBuilder {
    /// SQL files the server runs before it accepts connections (`-f`, in order).
    scripts: Vec<PathBuf>,
    /// Environment variables set for the server on top of the test's own.
    env: Vec<(String, String)>,
    /// `--data-dir`; without one the server runs `--in-memory`.
    data_dir: Option<PathBuf>,
    /// `--test-clock`.
    test_clock: bool,
    /// `--password-file`.
    password_file: Option<PathBuf>,
    /// `--tls-cert` and `--tls-key`.
    tls: Option<(PathBuf, PathBuf)>,
    /// `--tls-required`.
    tls_required: bool,
    /// Who [`ServerProcess::connect`] logs in as.
    login: Login,
}

impl ServerBuilder {
    /// Adds a SQL file for the server to run at start-up.
    pub fn script(mut self, path: impl Into<PathBuf>) -> Self {
        self.scripts.push(path.into());
        self
    }

    /// Sets an environment variable for the server (e.g. `RUST_LOG`, so a test that reads
    /// the log does not depend on the caller's).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Keeps the catalog in `dir` (`--data-dir`), so a server started later on the same
    /// directory restores it.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Runs the server with `--test-clock`: time moves only with `ADVANCE CLOCK`.
    pub fn test_clock(mut self) -> Self {
        self.test_clock = true;
        self
    }

    /// Runs the server with `--password-file`: clients log in with a password from it
    /// (SCRAM-SHA-256). [`ServerBuilder::login`] says whose [`ServerProcess::connect`] uses.
    pub fn password_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.password_file = Some(path.into());
        self
    }

    /// The user and password [`ServerProcess::connect`] logs in with; by default `root`
    /// without a password.
    pub fn login(mut self, user: &str, password: &str) -> Self {
        self.login = Login {
            user: user.to_string(),
            password: Some(password.to_string()),
        };
        self
    }

    /// Runs the server with TLS: `--tls-cert` and `--tls-key`, both PEM.
    pub fn tls(mut self, certificate: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((certificate.into(), key.into()));
        self
    }

    /// Runs the server with `--tls-required`: plaintext clients are refused.
    pub fn tls_required(mut self) -> Self {
        self.tls_required = true;
        self
    }

    /// Starts the server on a free local port and waits until it accepts a connection.
    ///
    /// # Panics
    /// When the binary cannot be built or started, exits early, or does not accept a
    /// connection within 60 s; the message includes the server's log.
    pub async fn start(self) -> ServerProcess {
        let binary = tokio::task::spawn_blocking(palisade_binary)
            .await
            .expect("locating the palisade binary does not panic");
        let port = free_port();
        let log = binary
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
            .join("tmp")
            .join(format!("palisade-serve-{port}.log"));
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        let out = File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out
            .try_clone()
            .expect("a log file handle can be duplicated");
        let mut command = Command::new(&binary);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for script in &self.scripts {
            command.arg("-f").arg(script);
        }
        match &self.data_dir {
            Some(dir) => command.arg("--data-dir").arg(dir),
            None => command.arg("--in-memory"),
        };
        if self.test_clock {
            command.arg("--test-clock");
        }
        if let Some(file) = &self.password_file {
            command.arg("--password-file").arg(file);
        }
        if let Some((certificate, key)) = &self.tls {
            command
                .arg("--tls-cert")
                .arg(certificate)
                .arg("--tls-key")
                .arg(key);
        }
        if self.tls_required {
            command.arg("--tls-required");
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut server = ServerProcess {
            child,
            port,
            log,
            login: self.login,
        };
        server.wait_until_accepting().await;
        server
    }
}

impl ServerProcess {
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// tokio-postgres connection parameters for this server, with the builder's login.
    pub fn connection_string(&self) -> String {
        let mut s = format!(
            "host=127.0.0.1 port={} user={} dbname=dev",
            self.port, self.login.user
        );
        if let Some(password) = &self.login.password {
            s.push_str(&format!(" password='{}'", libpq_quoted(password)));
        }
        s
    }

    /// A new client; its connection runs on a task of the current runtime until the client
    /// is dropped.
    pub async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.connection_string(), NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("palisade connection: {e}");
            }
        });
        Ok(client)
    }

    /// Sends SIGTERM, as systemd or a container runtime would, and waits up to `within` for
    /// the server to exit; its exit status, or None when it is still running.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the server with SIGKILL, as a crash would, and waits until it is gone.
    pub fn kill9(&mut self) {
        // `Child::kill` is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the server has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("({e})"))
    }

    async fn wait_until_accepting(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status can be read") {
                panic!(
                    "palisade serve exited with {status} before accepting connections:\n{}",
                    self.log()
                );
            }
            // A password is sent even when none was configured: a server with passwords then
            // refuses the login (28P01) rather than the client giving up before asking, and
            // any answer of the server's own means it is up.
            let mut probe = self.connection_string();
            if self.login.password.is_none() {
                probe.push_str(" password=readiness-probe");
            }
            match tokio_postgres::connect(&probe, NoTls).await {
                Ok(_) => return,
                Err(e) if e.as_db_error().is_some() => return,
                Err(e) if started.elapsed() > START_TIMEOUT => panic!(
                    "palisade serve did not accept a connection within {START_TIMEOUT:?} \
                     (last error: {e}):\n{}",
                    self.log()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // The server listens until killed; a test that panics must not leave it behind.
        self.kill9();
        // The log is kept for a failed test only.
        if std::thread::panicking() {
            eprintln!("palisade serve's log: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// `value` inside single quotes of a libpq connection string: `\` and `'` escaped.
fn libpq_quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A port that was free a moment ago: bound on 127.0.0.1:0, read, released.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// The `palisade` binary of the target directory and profile this test executable was
/// built in, built first if it is missing or older than any of its sources. Once per process.
///
/// # Panics
/// When the build fails.
pub fn palisade_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test executable's path");
            // target/<profile>/deps/<test>-<hash> → target/<profile>
            let mut profile_dir = exe.parent().expect("the executable is in a directory");
            if profile_dir.ends_with("deps") {
                profile_dir = profile_dir
                    .parent()
                    .expect("deps is in a profile directory");
            }
            let binary = profile_dir.join(format!("palisade{}", std::env::consts::EXE_SUFFIX));
            if !is_fresh(&binary, &profile_dir.join("palisade.d")) {
                build(profile_dir);
            }
            assert!(binary.exists(), "{} was not built", binary.display());
            binary
        })
        .clone()
}

/// Whether `binary` exists and is newer than every source cargo listed in its dep-info file
/// (`dep_info`) and the workspace's manifest and lock file. Checked here rather than by
/// running cargo every time because cargo waits on the build lock that a concurrent build
/// holds.
fn is_fresh(binary: &Path, dep_info: &Path) -> bool {
    let Some(built) = modified(binary) else {
        return false;
    };
    let Ok(deps) = std::fs::read_to_string(dep_info) else {
        return false;
    };
    let workspace = crate::tests_dir()
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf();
    let mut inputs = vec![workspace.join("Cargo.toml"), workspace.join("Cargo.lock")];
    inputs.extend(dep_info_inputs(&deps));
    inputs
        .iter()
        .all(|input| modified(input).is_some_and(|m| m <= built))
}

/// The inputs a cargo dep-info file lists: `target: a.rs b.rs ...`, spaces in paths escaped
/// with a backslash.
fn dep_info_inputs(dep_info: &str) -> Vec<PathBuf> {
    let listed = dep_info
        .lines()
        .next()
        .and_then(|line| line.split_once(": "))
        .map_or("", |(_, files)| files);
    listed
        .replace("\\ ", "\0")
        .split_whitespace()
        .map(|p| PathBuf::from(p.replace('\0', " ")))
        .collect()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// `cargo build -p palisade --bin palisade` into the target directory and profile of
/// `profile_dir` (`target/debug`, `target/release`, `target/<custom>`).
fn build(profile_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = profile_dir
        .parent()
        .expect("the profile directory is in a target directory");
    let mut command = Command::new(cargo);
    command
        .current_dir(crate::tests_dir())
        .args([
            "build",
            "-p",
            "palisade",
            "--bin",
            "palisade",
            "--target-dir",
        ])
        .arg(target_dir);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    eprintln!("building the palisade binary: {command:?}");
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::dep_info_inputs;

    #[test]
    fn dep_info_lists_every_input_of_the_first_rule() {
        let text = "/t/debug/palisade: /w/a.rs /w/my\\ dir/b.rs\n\n/w/a.rs:\n";
        assert_eq!(
            dep_info_inputs(text),
            [PathBuf::from("/w/a.rs"), PathBuf::from("/w/my dir/b.rs")]
        );
    }
}
