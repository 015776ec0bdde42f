//! Test harness: start a server on port 0 over a fresh data directory, create
//! accounts, and a small typed client that returns (status, JSON body).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use rollcall_server::setup::{init_account, InitCredentials};
use rollcall_server::{AppState, ServerConfig};
use rollcall_store::sqlite::{DatabaseKey, SqliteStore};
use rollcall_store::Store;
use serde_json::Value;
use tokio::sync::oneshot;

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub store: Arc<SqliteStore>,
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
        let key = DatabaseKey::resolve(None, &data_dir).expect("key");
        let store = Arc::new(SqliteStore::open(&data_dir, key).await.expect("open store"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let state = AppState::new(store.clone() as Arc<dyn Store>, config);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(rollcall_server::serve(state, listener, tls, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            base: format!("{scheme}://{addr}"),
            store,
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

    /// Patches the account settings and asserts success.
    pub async fn settings(&self, patch: Value) {
        let (status, body) = self.client.patch("/admin/v1/settings", &patch).await;
        assert_eq!(status, StatusCode::OK, "{body}");
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
