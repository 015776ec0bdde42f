//! The synthetic account: employees in teams, apps with events in feature groups,
//! usage events and activity records with a realistic skew (some people busy,
//! some idle, some never), all generated from a fixed seed and serialised into
//! request bodies before any timing starts.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};

const DAY_MS: i64 = 24 * 3600 * 1000;
pub(crate) const EVENTS_PER_REQUEST: usize = 1000;
pub(crate) const RECORDS_PER_REQUEST: usize = 5000;
const ZONES: [&str; 4] = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"];
const APPLICATIONS: [(&str, Option<&str>); 8] = [
    ("outlook.exe", None),
    ("excel.exe", None),
    ("code.exe", None),
    ("slack.exe", None),
    ("chrome.exe", Some("https://docs.example.com/page")),
    ("chrome.exe", Some("https://www.youtube.com/watch")),
    ("chrome.exe", Some("https://crm.corp.example/accounts")),
    ("steam.exe", None),
];

/// How big the synthetic account is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    pub employees: usize,
    pub teams: usize,
    pub apps: usize,
    pub events_per_app: usize,
    pub groups_per_app: usize,
    pub usage_events: usize,
    pub usage_days: i64,
    pub computers: usize,
    pub activity_records: usize,
    pub activity_days: i64,
    pub audit_events: usize,
}

impl Scale {
    /// The default scale: 10M usage events, 5M activity records.
    pub fn full() -> Scale {
        Scale {
            employees: 10_000,
            teams: 25,
            apps: 20,
            events_per_app: 10,
            groups_per_app: 3,
            usage_events: 10_000_000,
            usage_days: 90,
            computers: 500,
            activity_records: 5_000_000,
            activity_days: 30,
            audit_events: 5_000,
        }
    }

    /// Every count multiplied by `factor` (teams, apps and events stay).
    pub fn scaled(factor: f64) -> Scale {
        let full = Scale::full();
        let by = |n: usize| ((n as f64 * factor).round() as usize).max(1);
        Scale {
            employees: by(full.employees),
            usage_events: by(full.usage_events),
            computers: by(full.computers),
            activity_records: by(full.activity_records),
            audit_events: by(full.audit_events),
            ..full
        }
    }
}

/// One request: agent bodies get their `sentAt` stamped when sent.
#[derive(Clone)]
pub struct Body {
    pub path: String,
    stamp_sent_at: bool,
    bytes: Vec<u8>,
}

impl Body {
    pub fn bytes(&self) -> Vec<u8> {
        if !self.stamp_sent_at {
            return self.bytes.clone();
        }
        let now = jiff::Timestamp::now();
        let mut out = format!("{{\"sentAt\":\"{now:.0}\",").into_bytes();
        out.extend_from_slice(&self.bytes[1..]);
        out
    }
}

pub struct Dataset {
    scale: Scale,
    now_ms: i64,
    /// Activity weight of each employee (0 = never uses anything).
    weights: Vec<u32>,
    pub usage_events: usize,
    pub activity_records: usize,
}

fn email(i: usize) -> String {
    format!("employee{i}@bench.example")
}

/// Who asks a report question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// The account's superadmin.
    Admin,
    /// A viewer limited to one group and two apps.
    Viewer,
}

/// A report question: its name in the table, its path and who asks it.
pub struct Question {
    pub name: String,
    pub path: String,
    pub asker: Asker,
}

impl Dataset {
    pub fn generate(scale: &Scale) -> Dataset {
        let mut rng = StdRng::seed_from_u64(42);
        let weights = (0..scale.employees)
            .map(|_| match rng.gen_range(0..100) {
                0..15 => 0,                // never
                15..40 => 1,               // light
                _ => rng.gen_range(2..20), // busy, skewed
            })
            .collect();
        Dataset {
            scale: scale.clone(),
            now_ms: jiff::Timestamp::now().as_millisecond(),
            weights,
            usage_events: scale.usage_events,
            activity_records: scale.activity_records,
        }
    }

    pub(crate) fn team(&self, i: usize) -> String {
        format!("Team {:02}", i % self.scale.teams)
    }

