//! Insight maths over the usage rollups (SPEC §4): resolving emails to people
//! through the org chart's aliases, per-person activity timelines, engagement by an
//! org field, the DAU/WAU/MAU trend, and licence right-sizing. Pure functions: the
//! store hands over rollup rows, these turn them into figures.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::usage::{self, AppDefinition};

/// The org fields `by` may name, besides the account's custom fields.
pub const ORG_FIELDS: [&str; 5] = ["team", "location", "title", "managerEmail", "costCenter"];

/// One person of the org chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Employee {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub team: Option<String>,
    pub location: Option<String>,
    pub title: Option<String>,
    pub manager_email: Option<String>,
    pub cost_center: Option<String>,
    #[serde(default)]
    pub additional_emails: Vec<String>,
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
}

impl Employee {
    /// The value of an org field or custom field.
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "team" => self.team.as_deref(),
            "location" => self.location.as_deref(),
            "title" => self.title.as_deref(),
            "managerEmail" => self.manager_email.as_deref(),
            "costCenter" => self.cost_center.as_deref(),
            "firstName" => self.first_name.as_deref(),
            "lastName" => self.last_name.as_deref(),
            other => self.custom_fields.get(other).map(String::as_str),
        }
        .filter(|v| !v.is_empty())
    }
}

/// The current org chart, indexed by every email (primary and alias).
#[derive(Debug, Default)]
pub struct Directory {
    pub people: Vec<Employee>,
    by_email: HashMap<String, usize>,
}

impl Directory {
    pub fn new(people: Vec<Employee>) -> Directory {
        let mut by_email = HashMap::with_capacity(people.len());
        for (i, p) in people.iter().enumerate() {
            by_email.insert(p.email.clone(), i);
        }
        // Aliases never override a primary email of another person.
        for (i, p) in people.iter().enumerate() {
            for alias in &p.additional_emails {
                by_email.entry(alias.clone()).or_insert(i);
            }
        }
        Directory { people, by_email }
    }

    /// The person an email belongs to.
    pub fn person(&self, email: &str) -> Option<&Employee> {
        self.by_email.get(email).map(|&i| &self.people[i])
    }

    /// The key activity is counted under: the person's primary email, or the email itself.
    pub fn resolve<'a>(&'a self, email: &'a str) -> &'a str {
        self.person(email).map_or(email, |p| p.email.as_str())
    }
}

/// One rollup row: the days of one period on which `email` did `event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    pub event: String,
    pub email: String,
    pub period: i32,
    pub bits: u32,
    pub last_ms: i64,
}

/// Which events count.
#[derive(Debug, Clone)]
pub enum EventFilter {
    Any,
    Only(HashSet<String>),
}

