//! The startup phase: TLS-only and password checks (SCRAM-SHA-256, and SCRAM-SHA-256-PLUS
//! bound to the certificate over TLS), which database a client may open, the
//! ParameterStatus it is told, and registration for CancelRequest.
//!
//! Without users configured every client is trusted, as before authentication existed. With
//! users, a client is admitted only after its SCRAM proof checks out; any failure is FATAL
//! and closes the connection. Sessions carry an [`Admitted`] mark that the query handlers
//! check ([`ensure_admitted`]): pgwire answers a startup error by moving the connection to
//! ready-for-query before closing it, so a statement pipelined behind a failed login would
//! otherwise run.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::sasl::{SASLState, SCRAM_SHA_256_METHOD, SCRAM_SHA_256_PLUS_METHOD};
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionManager, METADATA_APPLICATION_NAME, METADATA_DATABASE, METADATA_USER,
    PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily, Startup as StartupMessage};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::auth::{SCRAM_ITERATIONS, Users};
use crate::errors::user_error;
use crate::server::ServerOptions;

/// What Palisade tells clients it is (the same as `SHOW server_version`). psql chooses its
/// catalog queries by the major version, so it must be one psql 15 knows.
pub use palisade_engine::session::SERVER_VERSION;

/// The only channel binding type PostgreSQL (and pgwire) implement.
const CHANNEL_BINDING: &[u8] = b"p=tls-server-end-point";

/// One per server; per-connection state lives in the connection's session extensions.
pub struct Startup {
    options: Arc<ServerOptions>,
    connections: Arc<ConnectionManager>,
    keys: RandomPidSecretKeyGenerator,
    /// SCRAM-SHA-256 over the configured users. None: trust, no password asked.
    scram: Option<ScramAuth>,
    /// The same, knowing the certificate, for TLS connections: it also offers
    /// SCRAM-SHA-256-PLUS. None without TLS, or when pgwire cannot hash the certificate's
    /// signature algorithm (then TLS clients get plain SCRAM-SHA-256).
    scram_plus: Option<ScramAuth>,
}

impl Startup {
    pub fn new(options: Arc<ServerOptions>, connections: Arc<ConnectionManager>) -> Startup {
        let scram = options.users.as_ref().map(scram_auth);
        let scram_plus = match (&options.users, &options.tls) {
            (Some(users), Some(tls)) => {
                let mut scram = scram_auth(users);
                match scram.configure_certificate(&tls.certificate_pem) {
                    Ok(()) => Some(scram),
                    Err(e) => {
                        tracing::warn!(
                            error = %e,
                            "SCRAM-SHA-256-PLUS (channel binding) is off for this certificate; \
                             TLS clients log in with SCRAM-SHA-256"
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        Startup {
            options,
            connections,
            keys: RandomPidSecretKeyGenerator::default(),
            scram,
            scram_plus,
        }
    }
}

fn scram_auth(users: &Arc<Users>) -> ScramAuth {
    let mut scram = ScramAuth::new(Arc::clone(users) as _);
    // Must match the rounds the secrets were computed with: the client repeats them.
    scram.set_iterations(SCRAM_ITERATIONS);
    scram
}

/// The mark of a session that passed startup; statements run only in such sessions.
struct Admitted;

/// Refuses a statement on a connection that did not pass startup (see the module doc).
pub fn ensure_admitted<C: ClientInfo>(client: &C) -> PgWireResult<()> {
    if client.session_extensions().get::<Admitted>().is_some() {
        Ok(())
    } else {
        Err(fatal(user_error(
            "28000",
            "this connection has not logged in; no statement runs on it",
        )))
    }
}

/// Where a connection's SCRAM exchange stands between its messages.
struct Exchange(Mutex<Step>);

enum Step {
    /// AuthenticationSASL sent, naming SCRAM-SHA-256-PLUS too when `plus_offered`.
    Offered { plus_offered: bool },
    /// server-first sent; pgwire's state holds the nonce and the proof to expect.
    ServerFirstSent(SASLState),
    /// Finished or failed: no further password message is accepted.
    Over,
}

impl Exchange {
    fn take(&self) -> Step {
        let mut step = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *step, Step::Over)
    }

    fn set(&self, next: Step) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                self.on_startup_message(client, startup).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                self.on_password_message(client, password).await
            }
            _ if matches!(
                client.state(),
                PgWireConnectionState::AuthenticationInProgress
            ) =>
            {
                Err(no_password(client))
            }
            _ => Ok(()),
        };
        result.map_err(|e| refusal(client, e))
    }
}

impl Startup {
    async fn on_startup_message<C>(
        &self,
        client: &mut C,
        startup: &StartupMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        if self.options.tls_required && !client.is_secure() {
            return Err(user_error(
                "28000",
                "this server accepts TLS connections only (connect with sslmode=require)",
            ));
        }
        if self.scram.is_none() {
            return self.admit(client).await;
        }
        let plus_offered = client.is_secure() && self.scram_plus.is_some();
        // PostgreSQL lists -PLUS first; libpq takes it whenever offered over TLS.
        let mut mechanisms = Vec::with_capacity(2);
        if plus_offered {
            mechanisms.push(SCRAM_SHA_256_PLUS_METHOD.to_string());
        }
        mechanisms.push(SCRAM_SHA_256_METHOD.to_string());
        client
            .session_extensions()
            .insert(Exchange(Mutex::new(Step::Offered { plus_offered })));
        client.set_state(PgWireConnectionState::AuthenticationInProgress);
        client
            .send(PgWireBackendMessage::Authentication(Authentication::SASL(
                mechanisms,
            )))
            .await?;
        Ok(())
    }

