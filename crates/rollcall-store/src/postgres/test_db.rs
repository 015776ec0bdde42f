//! A fresh database for each store-level PostgreSQL test, on the server of
//! `ROLLCALL_TEST_DATABASE_URL` (`scripts/with-postgres.sh` sets it; the tests
//! that need it are `#[ignore]`d and `scripts/test.sh` runs them there).

use super::{PgOptions, PgStore};

/// Creates an empty database named after `prefix` and returns its options
/// (the schema comes when a store opens it).
pub(crate) async fn fresh_database(prefix: &str) -> PgOptions {
    let url = std::env::var("ROLLCALL_TEST_DATABASE_URL")
        .expect("ROLLCALL_TEST_DATABASE_URL: run under scripts/with-postgres.sh");
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let name = format!("{prefix}_{}", rollcall_core::secret::random_hex(8));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let (server, _) = base.rsplit_once('/').expect("URL with a database");
    PgOptions::new(format!("{server}/{name}?{query}"))
}

/// A store opened on a [`fresh_database`] named after `prefix`.
pub(crate) async fn fresh_store(prefix: &str) -> PgStore {
    PgStore::open(&fresh_database(prefix).await)
        .await
        .expect("open")
}
