//! The demo's connected apps (events, feature groups, licence tiers), who holds
//! a licence of each, and 90 days of usage with a weekly rhythm, holidays,
//! vacations, occasional users and dormant licences.

use jiff::civil::Weekday;
use rollcall_core::usage::{AppDefinition, EventDefinition, EventType, LicenseTier};

use super::calendar::Calendar;
use super::company::{Company, Person};
use super::rng::Rng;

pub struct EvSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: EventType,
    pub groups: &'static [&'static str],
    /// Index in the app's tiers of the lowest tier that may do this.
    pub min_tier: usize,
    pub weight: u32,
}

pub struct TierSpec {
    pub name: &'static str,
    pub cost: f64,
    pub features: &'static [&'static str],
}

pub struct AppSpec {
    pub name: &'static str,
    pub vendor: &'static str,
    pub category: &'static str,
    pub description: &'static str,
    pub sso: bool,
    pub events: &'static [EvSpec],
    pub tiers: &'static [TierSpec],
    /// (team, share of the team licensed, tier the team needs).
    pub audience: &'static [(&'static str, f64, usize)],
    /// Share of licences that go unused (half never used, half abandoned).
    pub dormant: f64,
    /// Share of users holding a higher tier than their work needs.
    pub over_licensed: f64,
    /// Scales how often an engaged user uses the app on a workday.
    pub rate: f64,
    /// Most events a user sends on an active day.
    pub max_events: u64,
}

const fn ev(
    name: &'static str,
    description: &'static str,
    kind: EventType,
    groups: &'static [&'static str],
    min_tier: usize,
    weight: u32,
) -> EvSpec {
    EvSpec {
        name,
        description,
        kind,
        groups,
        min_tier,
        weight,
    }
}

