//! Passwords and TLS against the real binary: SCRAM-SHA-256 logins from tokio-postgres and
//! psql 15, refusals (wrong, missing, unknown) with SQLSTATE 28P01 before any statement runs,
//! TLS with a certificate made at test time (psql `sslmode=require`/`verify-full`,
//! tokio-postgres over rustls, SCRAM-SHA-256-PLUS channel binding), and start-up errors for
//! bad configuration.
//!
//! Drivers never send a statement before their login succeeded, so the "nothing runs"
//! tests speak the protocol byte by byte ([`Raw`]) and pipeline a `CREATE SOURCE` behind a
//! failed login, then check with a good login that no source exists.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use palisade_tests::server_process::{ServerProcess, palisade_binary};
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Two users, one per line form; bob's password holds both separators and a `#`.
const USERS: &str = "# Palisade users for the auth tests\n\
                     \n\
                     alice:correct horse\n\
                     bob = pa:ss=wo#rd\n";
const ALICE_PASSWORD: &str = "correct horse";
const BOB_PASSWORD: &str = "pa:ss=wo#rd";

/// A statement with a lasting effect: had it run, SHOW SOURCES would list `sneaky`.
const CREATE_SNEAKY: &str = "CREATE SOURCE sneaky (ts TIMESTAMP) WITH (connector = 'embedded')";

