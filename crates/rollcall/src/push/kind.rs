//! What each kind of `rollcall push` sends where: the endpoint, its batch size,
//! the body around a batch, and how CSV cells are typed.

use serde_json::{json, Value};

use super::input::Typing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Usage events of one app (`--app`), 1,000 a request.
    Events,
    /// Provisioned users of one app (`--app`), upserted by appUserId, 1,000 a request.
    Users,
    /// The org chart: a new snapshot, 1,000 people a request, current when complete.
    OrgChart,
    /// Agent records (`computer`, `client`, `session` on each line), 5,000 a request.
    Activity,
    /// Spend records: with `--app` as finance records, else a spend CSV.
    Spend,
    /// Contracts CSV rows.
    Contracts,
}

const EVENTS: Typing = Typing {
    integers: &["timestamp"],
    numbers: &[],
    booleans: &[],
};
const PLAIN: Typing = Typing {
    integers: &[],
    numbers: &[],
    booleans: &[],
};
const ACTIVITY: Typing = Typing {
    integers: &["session", "duration", "idleOffsetSeconds"],
    numbers: &[],
    booleans: &["idle"],
};
const SPEND: Typing = Typing {
    integers: &["created"],
    numbers: &["amount"],
    booleans: &[],
};

/// A request to send: path, content type and body.
pub struct Request {
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub put: bool,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Events => "events",
            Kind::Users => "users",
            Kind::OrgChart => "org-chart",
            Kind::Activity => "activity",
            Kind::Spend => "spend",
            Kind::Contracts => "contracts",
        }
    }

    pub fn batch_size(self) -> usize {
        match self {
            Kind::Activity => 5_000,
            _ => 1_000,
        }
    }

    pub fn typing(self) -> &'static Typing {
        match self {
            Kind::Events => &EVENTS,
            Kind::Activity => &ACTIVITY,
            Kind::Spend => &SPEND,
            _ => &PLAIN,
        }
    }

    /// Whether items are raw CSV rows sent as a CSV upload (header + rows).
    pub fn csv_upload(self, app: Option<&str>) -> bool {
        matches!((self, app), (Kind::Contracts, _) | (Kind::Spend, None))
    }

    pub fn needs_app(self) -> bool {
        matches!(self, Kind::Events | Kind::Users)
    }

    /// The agent envelope an activity line belongs to (lines of one envelope batch together).
    pub fn envelope(self, item: &Value) -> Option<Value> {
        (self == Kind::Activity).then(|| {
            json!({"computer": item["computer"], "client": item["client"], "session": item["session"]})
        })
    }

    /// The request carrying `items`; `snapshot` is the org-chart snapshot id.
    pub fn request(
        self,
        app: Option<&str>,
        snapshot: Option<i64>,
        header: Option<&str>,
        items: &[Value],
    ) -> Request {
        let app_path = |tail: &str| {
            format!(
                "/services/push/v1/customer/apps/{}/{tail}",
                app.unwrap_or_default()
            )
        };
        let json_body = |path: String, body: Value, put: bool| Request {
            path,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            put,
        };
        if self.csv_upload(app) {
            let mut text = String::from(header.unwrap_or_default());
            for row in items {
                text.push('\n');
                text.push_str(row.as_str().unwrap_or_default());
            }
            text.push('\n');
            let what = if self == Kind::Spend {
                "spend"
            } else {
                "contracts"
            };
            return Request {
                path: format!("/services/push/v1/customer/{what}/csv"),
                content_type: "text/csv",
                body: text.into_bytes(),
                put: false,
            };
        }
        match self {
            Kind::Events => json_body(app_path("events"), json!({"events": items}), false),
            Kind::Users => json_body(app_path("users"), json!({"provisionedUsers": items}), false),
            Kind::Spend => json_body(app_path("finance"), json!({"records": items}), false),
            Kind::OrgChart => json_body(
                format!(
                    "/services/push/v1/customer/org-chart/{}",
                    snapshot.unwrap_or_default()
                ),
                json!({"hasMore": true, "users": items}),
                true,
            ),
            Kind::Activity | Kind::Contracts => {
                let first = items.first().cloned().unwrap_or_default();
                let records: Vec<Value> = items
                    .iter()
                    .map(|item| {
                        let mut r = item.clone();
                        if let Value::Object(m) = &mut r {
                            for k in ["computer", "client", "session", "sentAt"] {
                                m.remove(k);
                            }
                        }
                        r
                    })
                    .collect();
                json_body(
                    "/agent/v1/activity".into(),
                    json!({"computer": first["computer"], "client": first["client"],
                           "session": first["session"], "records": records}),
                    false,
                )
            }
        }
    }

    /// Where an error's `index` points in the batch: CSV uploads count file
    /// lines with the header as line 1.
    pub fn item_of_index(self, app: Option<&str>, index: u64) -> Option<usize> {
        if self.csv_upload(app) {
            index.checked_sub(2).map(|i| i as usize)
        } else {
            Some(index as usize)
        }
    }
}
