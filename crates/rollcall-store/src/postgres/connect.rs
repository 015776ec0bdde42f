//! Connecting to PostgreSQL: the URL (`sslmode` included), TLS with the system's
//! roots plus an optional CA file, and the pool.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::{StoreError, StoreResult};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/db?sslmode=require`, or a libpq
    /// key=value string.
    pub url: String,
    /// Most connections this process holds.
    pub pool_size: usize,
    /// A PEM file of CA certificates trusted for the server's TLS certificate,
    /// besides the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            pool_size: 16,
            ca_file: None,
        }
    }
}

fn tls(options: &PgOptions) -> StoreResult<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &options.ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot read CA file {}: {e}", path.display()))
            })?;
        for cert in certs {
            roots.add(cert).map_err(|e| {
                StoreError::Unavailable(format!("bad CA certificate in {}: {e}", path.display()))
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Internal(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A pool of connections; none is opened until the first checkout.
pub(super) fn pool(options: &PgOptions) -> StoreResult<Pool> {
    let mut config = tokio_postgres::Config::from_str(&options.url)
        .map_err(|e| StoreError::Unavailable(format!("bad database URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.application_name("rollcall");
    let manager = Manager::from_config(
        config,
        tls(options)?,
        ManagerConfig {
            // A connection the server closed is noticed by its connection task;
            // `Fast` then discards it at checkout.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(Duration::from_secs(10)),
            create: Some(Duration::from_secs(5)),
            recycle: Some(Duration::from_secs(5)),
        })
        .build()
        .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))
}