const fn tier(name: &'static str, cost: f64, features: &'static [&'static str]) -> TierSpec {
    TierSpec {
        name,
        cost,
        features,
    }
}

use EventType::{Admin, Consume, Login, Produce};

const ALL: &[(&str, f64, usize)] = &[
    ("Leadership", 1.0, 0),
    ("Engineering", 1.0, 0),
    ("Sales", 1.0, 0),
    ("Customer Success", 1.0, 0),
    ("Marketing", 1.0, 0),
    ("Product", 1.0, 0),
    ("Finance", 1.0, 0),
    ("People", 1.0, 0),
    ("IT", 1.0, 0),
];

pub const APPS: &[AppSpec] = &[
    AppSpec {
        name: "Mailwise",
        vendor: "Mailwise Inc.",
        category: "Communication",
        description: "Company email and calendars",
        sso: true,
        events: &[
            ev("login", "Signed in", Login, &["Logged In"], 0, 2),
            ev(
                "read",
                "Opened an email",
                Consume,
                &["Read an Email"],
                0,
                10,
            ),
            ev(
                "created",
                "Wrote a new email",
                Produce,
                &["Sent an Email"],
                0,
                3,
            ),
            ev(
                "replied",
                "Replied to an email",
                Produce,
                &["Sent an Email"],
                0,
                4,
            ),
            ev(
                "forwarded",
                "Forwarded an email",
                Produce,
                &["Sent an Email"],
                0,
                1,
            ),
            ev(
                "archive_searched",
                "Searched the long-term archive",
                Consume,
                &["Searched the Archive"],
                1,
                1,
            ),
        ],
        tiers: &[
            tier("Basic", 72.0, &["50 GB mailbox"]),
            tier("Business", 150.0, &["unlimited archive", "eDiscovery"]),
        ],
        audience: &[
            ("Leadership", 1.0, 1),
            ("Engineering", 1.0, 0),
            ("Sales", 1.0, 1),
            ("Customer Success", 1.0, 0),
            ("Marketing", 1.0, 0),
            ("Product", 1.0, 0),
            ("Finance", 1.0, 1),
            ("People", 1.0, 0),
            ("IT", 1.0, 0),
        ],
        dormant: 0.02,
        over_licensed: 0.2,
        rate: 1.0,
        max_events: 6,
    },
    AppSpec {
        name: "Chatter",
        vendor: "Chatter Technologies",
        category: "Communication",
        description: "Team chat, channels and huddles",
        sso: true,
        events: &[
            ev("login", "Signed in", Login, &["Logged In"], 0, 1),
            ev(
                "message_sent",
                "Posted a message",
                Produce,
                &["Messaged"],
                0,
                10,
            ),
            ev(
                "reaction_added",
                "Reacted to a message",
                Produce,
                &["Messaged"],
                0,
                4,
            ),
            ev(
                "file_shared",
                "Shared a file",
                Produce,
                &["Shared a File"],
                0,
                1,
            ),
            ev(
                "huddle_joined",
                "Joined a huddle",
                Consume,
                &["Joined a Huddle"],
                1,
                2,
            ),
        ],
        tiers: &[
            tier("Free", 0.0, &["90 days of history"]),
            tier("Pro", 87.0, &["huddles", "unlimited history"]),
        ],
        audience: &[
            ("Leadership", 1.0, 1),
            ("Engineering", 1.0, 1),
            ("Sales", 1.0, 1),
            ("Customer Success", 1.0, 1),
            ("Marketing", 1.0, 1),
            ("Product", 1.0, 1),
            ("Finance", 1.0, 0),
            ("People", 1.0, 0),
            ("IT", 1.0, 1),
        ],
        dormant: 0.03,
        over_licensed: 0.3,
        rate: 1.05,
        max_events: 8,
    },
    AppSpec {
        name: "DealFlow CRM",
        vendor: "DealFlow Ltd.",
        category: "Sales",
        description: "Accounts, opportunities and the sales pipeline",
        sso: true,
        events: &[
            ev("login", "Signed in", Login, &["Logged In"], 0, 1),
            ev(
                "deal_viewed",
                "Opened an opportunity",
                Consume,
                &["Viewed Deals"],
                0,
                6,
            ),
            ev(
                "report_run",
                "Ran a pipeline report",
                Consume,
                &["Ran Reports"],
                0,
                2,
            ),
            ev(
                "deal_updated",
                "Changed an opportunity",
                Produce,
                &["Updated Deals"],
                1,
                5,
            ),
            ev(
                "pipeline_configured",
                "Changed pipeline stages or fields",
                Admin,
                &["Administered"],
                2,
                1,
            ),
        ],
        tiers: &[
            tier("Viewer", 120.0, &["read-only"]),
            tier("Sales", 900.0, &["edit deals", "forecasting"]),
            tier("Admin", 1500.0, &["configuration"]),
        ],
        audience: &[
            ("Leadership", 1.0, 0),
            ("Sales", 1.0, 1),
            ("Customer Success", 0.9, 0),
            ("Marketing", 0.5, 0),
            ("Finance", 0.3, 0),
        ],
        dormant: 0.12,
        over_licensed: 0.25,
        rate: 0.9,
        max_events: 7,
    },
    AppSpec {
        name: "Sketchpad",
        vendor: "Sketchpad GmbH",
        category: "Design",
        description: "Interface design and prototyping",
        sso: false,
        events: &[
            ev(
                "file_opened",
                "Opened a design file",
                Consume,
                &["Viewed Designs"],
                0,
                5,
            ),
            ev(
                "comment_added",
                "Commented on a design",
                Produce,
                &["Reviewed Designs"],
                0,
                2,
            ),
            ev(
                "design_edited",
                "Edited a design",
                Produce,
                &["Designed"],
                1,
                4,
            ),
        ],
        tiers: &[
            tier("Viewer", 0.0, &["view and comment"]),
            tier("Editor", 540.0, &["edit", "prototypes"]),
        ],
        audience: &[
            ("Marketing", 1.0, 1),
            ("Product", 1.0, 1),
            ("Engineering", 0.4, 0),
            ("Leadership", 0.25, 0),
        ],
        dormant: 0.15,
        over_licensed: 0.35,
        rate: 0.7,
        max_events: 5,
    },
    AppSpec {
        name: "Wiki",
        vendor: "Pagewell",
        category: "Productivity",
        description: "The company handbook and team documentation",
        sso: true,
        events: &[
            ev("page_viewed", "Read a page", Consume, &["Read Docs"], 0, 8),
            ev(
                "page_edited",
                "Edited a page",
                Produce,
                &["Wrote Docs"],
                0,
                2,
            ),
            ev(
                "page_commented",
                "Commented on a page",
                Produce,
                &["Wrote Docs"],
                0,
                1,
            ),
        ],
        tiers: &[tier("Standard", 60.0, &["unlimited pages"])],
        audience: ALL,
        dormant: 0.08,
        over_licensed: 0.0,
        rate: 0.55,
        max_events: 4,
    },
    AppSpec {
        name: "Helpdesk",
        vendor: "Helpdesk Cloud",
        category: "Support",
        description: "Customer and internal support tickets",
        sso: true,
        events: &[
            ev(
                "ticket_viewed",
                "Opened a ticket",
                Consume,
                &["Worked Tickets"],
                0,
                6,
            ),
            ev(
                "ticket_replied",
                "Replied to a ticket",
                Produce,
                &["Answered Tickets"],
                1,
                5,
            ),
            ev(
                "ticket_closed",
                "Closed a ticket",
                Produce,
                &["Answered Tickets"],
                1,
                2,
            ),
            ev(
                "macro_edited",
                "Changed a reply macro",
                Admin,
                &["Administered"],
                1,
                1,
            ),
        ],
        tiers: &[
            tier("Light", 120.0, &["view tickets", "internal notes"]),
            tier("Agent", 660.0, &["reply", "macros"]),
        ],
        audience: &[
            ("Customer Success", 1.0, 1),
            ("IT", 1.0, 1),
            ("Engineering", 0.15, 0),
            ("Product", 0.3, 0),
        ],
        dormant: 0.08,
        over_licensed: 0.5,
        rate: 1.0,
        max_events: 8,
    },
    AppSpec {
        name: "CodeHub",
        vendor: "CodeHub Inc.",
        category: "Engineering",
        description: "Source code, pull requests and CI",
        sso: true,
        events: &[
            ev(
                "repo_viewed",
                "Browsed a repository",
                Consume,
                &["Browsed Code"],
                0,
                4,
            ),
            ev(
                "commit_pushed",
                "Pushed commits",
                Produce,
                &["Wrote Code"],
                0,
                5,
            ),
            ev(
                "pr_opened",
                "Opened a pull request",
                Produce,
                &["Wrote Code"],
                0,
                2,
            ),
            ev(
                "pr_reviewed",
                "Reviewed a pull request",
                Produce,
                &["Reviewed Code"],
                0,
                3,
            ),
            ev(
                "security_alert_triaged",
                "Triaged a security alert",
                Admin,
                &["Security"],
                1,
                1,
            ),
        ],
        tiers: &[
            tier("Team", 48.0, &["private repositories"]),
            tier("Enterprise", 252.0, &["security scanning", "audit log"]),
        ],
        audience: &[("Engineering", 1.0, 0), ("IT", 0.6, 1), ("Product", 0.4, 0)],
        dormant: 0.06,
        over_licensed: 0.6,
        rate: 1.0,
        max_events: 7,
    },
    AppSpec {
        name: "Lens BI",
        vendor: "Lens Analytics",
        category: "Analytics",
        description: "Dashboards and ad-hoc reporting",
        sso: false,
        events: &[
            ev(
                "dashboard_viewed",
                "Viewed a dashboard",
                Consume,
                &["Viewed Dashboards"],
                0,
                6,
            ),
            ev(
                "query_run",
                "Ran an ad-hoc query",
                Produce,
                &["Built Reports"],
                1,
                3,
            ),
            ev(
                "report_shared",
                "Shared a report",
                Produce,
                &["Built Reports"],
                1,
                1,
            ),
        ],
        tiers: &[
            tier("Viewer", 300.0, &["dashboards"]),
            tier("Creator", 840.0, &["queries", "sharing"]),
        ],
        audience: &[
            ("Finance", 1.0, 1),
            ("Leadership", 1.0, 0),
            ("Sales", 0.5, 0),
            ("Product", 0.5, 0),
            ("Marketing", 0.4, 1),
        ],
        dormant: 0.3,
        over_licensed: 0.3,
        rate: 0.45,
        max_events: 4,
    },
];

impl AppSpec {
    pub fn definition(&self) -> AppDefinition {
        AppDefinition {
            name: self.name.to_string(),
            category: Some(self.category.to_string()),
            description: Some(self.description.to_string()),
            sso: self.sso,
            events: self
                .events
                .iter()
                .map(|e| EventDefinition {
                    event_name: e.name.to_string(),
                    description: Some(e.description.to_string()),
                    event_type: e.kind,
                    groups: e.groups.iter().map(|g| g.to_string()).collect(),
                    min_license_tier: (e.min_tier > 0)
                        .then(|| self.tiers[e.min_tier].name.to_string()),
                })
                .collect(),
            license_tiers: self
                .tiers
                .iter()
                .enumerate()
                .map(|(i, t)| LicenseTier {
                    name: t.name.to_string(),
                    tier: i as i64,
                    features: t.features.iter().map(|f| f.to_string()).collect(),
                    annual_cost: Some(t.cost),
                    currency: Some("USD".into()),
                })
                .collect(),
        }
    }
}

/// How a licence holder uses an app.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Habit {
    /// Active on this share of workdays.
    Regular(f64),
    /// Never used the app.
    Never,
    /// Used it regularly until this day number, then stopped.
    StoppedOn(i32, f64),
}

