//! No input makes the server panic or answer without the spec's error body:
//! every endpoint gets random bodies, query strings and path ids.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::TestServer;

/// Every endpoint, with `{id}` where a path parameter goes.
const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/oauth2/token"),
    ("POST", "/ui/login"),
    ("GET", "/admin/v1/consumers"),
    ("POST", "/admin/v1/consumers"),
    ("GET", "/admin/v1/consumers/{id}"),
    ("PATCH", "/admin/v1/consumers/{id}"),
    ("DELETE", "/admin/v1/consumers/{id}"),
    ("GET", "/admin/v1/credentials"),
    ("POST", "/admin/v1/credentials"),
    ("DELETE", "/admin/v1/credentials/{id}"),
    ("GET", "/admin/v1/settings"),
    ("PATCH", "/admin/v1/settings"),
    ("GET", "/services/pull/v1/customer/audit-events"),
    ("GET", "/services/push/v1/customer/apps"),
    ("POST", "/services/push/v1/customer/apps"),
    ("GET", "/services/push/v1/customer/apps/{id}"),
    ("PUT", "/services/push/v1/customer/apps/{id}"),
    ("DELETE", "/services/push/v1/customer/apps/{id}"),
    ("POST", "/services/push/v1/customer/apps/{id}/disconnect"),
    ("POST", "/services/push/v1/customer/apps/{id}/events"),
    ("POST", "/services/push/v1/customer/apps/{id}/users"),
    ("GET", "/services/push/v1/customer/apps/{id}/users"),
    ("DELETE", "/services/push/v1/customer/apps/{id}/users"),
    ("POST", "/services/push/v1/customer/apps/{id}/finance"),
    ("POST", "/services/push/v1/customer/org-chart"),
    ("PUT", "/services/push/v1/customer/org-chart/{id}"),
    ("POST", "/services/push/v1/customer/org-chart/csv"),
    ("GET", "/services/push/v1/customer/org-chart"),
    ("POST", "/services/push/v1/customer/spend/csv"),
    ("GET", "/services/push/v1/customer/spend/csv"),
    ("POST", "/services/push/v1/customer/contracts/csv"),
    ("GET", "/services/push/v1/customer/contracts/csv"),
    ("POST", "/services/push/v1/customer/contracts/{id}/files"),
    ("GET", "/services/push/v1/customer/contracts/{id}/files"),
    ("GET", "/pull/v3/apps"),
    ("GET", "/pull/v2/apps/{id}"),
    ("GET", "/pull/v1/apps/{id}/users"),
    ("GET", "/pull/v1/apps/{id}/engagement"),
    ("GET", "/pull/v1/apps/{id}/inactive-users"),
    ("GET", "/pull/v1/apps/{id}/trend"),
    ("GET", "/pull/v1/apps/{id}/rightsizing"),
    ("POST", "/agent/v1/activity"),
    ("GET", "/admin/v1/clients"),
    ("PATCH", "/admin/v1/clients/{id}"),
    ("GET", "/admin/v1/computers"),
    ("PATCH", "/admin/v1/computers/{id}"),
    ("GET", "/admin/v1/groups"),
    ("POST", "/admin/v1/groups"),
    ("PATCH", "/admin/v1/groups/{id}"),
    ("DELETE", "/admin/v1/groups/{id}"),
    ("GET", "/admin/v1/classifications"),
    ("PUT", "/admin/v1/classifications"),
    ("GET", "/reports/v2/workinghours/users"),
    ("GET", "/reports/v2/workinghours/computers"),
    ("GET", "/reports/v2/activitylog"),
];

const WORDS: &[&str] = &[
    "",
    "0",
    "-1",
    "1",
    "99999999999999999999999",
    "1.5e308",
    "null",
    "true",
    "a@b.c",
    "2026-11-20",
    "2026-11-20T08:00:00Z",
    "2026-02-30",
    "ü∂ß😀",
    "%00",
    "../..",
    "' OR 1=1 --",
    "events",
    "users",
    "email",
    "timestamp",
    "eventName",
    "records",
    "start",
    "hasMore",
    "Login",
    "Produce",
    "viewer",
    "admin",
    "apiKey",
    "oauthClient",
    "Europe/Berlin",
];

fn word(rng: &mut StdRng) -> String {
    WORDS[rng.gen_range(0..WORDS.len())].to_string()
}

fn value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen::<i64>()),
        3 => json!(rng.gen::<f64>() * 1e12 - 5e11),
        4 => json!(word(rng)),
        5 | 6 => Value::Object(
            (0..rng.gen_range(0..6))
                .map(|_| (word(rng), value(rng, depth + 1)))
                .collect(),
        ),
        _ => Value::Array(
            (0..rng.gen_range(0..6))
                .map(|_| value(rng, depth + 1))
                .collect(),
        ),
    }
}

fn body(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..4) {
        0 => (0..rng.gen_range(0..64)).map(|_| rng.gen::<u8>()).collect(),
        1 => b"{\"events\": [".to_vec(),
        _ => serde_json::to_vec(&value(rng, 0)).unwrap(),
    }
}

fn query(rng: &mut StdRng) -> String {
    (0..rng.gen_range(0..4))
        .map(|_| {
            let keys = [
                "startTime",
                "endTime",
                "pageToken",
                "from",
                "to",
                "pageSize",
                "page",
                "userId",
                "groupId",
                "computerId",
                "cursor",
                "rollingWindow",
                "asOfDate",
                "by",
                "group",
                "population",
                "after",
                "x",
            ];
            let key = keys[rng.gen_range(0..keys.len())];
            format!("{key}={}", urlencode(&word(rng)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn random_input_never_panics_and_always_gets_the_error_body() {
    let server = TestServer::start().await;
    let account = server.account().await;
    account.unthrottle().await;
    let mut rng = StdRng::seed_from_u64(20261123);
    let client = &account.client;
    for round in 0..6 {
        for (method, path) in ENDPOINTS {
            let id = match round % 3 {
                0 => "1".to_string(),
                1 => urlencode(&word(&mut rng)),
                _ => "not-an-id".to_string(),
            };
            let mut url = path.replace("{id}", if id.is_empty() { "x" } else { &id });
            let q = query(&mut rng);
            if !q.is_empty() {
                url = format!("{url}?{q}");
            }
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = client.request(method.clone(), &url);
            if method != Method::GET {
                request = request
                    .header("content-type", "application/json")
                    .body(body(&mut rng));
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(
                status != StatusCode::INTERNAL_SERVER_ERROR,
                "{method} {url} → 500: {text}"
            );
            if status.is_client_error() || status.is_server_error() {
                let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                    panic!("{method} {url} → {status} without a JSON body: {text}")
                });
                assert_eq!(body["success"], false, "{method} {url}: {body}");
                assert_eq!(
                    body["code"],
                    status.as_u16().to_string(),
                    "{method} {url}: {body}"
                );
                assert!(body["message"].is_string(), "{method} {url}: {body}");
            }
        }
    }
    // The server is still healthy afterwards.
    assert_eq!(client.get("/readyz").await.0, StatusCode::OK);
}
