//! Configuration (SPEC §12): the `--config` TOML file, `ROLLCALL_*` variables
//! and flags for the same setting, run as the real binary. Precedence: flag >
//! variable > file > default, shown for all three together and for each pair
//! on `listen` (each source names another loopback address, so the address the
//! server prints says which won). Unknown keys are refused by name; secrets
//! (database key, database password, TLS key) are never printed.

use std::process::Stdio;

use tokio::io::AsyncBufReadExt;

use crate::common::{spawn_listening, TestDb};

/// A `rollcall` command with no inherited setting of the ones these tests vary.
fn rollcall() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    for var in [
        "ROLLCALL_LISTEN",
        "ROLLCALL_CONFIG",
        "ROLLCALL_DB_KEY",
        "ROLLCALL_DATA_DIR",
    ] {
        command.env_remove(var);
    }
    command.env("RUST_LOG", "warn").stdout(Stdio::null());
    command
}

/// Starts `serve` with `listen` given by any of the file, the variable and the
/// flag, and returns the IP it listens on.
async fn listening_ip(file: Option<&str>, env: Option<&str>, flag: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().join("data")).await;
    let config = dir.path().join("rollcall.toml");
    let mut command = rollcall();
    command.arg("serve").args(db.cli_args());
    if let Some(ip) = file {
        std::fs::write(&config, format!("listen = \"{ip}:0\"\n")).unwrap();
        command.arg("--config").arg(&config);
    }
    if let Some(ip) = env {
        command.env("ROLLCALL_LISTEN", format!("{ip}:0"));
    }
    if let Some(ip) = flag {
        command.args(["--listen", &format!("{ip}:0")]);
    }
    let (mut child, base) = spawn_listening(command).await;
    child.kill().await.unwrap();
    let _ = child.wait().await;
    let host = base.trim_start_matches("http://");
    host.rsplit_once(':').unwrap().0.to_string()
}

const FILE: &str = "127.0.0.2";
const ENV: &str = "127.0.0.3";
const FLAG: &str = "127.0.0.4";

#[tokio::test]
async fn a_flag_beats_a_variable_and_the_file() {
    assert_eq!(listening_ip(Some(FILE), Some(ENV), Some(FLAG)).await, FLAG);
}

#[tokio::test]
async fn a_flag_beats_a_variable() {
    assert_eq!(listening_ip(None, Some(ENV), Some(FLAG)).await, FLAG);
}

#[tokio::test]
async fn a_flag_beats_the_file() {
    assert_eq!(listening_ip(Some(FILE), None, Some(FLAG)).await, FLAG);
}

#[tokio::test]
async fn a_variable_beats_the_file() {
    assert_eq!(listening_ip(Some(FILE), Some(ENV), None).await, ENV);
}

#[tokio::test]
async fn the_file_beats_the_default() {
    assert_eq!(listening_ip(Some(FILE), None, None).await, FILE);
}

#[tokio::test]
async fn an_unknown_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nmax-body-byte = 10\n").unwrap();
    let out = rollcall()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--data-dir", &dir.path().join("data").display().to_string()])
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown key 'max-body-byte'"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing may start on a bad file"
    );
}

/// The database settings of `db` as configuration-file lines.
fn database_lines(db: &TestDb) -> String {
    match db {
        TestDb::Sqlite(dir) => format!("data-dir = {:?}\n", dir.display().to_string()),
        TestDb::Postgres(url) => format!("database-url = {url:?}\n"),
    }
}

#[tokio::test]
async fn other_commands_take_the_database_from_the_file_and_skip_serve_settings() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().join("data")).await;
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "{}listen = \"127.0.0.1:0\"\nlog-format = \"json\"\n",
            database_lines(&db)
        ),
    )
    .unwrap();
    let out = rollcall()
        .args(["admin", "init", "--json", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let accounts = db
        .query_text("SELECT CAST(count(*) AS TEXT) FROM accounts")
        .await;
    assert_eq!(accounts, vec!["1".to_string()], "{creds}");
    if let TestDb::Sqlite(data) = &db {
        assert!(data.join("rollcall.db").is_file());
    }
}

/// The whole output of a `serve` child until it listens, then killed.
async fn output_until_listening(mut command: tokio::process::Command) -> String {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.kill_on_drop(true).spawn().unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    while let Some(line) = stderr.next_line().await.unwrap() {
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("rollcall listening on") {
            break;
        }
    }
    assert!(seen.contains("rollcall listening on"), "{seen}");
    child.kill().await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    seen.push_str(&String::from_utf8_lossy(&out.stdout));
    seen
}

#[tokio::test]
async fn secrets_from_the_file_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().join("data")).await;
    let key = "5ec7e7".repeat(10) + "abcd";
    let password = "pa55-w0rd-never-shown";
    let lines = match &db {
        TestDb::Sqlite(data) => format!(
            "data-dir = {:?}\ndb-key = \"{key}\"\n",
            data.display().to_string()
        ),
        // The test server trusts local connections, so a password is accepted and ignored.
        TestDb::Postgres(url) => {
            let with_password =
                url.replacen("://rollcall@", &format!("://rollcall:{password}@"), 1);
            assert_ne!(&with_password, url, "the test URL's shape changed: {url}");
            format!("database-url = {with_password:?}\n")
        }
    };
    // HTTPS from the file: the TLS key is a path, its contents never appear.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key_pem = cert.key_pair.serialize_pem();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "{lines}listen = \"127.0.0.1:0\"\ntls-cert = {:?}\ntls-key = {:?}\n",
            cert_path.display().to_string(),
            key_path.display().to_string()
        ),
    )
    .unwrap();
    let mut command = rollcall();
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "debug");
    let all = output_until_listening(command).await;
    assert!(all.contains("rollcall listening on https://"), "{all}");
    assert!(all.contains("serve settings"), "{all}");
    let key_body = key_pem.lines().nth(1).unwrap();
    assert!(!all.contains(key_body), "the TLS key was printed:\n{all}");
    assert!(all.contains("***"), "{all}");
    assert!(!all.contains(&key), "the database key was printed:\n{all}");
    assert!(
        !all.contains(password),
        "the database password was printed:\n{all}"
    );
    if let TestDb::Sqlite(data) = &db {
        // The key from the file is the one in use: no key file was made.
        assert!(!data.join("rollcall.key").exists());
    }
}
