//! The HTTP side of the harness: defining the account, concurrent pushes of
//! prepared bodies, admin actions, report calls and the activity-log cursor scan.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::data::{Body, Dataset};
use crate::stream::{Bodies, Progress};
use crate::Throughput;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
    /// Where `push_all`'s clients send (client i to `push_bases[i % len]`);
    /// every other request goes to `base`.
    push_bases: Vec<String>,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_string(),
            key: key.to_string(),
            push_bases: vec![base.to_string()],
        }
    }

    /// The same API, with `push_all` spreading its clients over `bases`
    /// (server processes on one database).
    pub fn pushing_through(mut self, bases: &[String]) -> Api {
        if !bases.is_empty() {
            self.push_bases = bases.to_vec();
        }
        self
    }

    /// Sends a request; the raw body of a successful answer.
    async fn fetch(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Vec<u8>> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            bail!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body.into())
    }

    /// Sends a request; its JSON answer (`Null` when it has none).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Value> {
        let body = self.fetch(method, path, body).await?;
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        self.send(method, path, Some(serde_json::to_vec(body)?))
            .await
    }

    pub(crate) fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.json(reqwest::Method::POST, path, body).await
    }

    /// Lifts the account's rate limit so that the harness measures the server, not the limiter.
    pub async fn unlimit(&self) -> anyhow::Result<()> {
        self.json(
            reqwest::Method::PATCH,
            "/admin/v1/settings",
            &json!({"rateLimit": {"perSecond": 1_000_000, "burst": 1_000_000}}),
        )
        .await
        .map(|_| ())
    }

    /// Replaces the account's privacy policy (SPEC §11).
    pub async fn privacy(&self, policy: serde_json::Value) -> anyhow::Result<()> {
        self.json(reqwest::Method::PUT, "/admin/v1/privacy", &policy)
            .await
            .map(|_| ())
    }

    /// Defines the apps, pushes the org chart and the provisioned users; returns the app ids.
    pub async fn define(&self, data: &Dataset) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        for app in data.app_definitions() {
            let created = self
                .json(
                    reqwest::Method::POST,
                    "/services/push/v1/customer/apps",
                    &app,
                )
                .await?;
            ids.push(created["appId"].as_str().context("no appId")?.to_string());
        }
        let snapshot = self
            .json(
                reqwest::Method::POST,
                "/services/push/v1/customer/org-chart",
                &json!({"orgChartName": "bench"}),
            )
            .await?;
        let id = snapshot["id"].clone();
        let id = id
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| id.to_string());
        let pages = data.org_chart_pages();
        let last = pages.len().saturating_sub(1);
        for (i, users) in pages.into_iter().enumerate() {
            self.json(
                reqwest::Method::PUT,
                &format!("/services/push/v1/customer/org-chart/{id}"),
                &json!({"hasMore": i < last, "users": users}),
            )
            .await?;
        }
        for (app, users) in data.provisioned_user_pages(&ids) {
            self.json(
                reqwest::Method::POST,
                &format!("/services/push/v1/customer/apps/{app}/users"),
                &json!({"provisionedUsers": users}),
            )
            .await?;
        }
        Ok(ids)
    }

    /// POSTs every body with `clients` concurrent clients; sums `field` of the
    /// answers, noting when each answer came (for the rate of the first and
    /// last tenth).
    pub async fn push_all(
        &self,
        bodies: &Arc<Bodies<Body>>,
        clients: usize,
        field: &'static str,
    ) -> anyhow::Result<(u64, Progress)> {
        let progress = Arc::new(Progress::start());
        let mut tasks = Vec::new();
        for i in 0..clients.max(1) {
            let (mut api, bodies, progress) =
                (self.clone(), Arc::clone(bodies), Arc::clone(&progress));
            api.base = self.push_bases[i % self.push_bases.len()].clone();
            tasks.push(tokio::spawn(async move {
                let mut total = 0u64;
                while let Some(body) = bodies.next().await {
                    let answer = api
                        .send(reqwest::Method::POST, &body.path, Some(body.bytes()))
                        .await?;
                    let items = answer[field].as_u64().unwrap_or(0);
                    progress.ack(items);
                    total += items;
                }
                Ok::<u64, anyhow::Error>(total)
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await??;
        }
        let progress = Arc::try_unwrap(progress)
            .map_err(|_| anyhow::anyhow!("a push client outlived the push"))?;
        Ok((total, progress))
    }

    /// POSTs one body; the items its answer acknowledges (accepted and duplicates).
    pub(crate) async fn push_one(&self, body: &Body) -> anyhow::Result<u64> {
        let answer = self
            .send(reqwest::Method::POST, &body.path, Some(body.bytes()))
            .await?;
        Ok(answer["accepted"].as_u64().unwrap_or(0) + answer["duplicates"].as_u64().unwrap_or(0))
    }

    /// A viewer limited to one group and two apps (issue 18 #1): maps every
    /// other tracked login to an employee (so the group holds people of the org
    /// chart), makes a group of the first half of the logins, adds a viewer
    /// web user with that group and the first two apps, and returns the group
    /// id and the viewer's API key.
    pub async fn viewer(&self, data: &Dataset, app_ids: &[String]) -> anyhow::Result<(i64, Api)> {
        let clients = self
            .send(reqwest::Method::GET, "/admin/v1/clients", None)
            .await?;
        let ids: Vec<i64> = clients["clients"]
            .as_array()
            .context("no clients")?
            .iter()
            .filter_map(|c| c["id"].as_i64())
            .collect();
        if ids.is_empty() {
            bail!("the account has no tracked logins to group");
        }
        let members = &ids[..ids.len().div_ceil(2)];
        for (i, id) in ids.iter().enumerate().step_by(2) {
            self.json(
                reqwest::Method::PATCH,
                &format!("/admin/v1/clients/{id}"),
                &json!({"email": data.employee_email(i * data.employees() / ids.len())}),
            )
            .await?;
        }
        let group = self
            .json(
                reqwest::Method::POST,
                "/admin/v1/groups",
                &json!({"name": "bench viewers", "clients": members}),
            )
            .await?;
        let group = group["id"].as_i64().context("no group id")?;
        let consumer = self
            .json(
                reqwest::Method::POST,
                "/admin/v1/consumers",
                &json!({"email": "viewer@bench.example", "name": "Bench Viewer", "role": "viewer",
                        "password": "bench viewer password", "viewableGroups": [group],
                        "allowedApps": app_ids.iter().take(2).collect::<Vec<_>>()}),
            )
            .await?;
        let consumer = consumer["id"].as_i64().context("no consumer id")?;
        let key = self
            .json(
                reqwest::Method::POST,
                "/admin/v1/credentials",
                &json!({"type": "apiKey", "name": "bench viewer", "consumerId": consumer}),
            )
            .await?;
        let key = key["apiKey"].as_str().context("no viewer API key")?;
        Ok((group, Api::new(&self.base, key)))
    }

    /// `n` audited admin actions from `clients` concurrent clients.
    pub async fn audit_actions(&self, n: usize, clients: usize) -> anyhow::Result<()> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..clients.max(1) {
            let (api, next) = (self.clone(), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<(), anyhow::Error>(());
                    }
                    api.json(
                        reqwest::Method::PATCH,
                        "/admin/v1/settings",
                        &json!({"usageRetentionDays": 700 + (i % 30)}),
                    )
                    .await?;
                }
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok(())
    }

    /// Follows the activity-log cursor from `start_date` until it finds nothing
    /// new (the server then returns the cursor it was sent), checking that log
    /// ids only ever increase (nothing repeated).
    ///
    /// Like a consumer that streams the log elsewhere, the scan asks for the
    /// next page as soon as it has the cursor (the body's last field) and hands
    /// each page, in order, to a checking thread that parses it in full; the
    /// scan waits for that thread only when it is [`CHECK_QUEUE`] pages behind.
    /// A page's parsed cursor must be the one the scan followed.
    pub async fn cursor_scan(&self, start_date: &str) -> anyhow::Result<Throughput> {
        let started = Instant::now();
        let (pages, mut queue) = tokio::sync::mpsc::channel::<Vec<u8>>(CHECK_QUEUE);
        let checker = std::thread::spawn(move || {
            let (mut records, mut last_id) = (0u64, 0i64);
            while let Some(body) = queue.blocking_recv() {
                records += PageIds::check(&body)?.follows(&mut last_id)?;
            }
            Ok::<u64, anyhow::Error>(records)
        });
        let mut path = format!("/reports/v2/activitylog?startDate={start_date}&pageSize=1000");
        let mut sent: Option<String> = None;
        loop {
            let body = self.get_bytes(&path).await?;
            let cursor = last_cursor(&body).context("activity log page without a cursor")?;
            if sent.as_deref() == Some(cursor.as_str()) {
                break;
            }
            if pages.send(body).await.is_err() {
                break; // the checker stopped at a bad page: its error follows
            }
            path = format!("/reports/v2/activitylog?cursor={cursor}&pageSize=1000");
            sent = Some(cursor);
        }
        drop(pages);
        let records = checker
            .join()
            .map_err(|_| anyhow::anyhow!("the page checker panicked"))??;
        Ok(Throughput::new(
            "activity log full cursor scan",
            records,
            started,
        ))
    }

    /// The raw body of a successful GET.
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        self.fetch(reqwest::Method::GET, path, None).await
    }
}