    pub fn app_definitions(&self) -> Vec<Value> {
        (0..self.scale.apps)
            .map(|a| {
                let events: Vec<Value> = (0..self.scale.events_per_app)
                    .map(|e| {
                        json!({
                            "eventName": format!("event-{e}"),
                            "description": format!("synthetic event {e}"),
                            "eventType": if e % 2 == 0 { "Produce" } else { "Consume" },
                            "groups": [self.event_group(e)],
                            "minLicenseTier": if e < self.scale.events_per_app / 2 { "Basic" } else { "Pro" },
                        })
                    })
                    .collect();
                json!({
                    "name": format!("Bench App {a}"),
                    "category": "Benchmark",
                    "description": "synthetic app",
                    "sso": false,
                    "events": events,
                    "licenseTiers": [
                        {"name": "Basic", "tier": 0, "features": [], "annualCost": 120.0, "currency": "USD"},
                        {"name": "Pro", "tier": 1, "features": [], "annualCost": 360.0, "currency": "USD"},
                    ],
                })
            })
            .collect()
    }

    pub fn org_chart_pages(&self) -> Vec<Vec<Value>> {
        let users: Vec<Value> = (0..self.scale.employees)
            .map(|i| {
                json!({
                    "email": email(i),
                    "firstName": format!("First{i}"),
                    "lastName": format!("Last{i}"),
                    "team": self.team(i),
                    "location": ZONES[i % ZONES.len()],
                    "title": if i % 10 == 0 { "Manager" } else { "Engineer" },
                    "managerEmail": email(i - i % 10),
                    "costCenter": format!("CC{}", i % 7),
                })
            })
            .collect();
        users.chunks(1000).map(<[Value]>::to_vec).collect()
    }