/// One licence of an app.
#[derive(Debug, Clone)]
pub struct Seat {
    /// Index in [`Company::people`], or in `former` when `former`.
    pub person: usize,
    pub former: bool,
    /// Index of the tier held.
    pub tier: usize,
    /// Index of the highest tier the person's work needs.
    pub needs: usize,
    pub habit: Habit,
    pub app_user_id: String,
}

/// The licences of one app.
pub fn seats(
    spec: &AppSpec,
    app_index: usize,
    company: &Company,
    cal: &Calendar,
    rng: &mut Rng,
) -> Vec<Seat> {
    let mut out = Vec::new();
    let mut add = |rng: &mut Rng, person: usize, p: &Person, former: bool| {
        let Some(&(_, share, needs)) = spec.audience.iter().find(|(t, _, _)| *t == p.team_name())
        else {
            return;
        };
        if !rng.chance(share) {
            return;
        }
        let top = spec.tiers.len() - 1;
        let tier = if needs < top && rng.chance(spec.over_licensed) {
            top
        } else {
            needs
        };
        let habit = if former {
            Habit::StoppedOn(cal.first_day + rng.range(5, 55) as i32, 0.8)
        } else {
            let x = rng.unit();
            if x < spec.dormant / 2.0 {
                Habit::Never
            } else if x < spec.dormant {
                Habit::StoppedOn(cal.last_day - rng.range(35, 80) as i32, 0.6)
            } else if x < spec.dormant + 0.15 {
                Habit::Regular(0.05 + rng.unit() * 0.2)
            } else {
                Habit::Regular(0.6 + rng.unit() * 0.35)
            }
        };
        out.push(Seat {
            person,
            former,
            tier,
            needs,
            habit,
            app_user_id: format!("{}-{:05}", app_index + 1, 10_000 + rng.below(90_000)),
        });
    };
    for (i, p) in company.people.iter().enumerate() {
        add(rng, i, p, false);
    }
    for (i, p) in company.former.iter().enumerate() {
        add(rng, i, p, true);
    }
    // App user ids are random; make them unique within the app.
    let mut seen = std::collections::HashSet::new();
    for s in &mut out {
        while !seen.insert(s.app_user_id.clone()) {
            s.app_user_id.push('x');
        }
    }
    out
}