    async fn on_password_message<C>(
        &self,
        client: &mut C,
        message: PasswordMessageFamily,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(exchange) = client.session_extensions().get::<Exchange>() else {
            return Err(PgWireError::InvalidSASLState);
        };
        match exchange.take() {
            Step::Offered { plus_offered } => {
                let initial = message.into_sasl_initial_response()?;
                check_mechanism(&initial.auth_method, initial.data.as_deref(), plus_offered)?;
                let scram = if plus_offered {
                    &self.scram_plus
                } else {
                    &self.scram
                };
                let scram = scram.as_ref().ok_or(PgWireError::InvalidSASLState)?;
                let (reply, state) = scram
                    .process_scram_message(
                        client,
                        PasswordMessageFamily::SASLInitialResponse(initial),
                        &SASLState::ScramClientFirstReceived,
                    )
                    .await?;
                client
                    .send(PgWireBackendMessage::Authentication(reply))
                    .await?;
                exchange.set(Step::ServerFirstSent(state));
                Ok(())
            }
            Step::ServerFirstSent(state) => {
                // The proof is checked against the state alone; either ScramAuth will do.
                let scram = self.scram.as_ref().ok_or(PgWireError::InvalidSASLState)?;
                let (reply, _) = scram.process_scram_message(client, message, &state).await?;
                client
                    .feed(PgWireBackendMessage::Authentication(reply))
                    .await?;
                self.admit(client).await
            }
            Step::Over => Err(PgWireError::InvalidSASLState),
        }
    }

    /// The client is who it says (or trusted): check the database, register for
    /// CancelRequest, and open the session.
    async fn admit<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Like Postgres, a client that names no database asks for the one named as its user.
        let user = client.metadata().get(METADATA_USER).cloned();
        let database = client
            .metadata()
            .get(METADATA_DATABASE)
            .or(user.as_ref())
            .cloned()
            .unwrap_or_default();
        if database != self.options.database {
            return Err(user_error(
                "3D000",
                format!(
                    "database \"{database}\" does not exist (this server has \"{}\")",
                    self.options.database
                ),
            ));
        }
        let (pid, secret) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let (handle, guard) = self.connections.register(pid, secret);
        client.session_extensions().insert(handle);
        client.session_extensions().insert(guard);
        client.session_extensions().insert(Admitted);
        tracing::debug!(
            peer = %client.socket_addr(),
            user = user.as_deref().unwrap_or(""),
            application = client.metadata().get(METADATA_APPLICATION_NAME).map_or("", |s| s.as_str()),
            tls = client.is_secure(),
            password = self.scram.is_some(),
            "session started"
        );
        finish_authentication(client, &Parameters).await
    }
}

/// Refuses a SASL mechanism and channel-binding flag that do not fit what was offered; in
/// particular a client that supports channel binding but believes the server does not (flag
/// `y`) while it was offered: someone in between may have stripped it (RFC 5802 §6).
fn check_mechanism(mechanism: &str, data: Option<&[u8]>, plus_offered: bool) -> PgWireResult<()> {
    let flag = data
        .and_then(|d| d.split(|&b| b == b',').next())
        .unwrap_or_default();
    let violation = |message: &str| Err(user_error("08P01", message));
    match mechanism {
        SCRAM_SHA_256_PLUS_METHOD if !plus_offered => violation(
            "SCRAM-SHA-256-PLUS was not offered: it needs a TLS connection to a server with a \
             certificate",
        ),
        SCRAM_SHA_256_PLUS_METHOD if flag != CHANNEL_BINDING => {
            violation("SCRAM-SHA-256-PLUS needs the channel binding flag p=tls-server-end-point")
        }
        SCRAM_SHA_256_PLUS_METHOD => Ok(()),
        SCRAM_SHA_256_METHOD => match flag {
            b"n" => Ok(()),
            b"y" if !plus_offered => Ok(()),
            b"y" => violation(
                "SCRAM channel binding negotiation error: the client supports channel binding \
                 and thinks the server does not, but it was offered",
            ),
            _ => violation("SCRAM-SHA-256 was selected with channel binding data; use -PLUS"),
        },
        other => Err(PgWireError::UnsupportedSASLAuthMethod(other.to_string())),
    }
}

