//! A real Kafka-compatible broker for end-to-end tests: Tansu (`cargo install tansu`, see
//! `.ci/run`) as a child process on a local port, with SQLite storage in a fresh directory, so
//! a test can kill it with SIGKILL and start it again on the same port over the same data.
//!
//! Also here: creating topics and reading high watermarks, through the rdkafka crate's
//! librdkafka (Debian's kcat is too old to talk to Tansu); producing is in
//! [`crate::kafka_workload`].

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::kafka_workload::{Delivered, Outgoing, produce};
use crate::server_process::free_port;

/// How long a starting broker may take to answer a `topic list`.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one CLI call against the broker may take (the CLI hangs while no broker is up).
const CLI_TIMEOUT: Duration = Duration::from_secs(5);
/// Where `.ci/run` installs Tansu, under `$HOME`.
const INSTALL_DIR: &str = ".cache/palisade-tools";

/// The Tansu binary: `$PALISADE_TANSU`, else `$HOME/.cache/palisade-tools/bin/tansu`. `None`,
/// with a line saying the test is skipped, when it is not there outside CI.
///
/// # Panics
/// When it is not there and `CI` is set: CI installs it (`.ci/run`), so a missing binary
/// there is a broken install step, not a reason to skip.
pub fn tansu_binary() -> Option<PathBuf> {
    let path = match std::env::var_os("PALISADE_TANSU") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(INSTALL_DIR)
            .join("bin/tansu"),
    };
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "Tansu is not installed at {} (PALISADE_TANSU or $HOME/{INSTALL_DIR}/bin/tansu); \
         .ci/run installs it before the tests",
        path.display()
    );
    eprintln!(
        "skipped: Tansu not installed ({}); bash .ci/run installs it",
        path.display()
    );
    None
}

/// A running Tansu broker on `127.0.0.1:port`, killed when dropped. Its data directory (and
/// the broker's log in it) is removed on drop unless the test is panicking.
pub struct Broker {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Broker {
    /// Starts Tansu on a free local port with SQLite storage in a new directory under the
    /// target directory's `tmp/`, and waits until it answers.
    ///
    /// # Panics
    /// When it cannot be started or does not answer within 60 s (the log is in the message).
    pub fn start(binary: &Path) -> Broker {
        let port = free_port();
        let dir = target_tmp_dir().join(format!("tansu-{port}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let log = dir.join("tansu.log");
        let mut broker = Broker {
            binary: binary.to_path_buf(),
            port,
            dir,
            log,
            child: None,
        };
        broker.spawn();
        broker
    }

    /// `127.0.0.1:port`, for librdkafka's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's URL, as Tansu's own CLI takes it.
    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Everything the broker has logged, over all its starts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("({e})"))
    }

    /// Kills the broker with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix.
            child.kill().expect("the broker can be killed");
            child.wait().expect("the killed broker can be reaped");
        }
    }

    /// Starts the broker again on the same port over the same data, and waits until it
    /// answers. Kills it first if it is running.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let err = log
            .try_clone()
            .expect("a log file handle can be duplicated");
        let url = self.url();
        // The storage path is relative to the working directory. Both listener URLs are
        // given: the defaults are 0.0.0.0 and an advertised `localhost`.
        let child = Command::new(&self.binary)
            .current_dir(&self.dir)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        self.child = Some(child);
        self.wait_until_ready();
    }

    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("the broker's status can be read"))
            {
                panic!(
                    "tansu broker exited with {status} before it was ready:\n{}",
                    self.log()
                );
            }
            let last = match self.cli(&["topic", "list"]) {
                Ok(out) if out.status.success() => return,
                Ok(out) => format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => e,
            };
            assert!(
                started.elapsed() < START_TIMEOUT,
                "tansu broker on port {} was not ready within {START_TIMEOUT:?} (last \
                 `topic list`: {last}); its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `tansu <args> --broker URL`, killed after [`CLI_TIMEOUT`].
    fn cli(&self, args: &[&str]) -> Result<Output, String> {
        let mut child = Command::new(&self.binary)
            .args(args)
            .args(["--broker", &self.url()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.binary.display()))?;
        let started = Instant::now();
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if started.elapsed() > CLI_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "tansu {} timed out after {CLI_TIMEOUT:?}",
                    args.join(" ")
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().map_err(|e| e.to_string())
    }

    /// Creates `topic` with `partitions` partitions and waits until the broker's metadata
    /// shows all of them. Tansu does not create topics on first use.
    ///
    /// # Panics
    /// When the topic cannot be created or does not show up within 30 s.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let count = partitions.to_string();
        let out = self
            .cli(&["topic", "create", "--partitions", &count, topic])
            .unwrap_or_else(|e| panic!("creating topic {topic}: {e}\n{}", self.log()));
        assert!(
            out.status.success(),
            "tansu topic create {topic}: {}: {}{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        let consumer = self.consumer();
        let started = Instant::now();
        loop {
            let seen = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .map(|m| {
                    m.topics()
                        .iter()
                        .find(|t| t.name() == topic && t.error().is_none())
                        .map_or(0, |t| t.partitions().len())
                })
                .unwrap_or(0);
            if seen == partitions as usize {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "topic {topic} shows {seen} of {partitions} partitions after 30 s\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Each partition's high watermark (the offset the next message will get), in partition
    /// order, as the broker reports it now.
    ///
    /// # Panics
    /// When the broker has not answered for a partition after 60 s. A request is retried
    /// until then: a broker just restarted on a loaded machine can take longer than one
    /// request's 10 s to answer, and that slowness is not what any test checks.
    pub fn high_watermarks(&self, topic: &str, partitions: i32) -> Vec<i64> {
        let consumer = self.consumer();
        let deadline = Instant::now() + Duration::from_secs(60);
        (0..partitions)
            .map(|p| {
                loop {
                    match consumer.fetch_watermarks(topic, p, Duration::from_secs(10)) {
                        Ok((_, high)) => break high,
                        Err(e) if Instant::now() >= deadline => {
                            panic!("watermarks of {topic}/{p}: {e}\n{}", self.log())
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(200)),
                    }
                }
            })
            .collect()
    }

    /// A consumer for metadata and watermark requests (it subscribes to nothing).
    fn consumer(&self) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", "palisade-tests-metadata")
            .create()
            .expect("a metadata consumer")
    }

    /// Produces `messages` to `topic` (see [`produce`]); panics with the broker's log when a
    /// message is not acknowledged.
    pub fn produce(&self, topic: &str, messages: &[Outgoing]) -> Vec<Delivered> {
        produce(&self.bootstrap(), topic, messages)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.log()))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("tansu broker's data and log: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `target/tmp`: beside the profile directory the test executable runs from (where
/// [`crate::server_process`] keeps server logs too).
fn target_tmp_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>-<hash> → target
    let mut dir = exe.parent().expect("the executable is in a directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps is in a profile directory");
    }
    dir.parent().unwrap_or(Path::new(".")).join("tmp")
}