    /// Each app is held by 60% of the employees, a third of them on the higher tier.
    /// (Made app by app as they are taken: at 10× scale all apps' pages are
    /// over a million JSON values.)
    pub fn provisioned_user_pages<'a>(
        &'a self,
        app_ids: &'a [String],
    ) -> impl Iterator<Item = (String, Vec<Value>)> + 'a {
        let mut rng = StdRng::seed_from_u64(7);
        app_ids.iter().flat_map(move |app| {
            let users: Vec<Value> = (0..self.scale.employees)
                .filter(|_| rng.gen_bool(0.6))
                .map(|i| {
                    json!({
                        "appUserId": format!("u{i}"),
                        "email": email(i),
                        "username": format!("user{i}"),
                        "license": if i % 3 == 0 { "Pro" } else { "Basic" },
                    })
                })
                .collect();
            let mut pages = Vec::new();
            let mut users = users.into_iter().peekable();
            while users.peek().is_some() {
                pages.push((app.clone(), users.by_ref().take(1000).collect()));
            }
            pages
        })
    }

    /// The employees' cumulative activity weights (to pick an employee with
    /// one draw and a binary search).
    fn cumulative_weights(&self) -> Arc<Vec<u64>> {
        Arc::new(
            self.weights
                .iter()
                .scan(0u64, |acc, w| {
                    *acc += u64::from(*w);
                    Some(*acc)
                })
                .collect(),
        )
    }

    /// Usage events by app, in time order within each app, in batches of 1,000,
    /// generated as they are taken (nothing held but the batch being made).
    pub fn usage_bodies(&self, app_ids: &[String]) -> impl Iterator<Item = Body> + Send + 'static {
        let events = UsageEvents::new(self, app_ids.len());
        let paths = app_paths(app_ids);
        events.map(move |(app, batch)| usage_body(&paths[app], &batch))
    }

    /// Fresh usage events, without end: each batch of 1,000 for an app picked
    /// with the same skew as [`Dataset::usage_bodies`], stamped within the
    /// minute before it is made (for ingest beside reports, issue 18 #2).
    pub fn live_usage_bodies(
        &self,
        app_ids: &[String],
    ) -> impl Iterator<Item = Body> + Send + 'static {
        let mut rng = StdRng::seed_from_u64(3);
        let cumulative = self.cumulative_weights();
        let apps = app_share(app_ids.len());
        let paths = app_paths(app_ids);
        let (employees, kinds) = (self.scale.employees, self.scale.events_per_app);
        std::iter::repeat(()).map(move |()| {
            let now = jiff::Timestamp::now().as_millisecond();
            let app = pick(&mut rng, &apps);
            let mut batch: Vec<UsageEvent> = (0..EVENTS_PER_REQUEST)
                .map(|_| UsageEvent {
                    ts: now - rng.gen_range(0..60_000),
                    employee: pick(&mut rng, &cumulative).min(employees - 1),
                    event: rng.gen_range(0..kinds),
                })
                .collect();
            batch.sort_unstable_by_key(|e| e.ts);
            usage_body(&paths[app], &batch)
        })
    }

    /// Each usage event as a CSV row `app,timestamp_ms,email,event`, after a
    /// header (the same events as [`Dataset::usage_bodies`], for comparing
    /// with other engines).
    pub fn write_usage_csv(
        &self,
        app_ids: &[String],
        out: &mut impl std::io::Write,
    ) -> std::io::Result<u64> {
        writeln!(out, "app,timestamp_ms,email,event")?;
        let mut rows = 0;
        for (app, batch) in UsageEvents::new(self, app_ids.len()) {
            for e in &batch {
                writeln!(
                    out,
                    "{},{},{},event-{}",
                    app_ids[app],
                    e.ts,
                    email(e.employee),
                    e.event
                )?;
            }
            rows += batch.len() as u64;
        }
        Ok(rows)
    }

    /// Foreground-window records of `computers`: each computer's working days,
    /// interval after interval, in agent session `session` (another session is
    /// another set of records for the same computers and days), 5,000 a body,
    /// generated as they are taken.
    pub fn activity_bodies(
        &self,
        session: i64,
        computers: std::ops::Range<usize>,
    ) -> impl Iterator<Item = Body> + Send + 'static {
        let per_computer = self.activity_records / self.scale.computers.max(1);
        let days = self.scale.activity_days.max(1);
        let now_ms = self.now_ms;
        computers.flat_map(move |c| {
            // Each computer has its own seed, so any range of computers is
            // generated alike.
            let mut rng = StdRng::seed_from_u64((2 << 32) | c as u64);
            let per_day = per_computer.div_ceil(days as usize).max(1);
            // Foreground windows do not overlap: each record fits in its slot.
            let slot_ms = (10 * 3600 * 1000 / per_day as i64).max(6_000);
            let starts: Vec<usize> = (0..per_computer).step_by(RECORDS_PER_REQUEST).collect();
            starts.into_iter().map(move |first| {
                let records: Vec<Value> = (first..per_computer.min(first + RECORDS_PER_REQUEST))
                    .map(|i| {
                        let day = (i / per_day) as i64;
                        let day_start = now_ms - (days - day) * DAY_MS + 8 * 3600 * 1000;
                        let start = day_start + (i % per_day) as i64 * slot_ms;
                        let duration = rng.gen_range(5..(slot_ms / 1000).min(600));
                        activity_record(&mut rng, i, start, duration)
                    })
                    .collect();
                activity_body(c, session, &records)
            })
        })
    }

    /// Fresh activity records, without end (issue 18 #2): computer after
    /// computer, each body the computer's next 5,000 one-second records in
    /// agent session `session`, from a day ago onwards (a computer reaches the
    /// present after 86,400 records).
    pub fn live_activity_bodies(
        &self,
        session: i64,
    ) -> impl Iterator<Item = Body> + Send + 'static {
        let mut rng = StdRng::seed_from_u64(4);
        let computers = self.scale.computers.max(1);
        let from = jiff::Timestamp::now().as_millisecond() - DAY_MS;
        (0usize..).map(move |k| {
            let c = k % computers;
            let first = (k / computers) * RECORDS_PER_REQUEST;
            let records: Vec<Value> = (first..first + RECORDS_PER_REQUEST)
                .map(|i| activity_record(&mut rng, i, from + i as i64 * 1000, 1))
                .collect();
            activity_body(c, session, &records)
        })
    }

    fn date(&self, days_ago: i64) -> String {
        jiff::Timestamp::from_millisecond(self.now_ms - days_ago * DAY_MS)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
            .unwrap_or_default()
    }

    pub fn activity_log_start(&self) -> String {
        self.date(self.scale.activity_days + 1)
    }

    /// The reports to time, as (name, path).
    /// An employee's email (the org chart's and the usage events').
    pub fn employee_email(&self, i: usize) -> String {
        email(i % self.scale.employees.max(1))
    }

    pub fn employees(&self) -> usize {
        self.scale.employees
    }

    pub fn computers(&self) -> usize {
        self.scale.computers
    }

    /// The feature group of event `event` (each event is in one).
    pub(crate) fn event_group(&self, event: usize) -> String {
        format!("Group {}", event % self.scale.groups_per_app)
    }

    pub(crate) fn events_per_app(&self) -> usize {
        self.scale.events_per_app
    }

    /// Every report question of the table: the first round's, then every
    /// insight under every filter (issue 18 #1), `group` being a workforce group
    /// of the viewer's.
    pub fn report_queries(&self, app_ids: &[String], group: i64) -> Vec<Question> {
        let mut out: Vec<Question> = self
            .first_round_queries(app_ids)
            .into_iter()
            .map(|(name, path)| Question {
                name,
                path,
                asker: Asker::Admin,
            })
            .collect();
        let app = &app_ids[0];
        let (from, to) = (self.date(30), self.date(0));
        let mut ask = |name: &str, path: String, asker: Asker| {
            out.push(Question {
                name: name.to_string(),
                path,
                asker,
            })
        };
        let usage = format!("/pull/v1/apps/{app}");
        ask(
            "engagement by location, 30 days",
            format!("{usage}/engagement?rollingWindow=30&by=location"),
            Asker::Admin,
        );
        ask(
            "engagement by costCenter, provisioned, 30 d",
            format!("{usage}/engagement?rollingWindow=30&by=costCenter&population=provisioned"),
            Asker::Admin,
        );
        ask(
            "engagement by title, Group 1, 90 days",
            format!("{usage}/engagement?group=Group%201&rollingWindow=90&by=title"),
            Asker::Admin,
        );
        ask(
            "engagement by team, 30 days, viewer",
            format!("{usage}/engagement?group=Group%200&rollingWindow=30&by=team"),
            Asker::Viewer,
        );
        ask(
            "inactive users, Group 0, 30 days",
            format!("{usage}/inactive-users?group=Group%200&rollingWindow=30"),
            Asker::Admin,
        );
        ask(
            "inactive users, employees, 30 days",
            format!("{usage}/inactive-users?rollingWindow=30&population=employees"),
            Asker::Admin,
        );
        ask(
            "inactive users, Group 0, 30 days, viewer",
            format!("{usage}/inactive-users?group=Group%200&rollingWindow=30"),
            Asker::Viewer,
        );
        ask(
            "users page, viewer",
            format!("{usage}/users?rollingWindow=30"),
            Asker::Viewer,
        );
        ask("trend, 30 days", format!("{usage}/trend"), Asker::Admin);
        ask(
            "trend, Group 0, 90 days",
            format!(
                "{usage}/trend?group=Group%200&from={}&to={to}",
                self.date(89)
            ),
            Asker::Admin,
        );
        ask(
            "trend, 30 days, viewer",
            format!("{usage}/trend"),
            Asker::Viewer,
        );
        ask(
            "right-sizing, 90 days",
            format!("{usage}/rightsizing"),
            Asker::Admin,
        );
        ask(
            "right-sizing, 90 days, viewer",
            format!("{usage}/rightsizing"),
            Asker::Viewer,
        );
        ask(
            "app summaries, viewer",
            "/pull/v3/apps".into(),
            Asker::Viewer,
        );
        ask(
            "working hours users, a group, a month",
            format!(
                "/reports/v2/workinghours/users?from={from}&to={to}&pageSize=150&groupId={group}"
            ),
            Asker::Admin,
        );
        ask(
            "working hours users, a month, viewer",
            format!("/reports/v2/workinghours/users?from={from}&to={to}&pageSize=150"),
            Asker::Viewer,
        );
        ask(
            "working hours computers, a month, viewer",
            format!("/reports/v2/workinghours/computers?from={from}&to={to}&pageSize=150"),
            Asker::Viewer,
        );
        out
    }

    fn first_round_queries(&self, app_ids: &[String]) -> Vec<(String, String)> {
        let app = &app_ids[0];
        let mut q = Vec::new();
        for window in [7, 30, 90] {
            q.push((
                format!("engagement by team, {window} days"),
                format!(
                    "/pull/v1/apps/{app}/engagement?group=Group%200&rollingWindow={window}&by=team"
                ),
            ));
        }
        q.push((
            "inactive users, 30 days".into(),
            format!("/pull/v1/apps/{app}/inactive-users?rollingWindow=30"),
        ));
        q.push(("app summaries".into(), "/pull/v3/apps".into()));
        q.push(("app details".into(), format!("/pull/v2/apps/{app}")));
        q.push((
            "users export page".into(),
            format!("/pull/v1/apps/{app}/users?rollingWindow=30"),
        ));
        let (from, to) = (self.date(30), self.date(0));
        for view in ["users", "computers"] {
            q.push((
                format!("working hours {view}, a month, page of 150"),
                format!("/reports/v2/workinghours/{view}?from={from}&to={to}&pageSize=150"),
            ));
        }
        q.push((
            "activity log page of 1000".into(),
            format!(
                "/reports/v2/activitylog?startDate={}&endDate={to}&pageSize=1000",
                self.date(7)
            ),
        ));
        let start = jiff::Timestamp::from_millisecond(self.now_ms - DAY_MS)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let end = jiff::Timestamp::from_millisecond(self.now_ms + DAY_MS)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        q.push((
            "audit page of 500".into(),
            format!(
                "/services/pull/v1/customer/audit-events?startTime={start:.0}&endTime={end:.0}"
            ),
        ));
        q
    }
}

