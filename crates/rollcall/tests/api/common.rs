//! Test harness: start a server on port 0 over a fresh database, create accounts,
//! and a small typed client that returns (status, JSON body).
//!
//! The backend comes from the environment: with `ROLLCALL_TEST_DATABASE_URL` set
//! (a PostgreSQL URL whose user may create databases, as `scripts/with-postgres.sh`
//! sets it), every test server gets a new PostgreSQL database; otherwise a new
//! embedded database in a temporary directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use rollcall_server::setup::{init_account, InitCredentials};
use rollcall_server::{AppState, ServerConfig};
use rollcall_store::postgres::{PgOptions, PgStore};
use rollcall_store::sqlite::{DatabaseKey, SqliteStore};
use rollcall_store::Store;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The PostgreSQL server the suite runs against, if any.
/// The suite's PostgreSQL, for a test that needs it (such a test is
/// `#[ignore]`d with this reason and run by `scripts/test.sh` on PostgreSQL).
pub fn required_postgres_url() -> String {
    postgres_url().expect("needs PostgreSQL: run under scripts/with-postgres.sh with --run-ignored")
}

pub fn postgres_url() -> Option<String> {
    std::env::var("ROLLCALL_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let authority_end = head
        .find("://")
        .map(|i| i + 3 + head[i + 3..].find('/').unwrap_or(head.len() - i - 3))
        .unwrap_or(head.len());
    let mut out = format!("{}/{database}", &head[..authority_end]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Runs SQL on a PostgreSQL database (to set up or break things underneath a server).
pub async fn pg_execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await.expect("SQL");
    drop(client);
    let _ = task.await;
}

/// Where a test server keeps its data.
#[derive(Debug, Clone)]
pub enum TestDb {
    Sqlite(PathBuf),
    Postgres(String),
}

impl TestDb {
    /// A new, empty database of the suite's backend (`data_dir` is used for SQLite).
    pub async fn fresh(data_dir: PathBuf) -> TestDb {
        match postgres_url() {
            None => TestDb::Sqlite(data_dir),
            Some(url) => {
                let name = format!("rc_{}", rollcall_core::secret::random_hex(8));
                pg_execute(&url, &format!("CREATE DATABASE {name}")).await;
                TestDb::Postgres(with_database(&url, &name))
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres(_))
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            TestDb::Sqlite(dir) => {
                let key = DatabaseKey::resolve(None, dir).expect("key");
                Arc::new(SqliteStore::open(dir, key).await.expect("open store"))
            }
            TestDb::Postgres(url) => {
                let mut options = PgOptions::new(url.clone());
                options.pool_size = 8;
                Arc::new(PgStore::open(&options).await.expect("open store"))
            }
        }
    }

    /// The `rollcall` command-line flags that select this database.
    pub fn cli_args(&self) -> Vec<String> {
        match self {
            TestDb::Sqlite(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            TestDb::Postgres(url) => vec!["--database-url".into(), url.clone()],
        }
    }

    /// The first row of a query whose columns are all text.
    pub async fn query_text(&self, sql: &str) -> Vec<String> {
        match self {
            TestDb::Sqlite(dir) => {
                let conn = open_raw_sqlite(dir);
                let mut stmt = conn.prepare(sql).expect("SQL");
                let columns = stmt.column_count();
                stmt.query_row([], |r| (0..columns).map(|i| r.get(i)).collect())
                    .expect("a row")
            }
            TestDb::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to PostgreSQL");
                let task = tokio::spawn(connection);
                let row = client.query_one(sql, &[]).await.expect("a row");
                let values = (0..row.len()).map(|i| row.get(i)).collect();
                drop(client);
                let _ = task.await;
                values
            }
        }
    }

    /// Runs SQL directly on the database, bypassing the server.
    pub async fn execute(&self, sql: &str) {
        match self {
            TestDb::Sqlite(dir) => {
                let conn = open_raw_sqlite(dir);
                conn.execute_batch(sql).expect("SQL");
            }
            TestDb::Postgres(url) => pg_execute(url, sql).await,
        }
    }
}

/// Opens an embedded database directly with its key file.
pub fn open_raw_sqlite(data_dir: &std::path::Path) -> rusqlite::Connection {
    let key = std::fs::read_to_string(data_dir.join("rollcall.key")).expect("key file");
    let conn = rusqlite::Connection::open(data_dir.join("rollcall.db")).expect("open");
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA busy_timeout = 5000;",
        key.trim()
    ))
    .expect("key");
    conn
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub store: Arc<dyn Store>,
    pub db: TestDb,
    /// A temporary directory (the embedded database lives here).
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().to_path_buf();
        let mut server = Self::start_in(data_dir, config, None).await;
        server._dir = Some(dir);
        server
    }

    /// Starts on an existing data directory (the caller keeps it alive).
    pub async fn start_in(
        data_dir: PathBuf,
        config: ServerConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> TestServer {
        let db = TestDb::fresh(data_dir.clone()).await;
        let store = db.open().await;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let scheme = if tls.is_some() { "https" } else { "http" };
        // As `rollcall serve` does: links name the listen address unless told.
        let mut config = config;
        if config.public_url.is_none() {
            config.public_url = Some(format!("{scheme}://{addr}"));
        }
        let state = AppState::new(store.clone(), config);
        let task = tokio::spawn(rollcall_server::serve(state, listener, tls, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            base: format!("{scheme}://{addr}"),
            store,
            db,
            data_dir,
            _dir: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A new account with its superadmin's credentials.
    pub async fn account(&self) -> Account {
        let creds = init_account(self.store.as_ref(), None)
            .await
            .expect("init account");
        Account {
            client: Client::new(&self.base, &creds.api_key),
            creds,
            base: self.base.clone(),
        }
    }

    /// A client with an arbitrary bearer secret.
    pub fn client(&self, secret: &str) -> Client {
        Client::new(&self.base, secret)
    }

    /// Stops serving; the data directory stays until the server is dropped.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

pub struct Account {
    pub creds: InitCredentials,
    /// Authenticated with the superadmin's API key.
    pub client: Client,
    pub base: String,
}

impl Account {
    pub fn id(&self) -> i64 {
        self.creds.account_id
    }

    /// Creates a web user and an API key for it; returns (user id, client).
    pub async fn user_with_key(&self, role: &str, extra: Value) -> (i64, Client) {
        let email = format!(
            "{}-{}@example.com",
            role,
            rollcall_core::secret::random_hex(4)
        );
        let mut body = serde_json::json!({"email": email, "name": "Test User", "role": role});
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let (status, user) = self.client.post("/admin/v1/consumers", &body).await;
        assert_eq!(status, StatusCode::OK, "{user}");
        let id = user["id"].as_i64().unwrap();
        let (status, key) = self
            .client
            .post(
                "/admin/v1/credentials",
                &serde_json::json!({"type": "apiKey", "name": "test", "consumerId": id}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{key}");
        (id, Client::new(&self.base, key["apiKey"].as_str().unwrap()))
    }

    /// Sets the privacy policy's capture to `full` (a new account captures
    /// `domains`: no window titles), for tests about titles and URLs.
    pub async fn capture_everything(&self) {
        capture_everything_as(&self.client).await;
    }

    /// Patches the account settings and asserts success.
    pub async fn settings(&self, patch: Value) {
        let (status, body) = self.client.patch("/admin/v1/settings", &patch).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Lifts the account's rate limit out of the way of a test that sends
    /// as fast as it can.
    pub async fn unthrottle(&self) {
        unthrottle_as(&self.client).await;
    }
}

/// An HTTP client that authenticates with one bearer secret.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub secret: String,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
}

impl Client {
    pub fn new(base: &str, secret: &str) -> Client {
        Client {
            http: http_client(),
            base: base.to_string(),
            secret: secret.to_string(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.secret)
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = builder.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::GET, path)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::DELETE, path)).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.request(Method::POST, path).json(body)).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.request(Method::PUT, path).json(body)).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }
}

/// Asserts the spec's error body with `status`.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], expected.as_u16().to_string(), "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Spawns `command`, a `rollcall serve` on port 0 with its stderr piped, and waits
/// for the address it prints; the rest of its stderr is drained in the background.
pub async fn spawn_listening(
    mut command: tokio::process::Command,
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = stderr
            .next_line()
            .await
            .unwrap()
            .expect("the server exited before listening");
        if let Some(addr) = line.strip_prefix("rollcall listening on ") {
            break addr.to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    (child, base)
}

/// The python of the test virtual environment holding the real third-party
/// clients (Segment and RudderStack SDKs, aw-client, schemathesis, the
/// Prometheus parser), created by `scripts/python-venv.sh` on first use.
/// A test that needs it fails loudly when it cannot be made: those clients are
/// the point of such a test.
#[allow(dead_code)] // until the first client-compatibility test lands
pub fn python() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-venv.sh");
    let output = std::process::Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Lifts the rate limit of `admin`'s account out of the way of a test that
/// sends as fast as it can.
pub async fn unthrottle_as(admin: &Client) {
    let (status, body) = admin
        .patch(
            "/admin/v1/settings",
            &serde_json::json!({"rateLimit": {"perSecond": 1000000, "burst": 1000000}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Sets the capture policy of the account `admin` (a client with scope `admin`)
/// administers to `full`.
pub async fn capture_everything_as(admin: &Client) {
    let (status, body) = admin
        .put("/admin/v1/privacy", &serde_json::json!({"capture": "full"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The id of the workforce client or computer (`kind`: `clients` or
/// `computers`) named `name`.
pub async fn wf_id(c: &Client, kind: &str, name: &str) -> i64 {
    let (status, body) = c.get(&format!("/admin/v1/{kind}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body[kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name} in {body}"))["id"]
        .as_i64()
        .unwrap()
}

/// Follows the activity-log cursor until a page comes back empty once `done()`
/// has said the writers finished (one more pass after them picks up the rest):
/// the descriptions delivered, in order. An empty page returns the position it
/// was given.
pub async fn follow_log(
    c: &Client,
    cursor: &mut String,
    page_size: usize,
    done: impl Fn() -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut finished = false;
    loop {
        let (status, body) = c
            .get(&format!(
                "/reports/v2/activitylog?cursor={cursor}&pageSize={page_size}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["activity"].as_array().unwrap();
        seen.extend(
            page.iter()
                .map(|r| r["description"].as_str().unwrap().to_string()),
        );
        if page.is_empty() {
            assert_eq!(body["cursor"], cursor.as_str());
            if finished {
                break;
            }
            finished = done();
            tokio::task::yield_now().await;
        }
        *cursor = body["cursor"].as_str().unwrap().to_string();
    }
    seen
}

/// Pushes provisioned users of `app` as (appUserId, email, licence).
pub async fn provision(c: &Client, app: &str, users: &[(&str, &str, &str)]) {
    let users: Vec<Value> = users
        .iter()
        .map(|(id, email, license)| json!({"appUserId": id, "email": email, "license": license}))
        .collect();
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/users"),
            &json!({"provisionedUsers": users}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
