//! The startup phase: which database a client may open, the ParameterStatus it is told,
//! and registration for CancelRequest.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionManager, METADATA_APPLICATION_NAME, METADATA_DATABASE, METADATA_USER,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::errors::user_error;
use crate::server::ServerOptions;

/// What Palisade tells clients it is. psql chooses its catalog queries by the major
/// version, so it must be one psql 15 knows.
pub const SERVER_VERSION: &str = concat!("15.0 (Palisade ", env!("CARGO_PKG_VERSION"), ")");

pub struct Startup {
    pub options: Arc<ServerOptions>,
    pub connections: Arc<ConnectionManager>,
    pub keys: RandomPidSecretKeyGenerator,
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
        let PgWireFrontendMessage::Startup(ref startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        // Like Postgres, a client that names no database asks for the one named as its user.
        let user = client.metadata().get(METADATA_USER).cloned();
        let database = client
            .metadata()
            .get(METADATA_DATABASE)
            .or(user.as_ref())
            .cloned()
            .unwrap_or_default();
        if database != self.options.database {
            return Err(fatal(
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
        tracing::debug!(
            peer = %client.socket_addr(),
            user = user.as_deref().unwrap_or(""),
            application = client.metadata().get(METADATA_APPLICATION_NAME).map_or("", |s| s.as_str()),
            "session started"
        );
        finish_authentication(client, &Parameters).await
    }
}

fn fatal(code: &str, message: String) -> PgWireError {
    match user_error(code, message) {
        PgWireError::UserError(mut info) => {
            info.severity = "FATAL".into();
            PgWireError::UserError(info)
        }
        other => other,
    }
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