/// One usage event of the synthetic account.
struct UsageEvent {
    ts: i64,
    employee: usize,
    event: usize,
}

/// The synthetic usage events, app after app, each app's in time order, in
/// batches of [`EVENTS_PER_REQUEST`].
///
/// An app's timestamps are uniform over the usage days, and they come sorted
/// without being held: each is the next order statistic of the ones left
/// (`u' = 1 - (1 - u) * v^(1/left)`, `v` uniform), so memory stays one batch
/// whatever the scale.
struct UsageEvents {
    rng: StdRng,
    cumulative: Arc<Vec<u64>>,
    employees: usize,
    kinds: usize,
    start: i64,
    span: f64,
    /// Events of each app.
    counts: Vec<usize>,
    app: usize,
    /// Events of the current app made so far, and its last order statistic.
    made: usize,
    u: f64,
}

impl UsageEvents {
    fn new(data: &Dataset, apps: usize) -> UsageEvents {
        // Apps get a Zipf-like share of the events.
        let share = app_share(apps);
        let total = share.last().copied().unwrap_or(1).max(1);
        let mut before = 0;
        let mut counts: Vec<usize> = share
            .iter()
            .map(|&c| {
                let n = (data.usage_events as f64 * (c - before) as f64 / total as f64).round();
                before = c;
                n as usize
            })
            .collect();
        // The last app takes what rounding left, so the total is exact.
        let others: usize = counts.iter().rev().skip(1).sum();
        if let Some(last) = counts.last_mut() {
            *last = data.usage_events.saturating_sub(others);
        }
        let start = data.now_ms - data.scale.usage_days * DAY_MS;
        UsageEvents {
            rng: StdRng::seed_from_u64(1),
            cumulative: data.cumulative_weights(),
            employees: data.scale.employees,
            kinds: data.scale.events_per_app,
            start,
            span: (data.now_ms - 60_000 - start) as f64,
            counts,
            app: 0,
            made: 0,
            u: 0.0,
        }
    }
}