/// How many pages the cursor scan may run ahead of their checking (at most
/// about 4 MB of bodies waiting).
const CHECK_QUEUE: usize = 8;

/// The value of the last `"cursor"` field of an activity-log body, found from
/// its end without parsing the page.
fn last_cursor(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"cursor\":\"";
    let start = body.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    String::from_utf8(body[start..start + len].to_vec()).ok()
}

/// What the scan checks of a page: its log ids, increasing, and its cursor.
struct PageIds {
    /// The first and last ids (none for an empty first page).
    span: Option<(i64, i64)>,
    count: u64,
}

impl PageIds {
    /// Parses the whole page; its ids must increase and its cursor be the one
    /// [`last_cursor`] found.
    fn check(body: &[u8]) -> anyhow::Result<PageIds> {
        // The whole body is checked to be UTF-8 once, rather than key by key.
        let text = std::str::from_utf8(body).context("activity log page is not UTF-8")?;
        let page: LogPage<'_> = serde_json::from_str(text).context("activity log page")?;
        if Some(page.cursor) != last_cursor(body).as_deref() {
            bail!("the page's cursor is not its last field");
        }
        let ids: Vec<i64> = page.activity.iter().map(|r| r.log_id).collect();
        if let Some(w) = ids.windows(2).find(|w| w[1] <= w[0]) {
            bail!("log id {} came after {}", w[1], w[0]);
        }
        Ok(PageIds {
            span: ids.first().zip(ids.last()).map(|(&f, &l)| (f, l)),
            count: ids.len() as u64,
        })
    }