/// A client that answered the password request with something else.
fn no_password<C: ClientInfo>(client: &C) -> PgWireError {
    let mut info = ErrorInfo::new("ERROR".into(), "28P01".into(), password_failed(client));
    info.detail = Some("The client sent no password: another message came instead.".into());
    // FATAL, like every startup error, by refusal().
    PgWireError::UserError(Box::new(info))
}

fn password_failed<C: ClientInfo>(client: &C) -> String {
    let user = client
        .metadata()
        .get(METADATA_USER)
        .map_or("", String::as_str);
    format!("password authentication failed for user \"{user}\"")
}

/// Any error at startup as a FATAL one, which pgwire answers by closing the connection (a
/// non-fatal one would leave it open). A wrong password is reported for the user of the
/// startup packet, as PostgreSQL does; pgwire names SCRAM's user, which clients leave empty.
fn refusal<C: ClientInfo>(client: &C, error: PgWireError) -> PgWireError {
    let error = match error {
        PgWireError::InvalidPassword(_) => user_error("28P01", password_failed(client)),
        other => other,
    };
    let error = fatal(error);
    if let PgWireError::UserError(info) = &error {
        if info.code.starts_with("28") {
            tracing::info!(
                peer = %client.socket_addr(),
                code = %info.code,
                "login refused: {}",
                info.message
            );
        } else {
            tracing::debug!(peer = %client.socket_addr(), code = %info.code, "startup failed: {}", info.message);
        }
    }
    error
}

fn fatal(error: PgWireError) -> PgWireError {
    let mut info = ErrorInfo::from(error);
    info.severity = "FATAL".into();
    // What PostgreSQL sends too; libpq reads it in preference to the localized severity.
    info.severity_nonlocalized = Some("FATAL".into());
    PgWireError::UserError(Box::new(info))
}

/// The ParameterStatus every session starts with.
struct Parameters;

impl ServerParameterProvider for Parameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let mut p: HashMap<String, String> = [
            ("server_version", SERVER_VERSION),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("IntervalStyle", "postgres"),
            ("TimeZone", "UTC"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("is_superuser", "on"),
            ("default_transaction_read_only", "off"),
            ("in_hot_standby", "off"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (key, param) in [
            (METADATA_USER, "session_authorization"),
            (METADATA_APPLICATION_NAME, "application_name"),
        ] {
            if let Some(v) = client.metadata().get(key) {
                p.insert(param.to_string(), v.clone());
            }
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: PgWireResult<()>) -> Option<String> {
        result.err().map(|e| ErrorInfo::from(e).code)
    }

    #[test]
    fn mechanism_and_binding_flag_must_match_the_offer() {
        let plain = SCRAM_SHA_256_METHOD;
        let plus = SCRAM_SHA_256_PLUS_METHOD;
        let first = |flag: &str| format!("{flag},,n=,r=abc").into_bytes();
        assert_eq!(code(check_mechanism(plain, Some(&first("n")), false)), None);
        assert_eq!(code(check_mechanism(plain, Some(&first("y")), false)), None);
        assert_eq!(code(check_mechanism(plain, Some(&first("n")), true)), None);
        let bound = first("p=tls-server-end-point");
        assert_eq!(code(check_mechanism(plus, Some(&bound), true)), None);
        // A downgrade: channel binding offered, the client believes it was not.
        assert_eq!(
            code(check_mechanism(plain, Some(&first("y")), true)),
            Some("08P01".into())
        );
        assert_eq!(
            code(check_mechanism(plus, Some(&bound), false)),
            Some("08P01".into())
        );
        assert_eq!(
            code(check_mechanism(plus, Some(&first("n")), true)),
            Some("08P01".into())
        );
        assert_eq!(
            code(check_mechanism(plain, Some(&bound), true)),
            Some("08P01".into())
        );
        assert_eq!(
            code(check_mechanism("MD5", Some(&first("n")), true)),
            Some("08P01".into())
        );
    }
}
