//! The accept loop: one task per connection, so a slow or failing session never holds up
//! another, and a panic in one ends only that task.

use std::sync::Arc;
use std::time::Duration;

use palisade_engine::Database;
use tokio::net::TcpListener;

use crate::auth::Users;
use crate::handlers::Handlers;
use crate::tls::Tls;

/// What clients connect to, and how they prove who they are.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The one database name clients may open.
    pub database: String,
    /// The user named in help texts and the demo's psql command.
    pub user: String,
    /// Who may log in, with SCRAM-SHA-256. None: trust, any user name connects without a
    /// password, as on a laptop; the default, so local tools need no set-up.
    pub users: Option<Arc<Users>>,
    /// The certificate a client's SSLRequest is answered with. None: SSLRequest gets 'N' and
    /// clients go on in plaintext (or stop, with sslmode=require).
    pub tls: Option<Tls>,
    /// Refuse a client that did not start TLS (FATAL 28000), so passwords and rows never
    /// cross the network in plaintext. Needs `tls`.
    pub tls_required: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            database: "dev".into(),
            user: "root".into(),
            users: None,
            tls: None,
            tls_required: false,
        }
    }
}

/// Accepts connections on `listener` forever.
pub async fn serve(
    listener: TcpListener,
    db: Database,
    options: ServerOptions,
) -> std::io::Result<()> {
    let acceptor = options.tls.as_ref().map(|tls| tls.acceptor.clone());
    let handlers = Arc::new(Handlers::new(db, options));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let handlers = Arc::clone(&handlers);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            tracing::debug!(%peer, "connection opened");
            if let Err(e) = pgwire::tokio::process_socket(socket, acceptor, handlers).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