    /// This page's record count, once its ids are checked to follow `last_id`.
    fn follows(&self, last_id: &mut i64) -> anyhow::Result<u64> {
        if let Some((first, last)) = self.span {
            if first <= *last_id {
                bail!("log id {first} came after {last_id}");
            }
            *last_id = last;
        }
        Ok(self.count)
    }
}

/// What the scan reads of an activity-log page: the rows' ids and the cursor
/// (the other fields are parsed and skipped).
#[derive(Deserialize)]
struct LogPage<'a> {
    activity: Vec<LogRowId>,
    #[serde(borrow)]
    cursor: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogRowId {
    log_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_is_read_from_the_body_end_and_checked_against_the_parse() {
        let body = br#"{"success":true,"activity":[{"logId":3,"description":"\"cursor\":\"x"},{"logId":5}],"cursor":"v1.ab_c"}"#;
        assert_eq!(last_cursor(body).as_deref(), Some("v1.ab_c"));
        let ids = PageIds::check(body).unwrap();
        let mut last = 2;
        assert_eq!(ids.follows(&mut last).unwrap(), 2);
        assert_eq!(last, 5);
        assert!(ids.follows(&mut last).is_err(), "a repeated page is caught");
    }

    #[test]
    fn decreasing_ids_and_a_misplaced_cursor_fail_the_check() {
        let body = br#"{"activity":[{"logId":5},{"logId":4}],"cursor":"c"}"#;
        assert!(PageIds::check(body).is_err());
        let body = br#"{"cursor":"c","activity":[{"logId":1,"cursor":"d"}]}"#;
        assert!(PageIds::check(body).is_err());
        let empty = PageIds::check(br#"{"activity":[],"cursor":"c"}"#).unwrap();
        let mut last = 9;
        assert_eq!(empty.follows(&mut last).unwrap(), 0);
        assert_eq!(last, 9);
    }
}
