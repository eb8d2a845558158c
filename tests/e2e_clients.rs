//! End to end with the clients users bring: psql 15's and Grafana's exact catalog
//! statements replayed against the real binary, Grafana's dashboard panels after macro
//! expansion, Postgres drivers in four languages, and authentication. Each test starts its
//! own server.
//!
//! # Layout
//! - [`replay`]: the statements psql 15 and Grafana send, captured from the real clients,
//!   answered in Postgres' shape.
//! - [`grafana`]: `grafana/`'s dashboard panels, macros expanded as Grafana does, over the
//!   five views.
//! - [`drivers`]: tokio-postgres, psycopg 3, asyncpg and node-postgres reading every view.
//! - [`auth`]: passwords (SCRAM-SHA-256) and TLS.

#[path = "e2e_clients/auth.rs"]
mod auth;
#[path = "e2e_clients/drivers.rs"]
mod drivers;
#[path = "e2e_clients/grafana.rs"]
mod grafana;
#[path = "e2e_clients/replay.rs"]
mod replay;
