//! Downloads stream (issue 15, "downloads stream instead of being built whole
//! in memory"): a CSV download's body is sent in chunks as its rows are
//! serialized, so it has no `Content-Length` and arrives chunked, with the same
//! bytes, headers and audit event as before.

use reqwest::{Method, StatusCode};
use rollcall_core::time;
use serde_json::Value;

use crate::common::{http_client, Client, TestServer};

const ORG_CSV: &str = "/services/push/v1/customer/org-chart/csv";
const HOUR: i64 = 3_600_000;

/// How many people the large org chart has.
const PEOPLE: usize = 20_000;

/// The header of the org-chart download with one custom field.
const HEADER: &str = "email,firstName,lastName,team,location,title,managerEmail,costCenter,additionalEmails,Division";

/// Person `i`'s row as uploaded (`email,firstName,lastName,team,title,Division`)
/// and as the download must write it, in the download's column order. Some
/// cells need quoting and some look like formulas, so the expectation covers
/// both rules of the writer.
fn person(i: usize) -> (String, String) {
    let email = format!("p{i:05}@corp.example");
    let first = format!("First{i}");
    let (last_in, last_out) = if i.is_multiple_of(7) {
        (format!("\"Smith, {i}\""), format!("\"Smith, {i}\""))
    } else {
        (format!("Last{i}"), format!("Last{i}"))
    };
    let team = format!("Team{}", i % 40);
    let (title_in, title_out) = if i.is_multiple_of(11) {
        (format!("=HYPERLINK({i})"), format!("'=HYPERLINK({i})"))
    } else {
        ("Engineer".to_string(), "Engineer".to_string())
    };
    let division = format!("Div{}", i % 3);
    let upload = format!("{email},{first},{last_in},{team},{title_in},{division}");
    let download = format!("{email},{first},{last_out},{team},,{title_out},,,,{division}");
    (upload, download)
}

async fn audit_events(c: &Client, kind: &str) -> Vec<Value> {
    let now = rollcall_store::now_ms();
    let (start, end) = (time::format_ms(now - HOUR), time::format_ms(now + HOUR));
    let (status, body) = c
        .get(&format!(
            "/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["eventType"] == kind)
        .map(|e| e["eventProperties"].clone())
        .collect()
}

fn assert_streamed_csv(response: &reqwest::Response, file_name: &str) {
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert!(
        headers.get("content-length").is_none(),
        "a streamed download has no length: {headers:?}"
    );
    assert_eq!(
        headers
            .get("transfer-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("chunked"),
        "{headers:?}"
    );
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.contains(file_name),
        "{disposition}"
    );
}

#[tokio::test]
async fn an_org_chart_of_20000_people_downloads_chunked_with_the_same_bytes() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let mut upload = String::from("email,firstName,lastName,team,title,Division\n");
    let mut expected = format!("{HEADER}\n");
    for i in 0..PEOPLE {
        let (up, down) = person(i);
        upload.push_str(&up);
        upload.push('\n');
        expected.push_str(&down);
        expected.push('\n');
    }
    let (status, body) = c
        .send(
            c.request(Method::POST, ORG_CSV)
                .header("content-type", "text/csv")
                .body(upload),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], PEOPLE, "{body}");

    let (status, body) = c.get("/services/push/v1/customer/org-chart").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["downloadUrl"].as_str().expect("link").to_string();
    let response = http_client().get(&url).send().await.expect("download");
    assert_streamed_csv(&response, "org-chart.csv");

    // The download is audited before its answer starts, not when the body ends.
    let events = audit_events(c, "DownloadedOrgData").await;
    assert_eq!(events.len(), 1, "{events:?}");

    // The chunked decoder hands each chunk over as it comes, never merged with
    // the next, so no piece may be larger than the server's ~32 KB chunk (plus
    // at most one row).
    let mut response = response;
    let (mut bytes, mut pieces, mut largest) = (Vec::new(), 0usize, 0usize);
    while let Some(piece) = response.chunk().await.expect("body") {
        pieces += 1;
        largest = largest.max(piece.len());
        bytes.extend_from_slice(&piece);
    }
    assert!(bytes.len() > 1_000_000, "{} bytes", bytes.len());
    assert!(largest <= 32 * 1024 + 200, "a piece of {largest} bytes");
    assert!(pieces >= bytes.len() / (33 * 1024), "{pieces} pieces");
    eprintln!(
        "org-chart download: {} bytes in {pieces} pieces, largest {largest}",
        bytes.len()
    );
    let text = std::str::from_utf8(&bytes).expect("utf-8");
    // Row by row first, so a difference names its line.
    for (n, (got, want)) in text.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "line {}", n + 1);
    }
    assert_eq!(text.lines().count(), PEOPLE + 1);
    assert_eq!(text, expected);
}

#[tokio::test]
async fn an_empty_download_streams_its_header_row() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    for (path, file_name, header) in [
        (
            "/services/push/v1/customer/spend/csv",
            "spend.csv",
            "signatureId,appId,created,amount,currency,type,vendor,identifier,name,category\n",
        ),
        (
            "/services/push/v1/customer/contracts/csv",
            "contracts.csv",
            "contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency\n",
        ),
    ] {
        let response = c.request(Method::GET, path).send().await.expect("download");
        assert_streamed_csv(&response, file_name);
        assert_eq!(response.text().await.expect("body"), header, "{path}");
    }
}

#[tokio::test]
async fn a_refused_download_is_a_plain_error_and_not_audited() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    // No org chart yet: a link cannot be had, and a junk link is refused whole.
    let response = http_client()
        .get(format!(
            "{}/services/push/v1/customer/org-chart/download?token=junk",
            server.base
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("content-length").is_some());
    let body: Value = response.json().await.expect("error body");
    assert_eq!(body["code"], "401", "{body}");
    assert!(audit_events(c, "DownloadedOrgData").await.is_empty());
    // An unknown key gets an error, never a CSV.
    let (status, _) = c.get("/services/push/v1/customer/spend/csv").await;
    assert_eq!(status, StatusCode::OK);
    let other = server.client("not-a-key");
    let (status, body) = other.get("/services/push/v1/customer/spend/csv").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}