impl Iterator for UsageEvents {
    type Item = (usize, Vec<UsageEvent>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.made >= *self.counts.get(self.app)? {
            (self.app, self.made, self.u) = (self.app + 1, 0, 0.0);
        }
        let n = self.counts[self.app];
        let batch = (self.made..n.min(self.made + EVENTS_PER_REQUEST))
            .map(|k| {
                let v: f64 = self.rng.gen();
                self.u = 1.0 - (1.0 - self.u) * v.powf(1.0 / (n - k) as f64);
                let ts = self.start + (self.u * self.span) as i64;
                UsageEvent {
                    ts: ts.min(self.start + self.span as i64 - 1),
                    employee: pick(&mut self.rng, &self.cumulative).min(self.employees - 1),
                    event: self.rng.gen_range(0..self.kinds),
                }
            })
            .collect::<Vec<_>>();
        self.made += batch.len();
        Some((self.app, batch))
    }
}

/// Cumulative Zipf-like weights of `apps` apps (app `a` weighs `1/(a+1)`), scaled to integers.
fn app_share(apps: usize) -> Vec<u64> {
    (0..apps)
        .scan(0u64, |acc, a| {
            *acc += 1_000_000_000 / (a as u64 + 1);
            Some(*acc)
        })
        .collect()
}

