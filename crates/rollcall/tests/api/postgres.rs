//! PostgreSQL operations: TLS to the database (`sslmode`, `--database-ca`),
//! `rollcall migrate`, and PostgreSQL restarting under a running server. Each test
//! makes a private cluster it may reconfigure, stop and start; they run when the
//! suite runs on PostgreSQL (`scripts/with-postgres.sh` exports `PG_BIN`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{required_postgres_url, Client, TestDb};
use crate::foundation::{admin_init, spawn_serve};

/// A private PostgreSQL cluster that a test may stop and start.
struct PrivateCluster {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

impl PrivateCluster {
    fn as_owner(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    /// A new cluster, started; `None` unless the suite runs on PostgreSQL.
    fn create() -> PrivateCluster {
        required_postgres_url();
        let bin = PathBuf::from(
            std::env::var("PG_BIN").expect("PG_BIN (set by scripts/with-postgres.sh)"),
        );
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            chown_postgres(dir.path());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = PrivateCluster { dir, port, bin };
        let out = cluster
            .as_owner("initdb")
            .args(["-U", "rollcall", "--auth=trust", "--no-sync", "-D"])
            .arg(cluster.data())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        cluster.start();
        cluster
    }

    /// Serves only TLS connections with `cert`/`key` (restarts the cluster).
    fn require_tls(&self, cert_pem: &str, key_pem: &str) {
        self.stop();
        let data = self.data();
        std::fs::write(data.join("server.crt"), cert_pem).unwrap();
        std::fs::write(data.join("server.key"), key_pem).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).unwrap();
        std::fs::set_permissions(
            data.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        if is_root() {
            chown_postgres(&data);
        }
        self.start();
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn start(&self) {
        let out = self
            .as_owner("pg_ctl")
            .args(["-w", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off",
                self.port,
                self.dir.path().display()
            ))
            .arg("start")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    fn stop(&self) {
        let out = self
            .as_owner("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.data())
            .arg("stop")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    fn url(&self, sslmode: &str) -> String {
        format!(
            "postgres://rollcall@127.0.0.1:{}/postgres?sslmode={sslmode}",
            self.port
        )
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self
            .as_owner("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
    }
}

fn chown_postgres(path: &Path) {
    let ok = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn requests_fail_with_503_while_postgresql_restarts_then_recover() {
    let pg = PrivateCluster::create();
    let db = TestDb::Postgres(pg.url("disable"));
    let creds = admin_init(&db);
    let node = spawn_serve(&db).await;
    let client = Client::new(&node.base, creds["apiKey"].as_str().unwrap());
    assert_eq!(client.get("/admin/v1/settings").await.0, StatusCode::OK);

    pg.stop();
    let (status, body) = client.get("/admin/v1/settings").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "503");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("database"), "{message}");
    assert_eq!(
        client.get("/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(client.get("/healthz").await.0, StatusCode::OK);

    pg.start();
    // The same process recovers by itself: connections are replaced on checkout.
    let mut recovered = false;
    for _ in 0..50 {
        let (status, _) = client.get("/admin/v1/settings").await;
        if status == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "the server did not recover after PostgreSQL restarted"
    );
    let (status, body) = client
        .patch("/admin/v1/settings", &json!({"timeZone": "Europe/Berlin"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(client.get("/readyz").await.0, StatusCode::OK);
}

fn rollcall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn migrate_and_serve_over_tls_verified_against_the_given_ca() {
    let pg = PrivateCluster::create();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    pg.require_tls(&cert.cert.pem(), &cert.key_pair.serialize_pem());
    let ca = pg.dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let ca = ca.to_str().unwrap();
    let url = pg.url("require");

    // `migrate` applies every migration once, then nothing.
    let out = rollcall(&["migrate", "--database-url", &url, "--database-ca", ca]);
    assert!(out.status.success(), "{out:?}");
    let all = format!(
        "applied {} migrations",
        rollcall_store::postgres::MIGRATION_COUNT
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&all),
        "{out:?}"
    );
    let out = rollcall(&["migrate", "--database-url", &url, "--database-ca", ca]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied 0 migrations"));

    // The server only accepts TLS; an account made over TLS works through the API.
    let out = rollcall(&[
        "admin",
        "init",
        "--json",
        "--database-url",
        &url,
        "--database-ca",
        ca,
    ]);
    assert!(out.status.success(), "{out:?}");
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(creds["accountId"], 1);

    // Without the CA the certificate is not trusted; without TLS the server refuses.
    let out = rollcall(&["migrate", "--database-url", &url]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = rollcall(&["migrate", "--database-url", &pg.url("disable")]);
    assert!(!out.status.success());
}
