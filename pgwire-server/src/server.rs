//! The accept loop: one task per connection, so a slow or failing session never holds up
//! another, and a panic in one ends only that task.

use std::sync::Arc;
use std::time::Duration;

use palisade_engine::Database;
use tokio::net::TcpListener;

use crate::handlers::Handlers;

/// What clients connect to.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The one database name clients may open.
    pub database: String,
    /// The user named in help texts and the demo's psql command; any user may connect
    /// until authentication is configured.
    pub user: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            database: "dev".into(),
            user: "root".into(),
        }
    }
}

/// Accepts connections on `listener` forever.
pub async fn serve(
    listener: TcpListener,
    db: Database,
    options: ServerOptions,
) -> std::io::Result<()> {
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
        tokio::spawn(async move {
            tracing::debug!(%peer, "connection opened");
            if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
