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
const EVENTS_PER_REQUEST: usize = 1000;
const RECORDS_PER_REQUEST: usize = 5000;
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

/// One prepared request: agent bodies get their `sentAt` stamped when sent.
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

    fn team(&self, i: usize) -> String {
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
                            "groups": [format!("Group {}", e % self.scale.groups_per_app)],
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
    pub fn provisioned_user_pages(&self, app_ids: &[String]) -> Vec<(String, Vec<Value>)> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut pages = Vec::new();
        for app in app_ids {
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
            for chunk in users.chunks(1000) {
                pages.push((app.clone(), chunk.to_vec()));
            }
        }
        pages
    }

    /// Usage events by app, in time order within each app, in batches of 1,000.
    pub fn usage_bodies(&self, app_ids: &[String]) -> Arc<Vec<Body>> {
        let mut rng = StdRng::seed_from_u64(1);
        let cumulative: Vec<u64> = self
            .weights
            .iter()
            .scan(0u64, |acc, w| {
                *acc += u64::from(*w);
                Some(*acc)
            })
            .collect();
        let total_weight = cumulative.last().copied().unwrap_or(0).max(1);
        // Apps get a Zipf-like share of the events.
        let app_weights: Vec<f64> = (0..app_ids.len()).map(|a| 1.0 / (a as f64 + 1.0)).collect();
        let weight_sum: f64 = app_weights.iter().sum();
        let start = self.now_ms - self.scale.usage_days * DAY_MS;
        let mut bodies = Vec::new();
        for (a, app) in app_ids.iter().enumerate() {
            let n = (self.usage_events as f64 * app_weights[a] / weight_sum).round() as usize;
            let mut events: Vec<(i64, usize, usize)> = (0..n)
                .map(|_| {
                    let pick = rng.gen_range(0..total_weight);
                    let employee = cumulative.partition_point(|c| *c <= pick);
                    let ts = rng.gen_range(start..self.now_ms - 60_000);
                    (
                        ts,
                        employee.min(self.scale.employees - 1),
                        rng.gen_range(0..self.scale.events_per_app),
                    )
                })
                .collect();
            events.sort_unstable();
            for chunk in events.chunks(EVENTS_PER_REQUEST) {
                let events: Vec<Value> = chunk
                    .iter()
                    .map(|(ts, e, ev)| json!({"timestamp": ts, "email": email(*e), "eventName": format!("event-{ev}")}))
                    .collect();
                bodies.push(Body {
                    path: format!("/services/push/v1/customer/apps/{app}/events"),
                    stamp_sent_at: false,
                    bytes: serde_json::to_vec(&json!({"events": events})).unwrap_or_default(),
                });
            }
        }
        Arc::new(bodies)
    }

    /// Foreground-window records: each computer's working days, interval after
    /// interval, in agent session `session` (another session is another set of
    /// records for the same computers and days).
    pub fn activity_bodies(&self, session: i64) -> Arc<Vec<Body>> {
        let mut rng = StdRng::seed_from_u64(2);
        let per_computer = self.activity_records / self.scale.computers.max(1);
        let mut bodies = Vec::new();
        for c in 0..self.scale.computers {
            let mut records = Vec::with_capacity(per_computer);
            let days = self.scale.activity_days.max(1);
            let per_day = per_computer.div_ceil(days as usize).max(1);
            // Foreground windows do not overlap: each record fits in its slot.
            let slot_ms = (10 * 3600 * 1000 / per_day as i64).max(6_000);
            for i in 0..per_computer {
                let day = (i / per_day) as i64;
                let day_start = self.now_ms - (days - day) * DAY_MS + 8 * 3600 * 1000;
                let slot = (i % per_day) as i64;
                let start = day_start + slot * slot_ms;
                let (exe, url) = APPLICATIONS[rng.gen_range(0..APPLICATIONS.len())];
                let start =
                    jiff::Timestamp::from_millisecond(start).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                records.push(json!({
                    "start": format!("{start:.0}"),
                    "duration": rng.gen_range(5..(slot_ms / 1000).min(600)),
                    "executable": exe,
                    "description": format!("Window {}", i % 50),
                    "url": url,
                    "idle": rng.gen_bool(0.1),
                }));
            }
            for chunk in records.chunks(RECORDS_PER_REQUEST) {
                let body = json!({
                    "computer": {"name": format!("PC-{c:04}"), "primaryDomain": "bench", "os": "Windows 11",
                                 "timeZone": ZONES[c % ZONES.len()], "privateIp": "10.0.0.1", "publicIp": "203.0.113.1"},
                    "client": {"loginDomain": "BENCH", "name": format!("user{c}")},
                    "session": session,
                    "records": chunk,
                });
                bodies.push(Body {
                    path: "/agent/v1/activity".to_string(),
                    stamp_sent_at: true,
                    bytes: serde_json::to_vec(&body).unwrap_or_default(),
                });
            }
        }
        Arc::new(bodies)
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