/// The events of one seat over the calendar: (Unix ms, event index).
pub fn seat_events(
    spec: &AppSpec,
    seat: &Seat,
    person: &Person,
    cal: &Calendar,
    rng: &mut Rng,
) -> Vec<(i64, usize)> {
    let (share, until) = match seat.habit {
        Habit::Never => return Vec::new(),
        Habit::Regular(s) => (s, cal.last_day),
        Habit::StoppedOn(day, s) => (s, day),
    };
    let allowed: Vec<usize> = (0..spec.events.len())
        .filter(|&e| spec.events[e].min_tier <= seat.needs)
        .collect();
    let tz = cal.zone(person.tz());
    let vacation = cal.vacation(rng);
    let mut out = Vec::new();
    for day in cal.first_day..=until.min(cal.last_day) {
        if vacation.contains(&day) {
            continue;
        }
        let date = rollcall_core::time::date_of_day_number(day);
        let factor = match date.weekday() {
            Weekday::Saturday | Weekday::Sunday => 0.06,
            Weekday::Friday => 0.85,
            Weekday::Monday => 1.05,
            _ => 1.0,
        } * if cal.is_holiday(day) { 0.04 } else { 1.0 };
        if !rng.chance((share * spec.rate * factor).min(0.98)) {
            continue;
        }
        for _ in 0..1 + rng.below(spec.max_events) {
            let e = allowed[rng.weighted(allowed.iter().map(|&e| spec.events[e].weight))];
            let minute = 8 * 60 + rng.below(10 * 60) as i64;
            let at = date
                .at(
                    (minute / 60) as i8,
                    (minute % 60) as i8,
                    rng.below(60) as i8,
                    0,
                )
                .to_zoned(tz.clone())
                .map(|z| z.timestamp().as_millisecond());
            if let Ok(ms) = at {
                out.push((ms, e));
            }
        }
    }
    out
}