/// An index picked with the weights whose running sums are `cumulative`.
fn pick(rng: &mut StdRng, cumulative: &[u64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0).max(1);
    let at = rng.gen_range(0..total);
    cumulative.partition_point(|c| *c <= at)
}

fn app_paths(app_ids: &[String]) -> Vec<String> {
    app_ids
        .iter()
        .map(|app| format!("/services/push/v1/customer/apps/{app}/events"))
        .collect()
}

/// A usage push body, written directly (no JSON tree: at 10× scale the
/// bodies are made while the server ingests).
fn usage_body(path: &str, batch: &[UsageEvent]) -> Body {
    use std::io::Write;
    let mut bytes = Vec::with_capacity(80 * batch.len() + 16);
    bytes.extend_from_slice(b"{\"events\":[");
    for (i, e) in batch.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(
            bytes,
            "{comma}{{\"email\":\"{}\",\"eventName\":\"event-{}\",\"timestamp\":{}}}",
            email(e.employee),
            e.event,
            e.ts
        );
    }
    bytes.extend_from_slice(b"]}");
    Body {
        path: path.to_string(),
        stamp_sent_at: false,
        bytes,
    }
}

/// Record `i` of a computer, starting at `start_ms`.
fn activity_record(rng: &mut StdRng, i: usize, start_ms: i64, duration: i64) -> Value {
    let (exe, url) = APPLICATIONS[rng.gen_range(0..APPLICATIONS.len())];
    let start = jiff::Timestamp::from_millisecond(start_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    json!({
        "start": format!("{start:.0}"),
        "duration": duration,
        "executable": exe,
        "description": format!("Window {}", i % 50),
        "url": url,
        "idle": rng.gen_bool(0.1),
    })
}

/// An agent's activity body for computer `c`.
fn activity_body(c: usize, session: i64, records: &[Value]) -> Body {
    let body = json!({
        "computer": {"name": format!("PC-{c:04}"), "primaryDomain": "bench", "os": "Windows 11",
                     "timeZone": ZONES[c % ZONES.len()], "privateIp": "10.0.0.1", "publicIp": "203.0.113.1"},
        "client": {"loginDomain": "BENCH", "name": format!("user{c}")},
        "session": session,
        "records": records,
    });
    Body {
        path: "/agent/v1/activity".to_string(),
        stamp_sent_at: true,
        bytes: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_events_come_in_time_order_per_app_and_add_up() {
        let scale = Scale::scaled(0.001);
        let data = Dataset::generate(&scale);
        let mut per_app = vec![0usize; scale.apps];
        let mut last = vec![i64::MIN; scale.apps];
        let end = data.now_ms - 60_000;
        for (app, batch) in UsageEvents::new(&data, scale.apps) {
            assert!(batch.len() <= EVENTS_PER_REQUEST && !batch.is_empty());
            for e in &batch {
                assert!(
                    e.ts >= last[app] && e.ts < end,
                    "{} after {}",
                    e.ts,
                    last[app]
                );
                last[app] = e.ts;
            }
            per_app[app] += batch.len();
        }
        let total: usize = per_app.iter().sum();
        assert_eq!(total, scale.usage_events);
        assert!(
            per_app[0] > 3 * per_app[19],
            "the first app is the busiest: {per_app:?}"
        );
        let mut csv = Vec::new();
        let rows = data
            .write_usage_csv(&vec!["a".to_string(); 20], &mut csv)
            .unwrap();
        assert_eq!(rows as usize, total);
    }

    #[test]
    fn bodies_are_valid_json() {
        let data = Dataset::generate(&Scale::scaled(0.0001));
        let apps: Vec<String> = (0..20).map(|a| format!("app{a}")).collect();
        let body = data.usage_bodies(&apps).next().unwrap();
        let parsed: Value = serde_json::from_slice(&body.bytes()).unwrap();
        assert!(parsed["events"][0]["timestamp"].is_i64(), "{parsed}");
        let live = data.live_activity_bodies(3).next().unwrap();
        let parsed: Value = serde_json::from_slice(&live.bytes()).unwrap();
        assert_eq!(
            parsed["records"].as_array().unwrap().len(),
            RECORDS_PER_REQUEST
        );
    }
}