/// A directory of its own per test, removed when the test ends well.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("palisade-auth-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Scratch(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    fn users(&self) -> PathBuf {
        self.write("users.txt", USERS)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1` and its key, PEM files.
struct Certificate {
    cert: PathBuf,
    key: PathBuf,
}

impl Certificate {
    fn new(scratch: &Scratch, name: &str) -> Certificate {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("rcgen makes a certificate");
        Certificate {
            cert: scratch.write(&format!("{name}.crt"), &made.cert.pem()),
            key: scratch.write(&format!("{name}.key"), &made.signing_key.serialize_pem()),
        }
    }
}

/// A server with [`USERS`], connecting as alice by default.
async fn serve_users(scratch: &Scratch) -> ServerProcess {
    ServerProcess::builder()
        .password_file(scratch.users())
        .login("alice", ALICE_PASSWORD)
        .start()
        .await
}

/// A server with [`USERS`] and TLS.
async fn serve_users_tls(scratch: &Scratch, certificate: &Certificate) -> ServerProcess {
    ServerProcess::builder()
        .password_file(scratch.users())
        .login("alice", ALICE_PASSWORD)
        .tls(&certificate.cert, &certificate.key)
        .start()
        .await
}

fn params(server: &ServerProcess, user: &str, password: Option<&str>) -> String {
    let mut s = format!(
        "host=127.0.0.1 port={} user={user} dbname=dev",
        server.port()
    );
    if let Some(p) = password {
        s.push_str(&format!(" password='{p}'"));
    }
    s
}

async fn connect_plain(params: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(params, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The first column of each row of `sql`'s result.
async fn first_column(client: &Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .collect()
}

/// Severity, SQLSTATE and message of a login the server refused.
fn refusal(result: Result<Client, tokio_postgres::Error>) -> (String, SqlState, String) {
    let error = match result {
        Ok(_) => panic!("the login was accepted"),
        Err(e) => e,
    };
    let db = error
        .as_db_error()
        .unwrap_or_else(|| panic!("not refused by the server: {error}"));
    (
        db.severity().to_string(),
        db.code().clone(),
        db.message().to_string(),
    )
}

fn password_failed(user: &str) -> (String, SqlState, String) {
    (
        "FATAL".into(),
        SqlState::INVALID_PASSWORD,
        format!("password authentication failed for user \"{user}\""),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_right_password_logs_in_with_scram_and_queries_run() {
    let scratch = Scratch::new("right");
    let server = serve_users(&scratch).await;
    for (user, password) in [("alice", ALICE_PASSWORD), ("bob", BOB_PASSWORD)] {
        let client = connect_plain(&params(&server, user, Some(password)))
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}\n{}", server.log()));
        assert_eq!(
            first_column(&client, "SELECT 40 + 2 AS answer").await,
            ["42"]
        );
        let row = client
            .query_one("SELECT 21 * 2 AS doubled", &[])
            .await
            .expect("extended protocol after login");
        assert_eq!(row.get::<_, i64>("doubled"), 42);
    }
    // The database is still checked, after the password.
    let other = params(&server, "alice", Some(ALICE_PASSWORD)).replace("dbname=dev", "dbname=prod");
    assert_eq!(
        refusal(connect_plain(&other).await),
        (
            "FATAL".into(),
            SqlState::INVALID_CATALOG_NAME,
            "database \"prod\" does not exist (this server has \"dev\")".into()
        )
    );
    // Only SCRAM-SHA-256 is offered in plaintext; channel binding needs TLS.
    let mut raw = Raw::connect(&server).await;
    raw.send(&startup("alice")).await;
    assert_eq!(raw.read().await.mechanisms(), ["SCRAM-SHA-256"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_with_28p01_and_nothing_runs() {
    let scratch = Scratch::new("wrong");
    let server = serve_users(&scratch).await;
    assert_eq!(
        refusal(connect_plain(&params(&server, "alice", Some("correct horse "))).await),
        password_failed("alice")
    );
    assert_eq!(
        refusal(connect_plain(&params(&server, "bob", Some(ALICE_PASSWORD))).await),
        password_failed("bob")
    );

    // A client that sends its (wrong) proof and a statement in one packet.
    let mut raw = Raw::connect(&server).await;
    let server_first = raw.scram_first("alice").await;
    let nonce = field(&server_first, "r=");
    let mut burst = sasl_response(&format!("c=biws,r={nonce},p={}=", "A".repeat(43)));
    burst.extend(query(CREATE_SNEAKY));
    burst.extend(query(CREATE_SNEAKY));
    raw.send(&burst).await;
    let answers = raw.read_to_end().await;
    assert_eq!(
        answers.first().map(Message::error),
        Some(vec![
            ('S', "FATAL".to_string()),
            ('V', "FATAL".to_string()),
            ('C', "28P01".to_string()),
            (
                'M',
                "password authentication failed for user \"alice\"".to_string()
            ),
        ])
    );
    assert_no_statement_ran(&answers);

    // The statement was a good one: after a real login it runs, and only then.
    let client = server.connect().await.expect("alice logs in");
    assert_eq!(
        first_column(&client, "SHOW SOURCES").await,
        Vec::<String>::new()
    );
    client
        .batch_execute(CREATE_SNEAKY)
        .await
        .expect("CREATE SOURCE");
    assert_eq!(first_column(&client, "SHOW SOURCES").await, ["sneaky"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_without_a_password_is_refused() {
    let scratch = Scratch::new("missing");
    let server = serve_users(&scratch).await;
    // tokio-postgres gives up itself when asked for a password it does not have.
    let error = connect_plain(&params(&server, "alice", None))
        .await
        .expect_err("no login without a password");
    assert_eq!(
        (
            error.to_string(),
            std::error::Error::source(&error).map(ToString::to_string)
        ),
        (
            "invalid configuration".to_string(),
            Some("password missing".to_string())
        )
    );

    // A client that answers the password request with statements.
    let mut raw = Raw::connect(&server).await;
    let mut burst = startup("alice");
    burst.extend(query(CREATE_SNEAKY));
    burst.extend(query(CREATE_SNEAKY));
    raw.send(&burst).await;
    let answers = raw.read_to_end().await;
    assert_eq!(
        answers.first().map(Message::mechanisms),
        Some(vec!["SCRAM-SHA-256".to_string()])
    );
    assert_eq!(
        answers.get(1).map(Message::error),
        Some(vec![
            ('S', "FATAL".to_string()),
            ('V', "FATAL".to_string()),
            ('C', "28P01".to_string()),
            (
                'M',
                "password authentication failed for user \"alice\"".to_string()
            ),
            (
                'D',
                "The client sent no password: another message came instead.".to_string()
            ),
        ])
    );
    assert_no_statement_ran(&answers);
    let client = server.connect().await.expect("alice logs in");
    assert_eq!(
        first_column(&client, "SHOW SOURCES").await,
        Vec::<String>::new()
    );

    // psql told never to prompt (-w), without PGPASSWORD.
    let Some(out) = psql(
        &[&params(&server, "alice", None), "-w", "-c", "SELECT 1"],
        None,
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).ends_with("fe_sendauth: no password supplied\n"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_is_refused_like_a_wrong_password() {
    let scratch = Scratch::new("unknown");
    let server = serve_users(&scratch).await;
    assert_eq!(
        refusal(connect_plain(&params(&server, "mallory", Some(ALICE_PASSWORD))).await),
        password_failed("mallory")
    );
    // The exchange looks the same as a real user's: a 16-byte salt that stays the same from
    // one attempt to the next, and PostgreSQL's iteration count.
    let mut salts = Vec::new();
    for user in ["alice", "mallory", "alice", "mallory"] {
        let mut raw = Raw::connect(&server).await;
        let server_first = raw.scram_first(user).await;
        assert_eq!(field(&server_first, "i="), "4096", "{user}");
        salts.push(field(&server_first, "s="));
    }
    assert_eq!(salts[0], salts[2]);
    assert_eq!(salts[1], salts[3]);
    assert_ne!(salts[0], salts[1]);
    // Base64 of 16 bytes.
    assert_eq!(salts[1].len(), 24);
    assert_eq!(salts[0].len(), 24);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_of_user_can_come_from_the_environment() {
    let server = ServerProcess::builder()
        .env("PALISADE_PASSWORD", "from the environment")
        .login("root", "from the environment")
        .start()
        .await;
    let client = server.connect().await.expect("root logs in");
    assert_eq!(first_column(&client, "SELECT 1 AS one").await, ["1"]);
    assert_eq!(
        refusal(connect_plain(&params(&server, "root", Some("guess"))).await),
        password_failed("root")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_logs_in_over_tls_with_channel_binding() {
    let scratch = Scratch::new("psql-tls");
    let certificate = Certificate::new(&scratch, "server");
    let server = serve_users_tls(&scratch, &certificate).await;
    let port = server.port();
    let connected = format!(
        "You are connected to database \"dev\" as user \"alice\" on host \"127.0.0.1\" at port \"{port}\"."
    );

    // sslmode=require with channel_binding=require: TLS, and SCRAM-SHA-256-PLUS (psql
    // refuses to log in without it).
    let conninfo = format!(
        "{} sslmode=require channel_binding=require",
        params(&server, "alice", None)
    );
    let Some(out) = psql(
        &[
            &conninfo,
            "-c",
            "\\conninfo",
            "-c",
            "SELECT 40 + 2 AS answer",
        ],
        Some(ALICE_PASSWORD),
    ) else {
        return;
    };
    assert!(out.status.success(), "{}\n{}", stderr(&out), server.log());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], connected);
    assert!(
        lines[1].starts_with("SSL connection (protocol: TLSv1.3, cipher: TLS_")
            && lines[1].ends_with(", compression: off)"),
        "{stdout}"
    );
    assert_eq!(lines[2], "42");

    // verify-full: the certificate served is the one given, valid for 127.0.0.1.
    let verified = format!(
        "{} sslmode=verify-full sslrootcert={}",
        params(&server, "bob", None),
        certificate.cert.display()
    );
    let out = psql(
        &[&verified, "-c", "SELECT 'bob over TLS' AS who"],
        Some(BOB_PASSWORD),
    )
    .expect("psql ran above");
    assert_eq!(
        (
            stderr(&out),
            String::from_utf8_lossy(&out.stdout).into_owned()
        ),
        (String::new(), "bob over TLS\n".to_string())
    );

    // TLS is the client's choice without --tls-required: sslmode=disable logs in in
    // plaintext (with SCRAM-SHA-256, no channel binding to offer).
    let plain = format!("{} sslmode=disable", params(&server, "alice", None));
    let out = psql(&[&plain, "-c", "\\conninfo"], Some(ALICE_PASSWORD)).expect("psql ran above");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{connected}\n")
    );

    // A wrong password over TLS is refused the same way.
    let out = psql(&[&conninfo, "-c", "SELECT 1"], Some("wrong")).expect("psql ran above");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).ends_with("FATAL:  password authentication failed for user \"alice\"\n"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_required_refuses_plaintext_clients() {
    let scratch = Scratch::new("tls-required");
    let certificate = Certificate::new(&scratch, "server");
    let server = ServerProcess::builder()
        .password_file(scratch.users())
        .login("alice", ALICE_PASSWORD)
        .tls(&certificate.cert, &certificate.key)
        .tls_required()
        .start()
        .await;
    assert_eq!(
        refusal(connect_plain(&params(&server, "alice", Some(ALICE_PASSWORD))).await),
        (
            "FATAL".into(),
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            "this server accepts TLS connections only (connect with sslmode=require)".into()
        )
    );
    let client = connect_tls(&server, &certificate, "alice", ALICE_PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(first_column(&client, "SELECT 'tls' AS via").await, ["tls"]);

    let plain = format!("{} sslmode=disable", params(&server, "alice", None));
    let Some(out) = psql(&[&plain, "-c", "SELECT 1"], Some(ALICE_PASSWORD)) else {
        return;
    };
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).ends_with(
            "FATAL:  this server accepts TLS connections only (connect with sslmode=require)\n"
        ),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokio_postgres_over_rustls_binds_the_login_to_the_certificate() {
    let scratch = Scratch::new("rustls");
    let certificate = Certificate::new(&scratch, "server");
    let server = serve_users_tls(&scratch, &certificate).await;
    // channel_binding=require: the login fails unless SCRAM-SHA-256-PLUS was used.
    let client = connect_tls(&server, &certificate, "bob", BOB_PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(
        first_column(&client, "SELECT 'bound' AS binding").await,
        ["bound"]
    );
    assert_eq!(
        refusal(connect_tls(&server, &certificate, "bob", "wrong").await),
        password_failed("bob")
    );
    // A client that trusts another certificate does not get as far as the password.
    let stranger = Certificate::new(&scratch, "stranger");
    let error = connect_tls(&server, &stranger, "bob", BOB_PASSWORD)
        .await
        .expect_err("an untrusted certificate is refused by the client");
    assert!(error.as_db_error().is_none(), "{error}");
}

/// tokio-postgres over rustls, trusting only `trusted`'s certificate, with
/// `channel_binding=require`.
async fn connect_tls(
    server: &ServerProcess,
    trusted: &Certificate,
    user: &str,
    password: &str,
) -> Result<Client, tokio_postgres::Error> {
    let pem = std::fs::read(&trusted.cert).expect("the certificate is readable");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a certificate rustls accepts");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(config);
    let params = format!(
        "{} sslmode=require channel_binding=require",
        params(server, user, Some(password))
    );
    let (client, connection) = tokio_postgres::connect(&params, tls).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[test]
fn bad_configuration_stops_the_server_with_a_clear_message() {
    let scratch = Scratch::new("config");
    let bad_users = scratch.write("users.txt", "alice:x\n# bob is next\nbob\n");
    let out = serve_once(&["--password-file".as_ref(), bad_users.as_os_str()], &[]);
    assert_eq!(
        (out.status.code(), last_line(&out)),
        (
            Some(1),
            format!(
                "palisade: {}, line 3: expected NAME:PASSWORD or NAME = PASSWORD (no ':' or '=' \
                 on this line)",
                bad_users.display()
            )
        )
    );

    let twice = scratch.write("twice.txt", "root:a\n");
    let out = serve_once(
        &["--password-file".as_ref(), twice.as_os_str()],
        &[("PALISADE_PASSWORD", "b")],
    );
    assert_eq!(
        last_line(&out),
        "palisade: user \"root\" is given twice: twice.txt, line 1, and PALISADE_PASSWORD"
    );

    let out = serve_once(&[], &[("PALISADE_PASSWORD", "")]);
    assert_eq!(
        last_line(&out),
        "palisade: PALISADE_PASSWORD is set but empty; unset it for no password"
    );

    let certificate = Certificate::new(&scratch, "server");
    let missing = scratch.0.join("missing.key");
    let out = serve_once(
        &[
            "--tls-cert".as_ref(),
            certificate.cert.as_os_str(),
            "--tls-key".as_ref(),
            missing.as_os_str(),
        ],
        &[],
    );
    assert_eq!(
        (out.status.code(), last_line(&out)),
        (
            Some(1),
            format!(
                "palisade: cannot read {}: No such file or directory (os error 2)",
                missing.display()
            )
        )
    );

    // The key of another certificate.
    let other = Certificate::new(&scratch, "other");
    let out = serve_once(
        &[
            "--tls-cert".as_ref(),
            certificate.cert.as_os_str(),
            "--tls-key".as_ref(),
            other.key.as_os_str(),
        ],
        &[],
    );
    let expected = format!(
        "palisade: {}: cannot serve TLS with this key and the certificate {}: ",
        other.key.display(),
        certificate.cert.display()
    );
    assert!(
        last_line(&out).starts_with(&expected),
        "{}",
        last_line(&out)
    );

    // A key where the certificate belongs.
    let out = serve_once(
        &[
            "--tls-cert".as_ref(),
            certificate.key.as_os_str(),
            "--tls-key".as_ref(),
            certificate.key.as_os_str(),
        ],
        &[],
    );
    assert_eq!(
        last_line(&out),
        format!(
            "palisade: {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            certificate.key.display()
        )
    );

    // A certificate without its key is a usage error.
    let out = serve_once(&["--tls-cert".as_ref(), certificate.cert.as_os_str()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--tls-key <FILE.pem>"),
        "{}",
        stderr(&out)
    );
}

/// `palisade serve` with `args` that make it stop at start; its output.
fn serve_once(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Output {
    Command::new(palisade_binary())
        .args(["serve", "--in-memory", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .expect("the palisade binary runs")
}

fn last_line(out: &Output) -> String {
    stderr(out).lines().last().unwrap_or_default().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// psql 15 with one connection string (first of `args`), no psqlrc, unaligned tuples only;
/// `None` (with a notice) when psql is not installed outside CI.
fn psql(args: &[&str], password: Option<&str>) -> Option<Output> {
    let mut command = Command::new("psql");
    command
        .args(["-X", "-A", "-t", "-d"])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE")
        .env_remove("PGCHANNELBINDING");
    if let Some(p) = password {
        command.env("PGPASSWORD", p);
    }
    match tokio::task::block_in_place(|| command.output()) {
        Ok(output) => Some(output),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            eprintln!("skipped: psql is not installed");
            None
        }
        Err(e) => panic!("running psql: {e}"),
    }
}

fn assert_no_statement_ran(answers: &[Message]) {
    let tags: String = answers.iter().map(|m| m.tag as char).collect();
    assert!(
        tags.chars().all(|t| matches!(t, 'R' | 'E' | 'Z')),
        "only authentication, errors and ReadyForQuery may come back: {tags}"
    );
}

/// A SCRAM server-first message's attribute, e.g. `r=` → the nonce.
fn field(message: &str, key: &str) -> String {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {message}"))
        .to_string()
}

/// The Postgres protocol at the byte level over plain TCP.
struct Raw {
    stream: TcpStream,
}

/// One backend message: its type byte and body.
struct Message {
    tag: u8,
    body: Vec<u8>,
}

impl Message {
    /// The mechanisms of an AuthenticationSASL message.
    fn mechanisms(&self) -> Vec<String> {
        assert_eq!(
            (self.tag, self.auth_code()),
            (b'R', 10),
            "AuthenticationSASL"
        );
        self.body[4..]
            .split(|&b| b == 0)
            .filter(|m| !m.is_empty())
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    fn auth_code(&self) -> i32 {
        i32::from_be_bytes(self.body[..4].try_into().expect("four bytes"))
    }

    /// An ErrorResponse's fields, in order.
    fn error(&self) -> Vec<(char, String)> {
        assert_eq!(self.tag, b'E', "ErrorResponse");
        self.body
            .split(|&b| b == 0)
            .filter(|f| !f.is_empty())
            .map(|f| (f[0] as char, String::from_utf8_lossy(&f[1..]).into_owned()))
            .collect()
    }
}

impl Raw {
    async fn connect(server: &ServerProcess) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", server.port()))
            .await
            .expect("the server accepts TCP connections");
        Raw { stream }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// The next message; None at the end of the stream.
    async fn next(&mut self) -> Option<Message> {
        let mut header = [0u8; 5];
        // Bounded, so a server that hangs fails the test instead of stalling it.
        match tokio::time::timeout(Duration::from_secs(30), self.stream.read_exact(&mut header))
            .await
            .expect("the server answers within 30 s")
        {
            Ok(_) => {}
            Err(_) => return None,
        }
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let mut body = vec![0u8; usize::try_from(len - 4).expect("a sane length")];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(Message {
            tag: header[0],
            body,
        })
    }

    async fn read(&mut self) -> Message {
        self.next().await.expect("a message, not the end")
    }

    /// Every message until the server closes the connection.
    async fn read_to_end(&mut self) -> Vec<Message> {
        let mut all = Vec::new();
        while let Some(m) = self.next().await {
            all.push(m);
        }
        all
    }

    /// Starts a SCRAM-SHA-256 login as `user` and returns the server-first message.
    async fn scram_first(&mut self, user: &str) -> String {
        self.send(&startup(user)).await;
        assert_eq!(self.read().await.mechanisms(), ["SCRAM-SHA-256"]);
        self.send(&sasl_initial("SCRAM-SHA-256", "n,,n=,r=rawclientnonce"))
            .await;
        let reply = self.read().await;
        assert_eq!((reply.tag, reply.auth_code()), (b'R', 11), "SASLContinue");
        String::from_utf8_lossy(&reply.body[4..]).into_owned()
    }
}

/// A frontend message: type byte, then length (counting itself) and body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend(i32::try_from(body.len() + 4).expect("small").to_be_bytes());
    m.extend(body);
    m
}

fn startup(user: &str) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    body.extend(format!("user\0{user}\0database\0dev\0\0").as_bytes());
    let mut m = i32::try_from(body.len() + 4)
        .expect("small")
        .to_be_bytes()
        .to_vec();
    m.extend(body);
    m
}

fn sasl_initial(mechanism: &str, data: &str) -> Vec<u8> {
    let mut body = format!("{mechanism}\0").into_bytes();
    body.extend(i32::try_from(data.len()).expect("small").to_be_bytes());
    body.extend(data.as_bytes());
    message(b'p', &body)
}

fn sasl_response(data: &str) -> Vec<u8> {
    message(b'p', data.as_bytes())
}

fn query(sql: &str) -> Vec<u8> {
    message(b'Q', format!("{sql}\0").as_bytes())
}