impl EventFilter {
    /// The events of feature group `group` (`None` = any event of the app).
    pub fn for_group(def: &AppDefinition, group: Option<&str>) -> Result<EventFilter, String> {
        let Some(group) = group else {
            return Ok(EventFilter::Any);
        };
        let events: HashSet<String> = def
            .events
            .iter()
            .filter(|e| e.groups.iter().any(|g| g == group))
            .map(|e| e.event_name.clone())
            .collect();
        if events.is_empty() && !def.groups().iter().any(|g| g == group) {
            let known = def.groups();
            return Err(format!(
                "'{group}' is not a feature group of this app (its groups: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        Ok(EventFilter::Only(events))
    }

    pub fn matches(&self, event: &str) -> bool {
        match self {
            EventFilter::Any => true,
            EventFilter::Only(set) => set.contains(event),
        }
    }
}

/// The days on which one person was active, as period bitmasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub periods: BTreeMap<i32, u32>,
    pub last_ms: Option<i64>,
}

impl Timeline {
    fn add(&mut self, period: i32, bits: u32, last_ms: i64) {
        *self.periods.entry(period).or_insert(0) |= bits;
        self.last_ms = Some(self.last_ms.map_or(last_ms, |l| l.max(last_ms)));
    }

    /// Active on at least one day of `from..=to`.
    pub fn active(&self, from: i32, to: i32) -> bool {
        let (pf, _) = usage::period_of(from);
        let (pt, _) = usage::period_of(to);
        self.periods
            .range(pf..=pt)
            .any(|(&p, &bits)| usage::active_in(p, bits, from, to))
    }

    /// The number of active days in `from..=to`.
    pub fn days(&self, from: i32, to: i32) -> u32 {
        let (pf, _) = usage::period_of(from);
        let (pt, _) = usage::period_of(to);
        self.periods
            .range(pf..=pt)
            .map(|(&p, &bits)| usage::days_in(p, bits, from, to))
            .sum()
    }
}

/// Per person (primary email, or the bare email outside the org chart), the
/// timeline of the events that `filter` lets through.
pub fn timelines(
    rows: &[ActivityRow],
    dir: &Directory,
    filter: &EventFilter,
) -> HashMap<String, Timeline> {
    let mut out: HashMap<String, Timeline> = HashMap::new();
    for row in rows.iter().filter(|r| filter.matches(&r.event)) {
        let key = dir.resolve(&row.email);
        match out.get_mut(key) {
            Some(t) => t.add(row.period, row.bits, row.last_ms),
            None => {
                let mut t = Timeline::default();
                t.add(row.period, row.bits, row.last_ms);
                out.insert(key.to_string(), t);
            }
        }
    }
    out
}

/// One member of a population: the person key and the value of `by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub value: Option<String>,
    pub population: u64,
    pub active: u64,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Total {
    pub population: u64,
    pub active: u64,
    pub percent: f64,
    pub outside_population: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Engagement {
    pub total: Total,
    /// Ordered by value; the segment without a value comes last.
    pub segments: Vec<Segment>,
}

/// Engagement of `members` over `from..=to`: per value, how many were active.
/// Members are unique by key (the first occurrence wins).
pub fn engagement(
    members: &[Member],
    timelines: &HashMap<String, Timeline>,
    from: i32,
    to: i32,
) -> Engagement {
    let mut seen = HashSet::new();
    let mut by_value: BTreeMap<Option<String>, (u64, u64)> = BTreeMap::new();
    let (mut population, mut active) = (0u64, 0u64);
    for m in members {
        if !seen.insert(m.key.as_str()) {
            continue;
        }
        let is_active = timelines.get(&m.key).is_some_and(|t| t.active(from, to));
        let entry = by_value.entry(m.value.clone()).or_insert((0, 0));
        entry.0 += 1;
        population += 1;
        if is_active {
            entry.1 += 1;
            active += 1;
        }
    }
    let outside_population = timelines
        .iter()
        .filter(|(k, t)| !seen.contains(k.as_str()) && t.active(from, to))
        .count() as u64;
    let mut segments: Vec<Segment> = by_value
        .into_iter()
        .map(|(value, (p, a))| Segment {
            value,
            population: p,
            active: a,
            percent: usage::percent(a, p),
        })
        .collect();
    // BTreeMap puts None first; people without a value read better last.
    segments.sort_by(|a, b| match (&a.value, &b.value) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    });
    Engagement {
        total: Total {
            population,
            active,
            percent: usage::percent(active, population),
            outside_population,
        },
        segments,
    }
}

/// DAU, WAU (7 days) and MAU (30 days) ending on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayActivity {
    pub day: i32,
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
}

/// DAU/WAU/MAU for `day`.
pub fn activity_on(timelines: &HashMap<String, Timeline>, day: i32) -> DayActivity {
    let mut a = DayActivity {
        day,
        dau: 0,
        wau: 0,
        mau: 0,
    };
    for t in timelines.values() {
        if t.active(day - 29, day) {
            a.mau += 1;
            if t.active(day - 6, day) {
                a.wau += 1;
                if t.active(day, day) {
                    a.dau += 1;
                }
            }
        }
    }
    a
}

/// The daily series of DAU/WAU/MAU for `from..=to`.
pub fn trend(timelines: &HashMap<String, Timeline>, from: i32, to: i32) -> Vec<DayActivity> {
    (from..=to).map(|d| activity_on(timelines, d)).collect()
}

/// The lowest tier a set of used events needs: the highest `minLicenseTier` among
/// them (events without one need the app's lowest tier). `None` when the app has no tiers.
pub fn needed_tier<'a>(
    def: &'a AppDefinition,
    used_events: &HashSet<String>,
) -> Option<&'a usage::LicenseTier> {
    let lowest = def.license_tiers.iter().min_by_key(|t| t.tier)?;
    let mut needed = lowest;
    for e in def
        .events
        .iter()
        .filter(|e| used_events.contains(&e.event_name))
    {
        if let Some(t) = e.min_license_tier.as_deref().and_then(|n| def.tier(n)) {
            if t.tier > needed.tier {
                needed = t;
            }
        }
    }
    Some(needed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{day_number, parse_date};

    fn row(event: &str, email: &str, day: i32) -> ActivityRow {
        let (period, bit) = usage::period_of(day);
        ActivityRow {
            event: event.into(),
            email: email.into(),
            period,
            bits: 1 << bit,
            last_ms: i64::from(day) * 86_400_000,
        }
    }

    fn person(email: &str, team: Option<&str>, aliases: &[&str]) -> Employee {
        Employee {
            email: email.into(),
            team: team.map(String::from),
            additional_emails: aliases.iter().map(|a| a.to_string()).collect(),
            ..Employee::default()
        }
    }

    #[test]
    fn aliases_count_for_their_person_and_strangers_are_outside() {
        let d = day_number(parse_date("2026-11-20").unwrap());
        let dir = Directory::new(vec![
            person("ana@x.com", Some("Sales"), &["ana.d@x.com"]),
            person("bo@x.com", Some("Sales"), &[]),
            person("cy@x.com", None, &[]),
        ]);
        let rows = vec![
            row("created", "ana.d@x.com", d),
            row("read", "bo@x.com", d),
            row("created", "zed@x.com", d - 1),
        ];
        let def: AppDefinition = serde_json::from_value(serde_json::json!({
            "name": "Mail",
            "events": [{"eventName": "created", "groups": ["Sent"]}, {"eventName": "read"}]
        }))
        .unwrap();
        let filter = EventFilter::for_group(&def, Some("Sent")).unwrap();
        let t = timelines(&rows, &dir, &filter);
        let members: Vec<Member> = dir
            .people
            .iter()
            .map(|p| Member {
                key: p.email.clone(),
                value: p.field("team").map(String::from),
            })
            .collect();
        let e = engagement(&members, &t, d - 6, d);
        assert_eq!(e.total.population, 3);
        assert_eq!(e.total.active, 1);
        assert_eq!(e.total.outside_population, 1);
        assert_eq!(e.segments[0].value.as_deref(), Some("Sales"));
        assert_eq!(e.segments[0].percent, 50.0);
        assert_eq!(e.segments[1].value, None);
        assert!(EventFilter::for_group(&def, Some("Nope")).is_err());
    }

    #[test]
    fn trend_counts_daily_weekly_and_monthly_users() {
        let dir = Directory::new(Vec::new());
        let rows = vec![row("a", "x@x.com", 100), row("a", "y@x.com", 95)];
        let t = timelines(&rows, &dir, &EventFilter::Any);
        let s = trend(&t, 100, 101);
        assert_eq!((s[0].dau, s[0].wau, s[0].mau), (1, 2, 2));
        assert_eq!((s[1].dau, s[1].wau, s[1].mau), (0, 2, 2));
        assert_eq!(activity_on(&t, 102).wau, 1);
        assert_eq!(t["x@x.com"].days(90, 110), 1);
    }

    #[test]
    fn needed_tier_is_the_highest_minimum_of_used_events() {
        let def: AppDefinition = serde_json::from_value(serde_json::json!({
            "name": "Mail",
            "events": [{"eventName": "read"}, {"eventName": "admin", "minLicenseTier": "Pro"}],
            "licenseTiers": [{"name": "Basic", "tier": 0}, {"name": "Pro", "tier": 1}]
        }))
        .unwrap();
        let used: HashSet<String> = ["read".to_string()].into();
        assert_eq!(needed_tier(&def, &used).unwrap().name, "Basic");
        let used: HashSet<String> = ["read".to_string(), "admin".to_string()].into();
        assert_eq!(needed_tier(&def, &used).unwrap().name, "Pro");
    }
}
