//! `POST /ui/login` against guessing (issue 15, Login): unknown emails cost a hash
//! verification like known ones, failures back off per email and per address with
//! a growing `Retry-After`, each failure is audited as `LoginFailed`, and
//! `X-Forwarded-For` is believed only from a `--trusted-proxy`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rollcall_core::time;
use rollcall_server::login_guard::LoginBackoff;
use rollcall_server::ServerConfig;
use serde_json::{json, Value};

use crate::common::{http_client, Account, TestServer};

const HOUR: i64 = 3_600_000;

/// One login try (optionally through a claimed `X-Forwarded-For`); returns the
/// status and `Retry-After`, if any.
async fn login(
    server: &TestServer,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, Option<u64>) {
    let mut request = http_client()
        .post(format!("{}/ui/login", server.base))
        .json(&json!({"email": email, "password": password}));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    let response = request.send().await.unwrap();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status(), retry)
}

fn backoff(free_per_email: u32, free_per_address: u32) -> LoginBackoff {
    LoginBackoff {
        free_per_email,
        free_per_address,
        ..LoginBackoff::default()
    }
}

async fn login_failures(account: &Account) -> Vec<Value> {
    let start = time::format_ms(rollcall_store::now_ms() - HOUR);
    let end = time::format_ms(rollcall_store::now_ms() + HOUR);
    let (status, body) = account
        .client
        .get(&format!(
            "/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["eventType"] == "LoginFailed")
        .cloned()
        .collect()
}

/// The `LoginFailed` events once `n` are there (they are written in the background).
async fn wait_for_failures(account: &Account, n: usize) -> Vec<Value> {
    for _ in 0..50 {
        let events = login_failures(account).await;
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    login_failures(account).await
}

#[tokio::test]
async fn an_unknown_email_takes_as_long_as_a_known_one() {
    let server = TestServer::start_with(ServerConfig {
        login_backoff: backoff(1_000, 1_000),
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    let known = account.creds.email.clone();
    // Warm up both paths (connections, statement caches).
    login(&server, &known, "wrong password!", None).await;
    login(&server, "nobody@nowhere.example", "wrong password!", None).await;
    // Medians, not means: on a loaded machine (the suite runs tests in
    // parallel on two cores) one stalled request moved a mean of eight past 2×.
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    let tries = 9;
    for i in 0..tries {
        let started = Instant::now();
        let (status, _) = login(&server, &known, "wrong password!", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        known_times.push(started.elapsed());
        let started = Instant::now();
        let (status, _) = login(
            &server,
            &format!("nobody{i}@nowhere.example"),
            "wrong password!",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        unknown_times.push(started.elapsed());
    }
    let median = |mut times: Vec<Duration>| {
        times.sort_unstable();
        times[times.len() / 2]
    };
    let (known_median, unknown_median) = (median(known_times), median(unknown_times));
    eprintln!("median login time: known email {known_median:?}, unknown email {unknown_median:?}");
    assert!(
        unknown_median * 2 >= known_median && known_median * 2 >= unknown_median,
        "known {known_median:?} vs unknown {unknown_median:?}"
    );
}

#[tokio::test]
async fn failed_logins_back_off_per_email_with_a_growing_retry_after() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let email = account.creds.email.clone();
    let password = account.creds.password.clone();
    for _ in 0..5 {
        assert_eq!(
            login(&server, &email, "guess", None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked: even the right password waits, and case does not dodge the lock.
    assert_eq!(
        login(&server, &email, &password, None).await,
        (StatusCode::TOO_MANY_REQUESTS, Some(1))
    );
    assert_eq!(
        login(&server, &email.to_uppercase(), "guess", None).await,
        (StatusCode::TOO_MANY_REQUESTS, Some(1))
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        login(&server, &email, "guess", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&server, &email, "guess", None).await,
        (StatusCode::TOO_MANY_REQUESTS, Some(2))
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        login(&server, &email, "guess", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, retry) = login(&server, &email, &password, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry, Some(4));
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    // The right password gets in and clears the count.
    assert_eq!(
        login(&server, &email, &password, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        login(&server, &email, "guess", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // An unknown email locks the same way (the lock tells nothing either).
    for _ in 0..5 {
        assert_eq!(
            login(&server, "ghost@nowhere.example", "guess", None)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&server, "ghost@nowhere.example", "guess", None).await,
        (StatusCode::TOO_MANY_REQUESTS, Some(1))
    );
}

#[tokio::test]
async fn a_failed_login_is_audited_with_the_email_and_address_but_no_password() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let email = account.creds.email.clone();
    let (status, _) = login(&server, &email.to_uppercase(), "Tr0ub4dor&3-secret", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let events = wait_for_failures(&account, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let props = &events[0]["eventProperties"];
    assert_eq!(props["email"], email.to_lowercase());
    assert_eq!(props["address"], "127.0.0.1");
    assert_eq!(events[0]["userId"], email);
    assert!(
        !events[0].to_string().contains("Tr0ub4dor"),
        "{}",
        events[0]
    );
    // A success records no failure; an unknown email has no account to record in.
    let (status, _) = login(&server, &email, &account.creds.password, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = login(&server, "ghost@nowhere.example", "x", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(login_failures(&account).await.len(), 1);
    // Another account sees nothing of it.
    let other = server.account().await;
    assert!(login_failures(&other).await.is_empty());
}

#[tokio::test]
async fn x_forwarded_for_names_the_address_only_behind_a_trusted_proxy() {
    // Behind a trusted proxy (the test client is 127.0.0.1): the header's address
    // is the one that backs off and is audited.
    let server = TestServer::start_with(ServerConfig {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        login_backoff: backoff(100, 3),
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    let known = account.creds.email.clone();
    let guesser = Some("203.0.113.5");
    assert_eq!(
        login(&server, &known, "guess", guesser).await.0,
        StatusCode::UNAUTHORIZED
    );
    for i in 0..2 {
        let email = format!("user{i}@corp.example");
        assert_eq!(
            login(&server, &email, "guess", guesser).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&server, "user9@corp.example", "guess", guesser).await,
        (StatusCode::TOO_MANY_REQUESTS, Some(1))
    );
    // A spoofed first hop does not help: the proxy appends the real address.
    assert_eq!(
        login(
            &server,
            "user9@corp.example",
            "guess",
            Some("198.51.100.1, 203.0.113.5")
        )
        .await
        .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Someone else behind the same proxy is not locked out.
    assert_eq!(
        login(
            &server,
            &known,
            &account.creds.password,
            Some("203.0.113.6")
        )
        .await
        .0,
        StatusCode::OK
    );
    let events = wait_for_failures(&account, 1).await;
    assert_eq!(events[0]["eventProperties"]["address"], "203.0.113.5");

    // Without a trusted proxy the header is ignored: every try counts against the
    // peer's own address, whatever address it claims.
    let server = TestServer::start_with(ServerConfig {
        login_backoff: backoff(100, 3),
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    for i in 0..3 {
        let claimed = format!("203.0.113.{}", 10 + i);
        assert_eq!(
            login(&server, &account.creds.email, "guess", Some(&claimed))
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(
            &server,
            &account.creds.email,
            &account.creds.password,
            Some("203.0.113.99")
        )
        .await,
        (StatusCode::TOO_MANY_REQUESTS, Some(1))
    );
    let events = wait_for_failures(&account, 3).await;
    assert!(events
        .iter()
        .all(|e| e["eventProperties"]["address"] == "127.0.0.1"));
}
