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

/// How to reach the database. `Debug` hides the URL's password.
#[derive(Clone)]
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

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// A database URL with its password replaced by `***`: the `user:password@`
/// of a URL, or `password=` of a libpq key=value string.
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                return format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &rest[..colon],
                    &rest[at..]
                );
            }
        }
        // A password may also come as a query parameter.
        return redact_pairs(url, '&');
    }
    redact_pairs(url, ' ')
}

/// `password=…` in `separator`-separated pairs replaced by `password=***`.
fn redact_pairs(text: &str, separator: char) -> String {
    let (head, pairs) = match separator {
        '&' => match text.split_once('?') {
            Some((head, query)) => (format!("{head}?"), query),
            None => return text.to_string(),
        },
        _ => (String::new(), text),
    };
    let redacted: Vec<String> = pairs
        .split(separator)
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.trim().eq_ignore_ascii_case("password") => {
                format!("{key}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{head}{}", redacted.join(&separator.to_string()))
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

/// libpq's default, `sslmode=prefer`, falls back to plain text when the server
/// offers no TLS, so anyone on the path can read the data and the password. Off
/// this machine, TLS is required unless `sslmode=disable` is written explicitly.
fn require_tls_off_loopback(config: &mut tokio_postgres::Config) {
    use tokio_postgres::config::{Host, SslMode};
    let local = |h: &Host| match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    };
    let addrs_local = config.get_hostaddrs().iter().all(|ip| ip.is_loopback());
    let hosts_local = config.get_hosts().iter().all(local);
    if config.get_ssl_mode() == SslMode::Prefer && !(hosts_local && addrs_local) {
        config.ssl_mode(SslMode::Require);
    }
}

/// A pool of connections; none is opened until the first checkout.
pub(super) fn pool(options: &PgOptions) -> StoreResult<Pool> {
    let mut config = tokio_postgres::Config::from_str(&options.url)
        .map_err(|e| StoreError::Unavailable(format!("bad database URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    require_tls_off_loopback(&mut config);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::config::SslMode;

    fn mode(url: &str) -> SslMode {
        let mut config = tokio_postgres::Config::from_str(url).unwrap();
        require_tls_off_loopback(&mut config);
        config.get_ssl_mode()
    }

    #[test]
    fn tls_is_required_off_loopback_unless_disabled_explicitly() {
        assert_eq!(mode("postgres://u@db.example.com/x"), SslMode::Require);
        assert_eq!(
            mode("postgres://u@10.0.0.5/x?sslmode=prefer"),
            SslMode::Require
        );
        assert_eq!(
            mode("postgres://u@db.example.com/x?sslmode=disable"),
            SslMode::Disable
        );
        assert_eq!(mode("postgres://u@localhost/x"), SslMode::Prefer);
        assert_eq!(mode("postgres://u@127.0.0.1:5433/x"), SslMode::Prefer);
        assert_eq!(mode("postgres://u@[::1]/x"), SslMode::Prefer);
        assert_eq!(mode("host=/run/postgresql dbname=x"), SslMode::Prefer);
        // One remote host among several is enough to require TLS.
        assert_eq!(
            mode("host=localhost,db.example.com dbname=x"),
            SslMode::Require
        );
    }

    #[test]
    fn debug_and_redaction_never_show_the_password() {
        let options =
            PgOptions::new("postgres://app:s3cr%21t@db.example.com:5433/rc?sslmode=require");
        let shown = format!("{options:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db.example.com:5433/rc?sslmode=require"),
            "{shown}"
        );
        assert_eq!(
            redact_url("host=db user=app password=hunter2 dbname=rc"),
            "host=db user=app password=*** dbname=rc"
        );
        assert_eq!(
            redact_url("postgres://db/rc?user=app&password=hunter2"),
            "postgres://db/rc?user=app&password=***"
        );
        assert_eq!(redact_url("postgres://app@db/rc"), "postgres://app@db/rc");
    }
}
