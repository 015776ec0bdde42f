//! Insight maths over the usage rollups (SPEC §4): resolving emails to people
//! through the org chart's aliases, the shapes of the engagement and DAU/WAU/MAU
//! figures, feature-group filters and licence right-sizing. The figures themselves
//! are computed over activity bitmaps in `usage_bits`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::fxhash::FxHashMap;
use crate::time;
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
    by_email: FxHashMap<String, usize>,
    /// Each field asked for by [`Directory::field_values`], worked out once:
    /// the directory never changes, so neither do they.
    fields: Mutex<FxHashMap<String, Arc<FieldValues>>>,
}

/// The people of a directory by the value of one field.
#[derive(Debug, Default, PartialEq)]
pub struct FieldValues {
    /// The distinct values, sorted.
    pub values: Vec<String>,
    /// Per person (index of `people`), the index of their value in `values`,
    /// or [`FieldValues::NONE`] without one.
    pub of_person: Vec<u32>,
}

impl FieldValues {
    pub const NONE: u32 = u32::MAX;

    fn new(people: &[Employee], field: &str) -> FieldValues {
        let mut values: Vec<&str> = people.iter().filter_map(|p| p.field(field)).collect();
        values.sort_unstable();
        values.dedup();
        let index: FxHashMap<&str, u32> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (*v, i as u32))
            .collect();
        FieldValues {
            of_person: people
                .iter()
                .map(|p| p.field(field).map_or(Self::NONE, |v| index[v]))
                .collect(),
            values: values.into_iter().map(String::from).collect(),
        }
    }

    /// Person `i`'s value index, if they have a value.
    pub fn value_of(&self, i: usize) -> Option<u32> {
        self.of_person.get(i).copied().filter(|&v| v != Self::NONE)
    }
}

impl Directory {
    pub fn new(people: Vec<Employee>) -> Directory {
        let mut by_email = FxHashMap::with_capacity_and_hasher(people.len(), Default::default());
        for (i, p) in people.iter().enumerate() {
            by_email.insert(p.email.clone(), i);
        }
        // Aliases never override a primary email of another person.
        for (i, p) in people.iter().enumerate() {
            for alias in &p.additional_emails {
                by_email.entry(alias.clone()).or_insert(i);
            }
        }
        Directory {
            people,
            by_email,
            fields: Mutex::default(),
        }
    }

    /// Everyone's value of `field` (an org or custom field), as indexes of the
    /// field's distinct values: engagement counts a hundred thousand people
    /// by integer instead of comparing their strings.
    pub fn field_values(&self, field: &str) -> Arc<FieldValues> {
        let kept = self.fields.lock().ok().and_then(|f| f.get(field).cloned());
        if let Some(values) = kept {
            return values;
        }
        let values = Arc::new(FieldValues::new(&self.people, field));
        if let Ok(mut fields) = self.fields.lock() {
            fields.insert(field.to_string(), Arc::clone(&values));
        }
        values
    }

    /// The index in `people` of the person an email belongs to.
    pub fn index_of(&self, email: &str) -> Option<usize> {
        self.by_email.get(email).copied()
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

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Segment {
    pub value: Option<String>,
    pub population: u64,
    pub active: u64,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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

/// DAU, WAU (7 days) and MAU (30 days) ending on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayActivity {
    pub day: i32,
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
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

/// An amount rounded to cents.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A licence's annual cost, when the licence names a tier with a cost.
pub fn licence_cost(def: &AppDefinition, license: Option<&str>) -> Option<f64> {
    license
        .and_then(|l| def.tier(l))
        .and_then(|t| t.annual_cost)
}

/// Utilisation in percent: the provisioned people who were active over the
/// provisioned people (people active without a licence do not raise it);
/// `None` without provisioned people.
pub fn utilization(active_provisioned: u64, provisioned: u64) -> Option<f64> {
    (provisioned > 0).then(|| usage::percent(active_provisioned, provisioned))
}

/// What moving from the `held` tier down to `needed` saves per year: the
/// difference of their costs, or the held cost when the lower tier has none.
pub fn downgrade_saving(held: &usage::LicenseTier, needed: &usage::LicenseTier) -> Option<f64> {
    match (held.annual_cost, needed.annual_cost) {
        (Some(h), Some(n)) => Some(round2(h - n)),
        (Some(h), None) => Some(h),
        _ => None,
    }
}

/// The latest activity of a person on a feature group: the group's last active
/// day comes from the bitmaps; the timestamp is the person's exact latest one
/// when it falls on that day, else the start of that day (the store keeps
/// exact timestamps per (app, email), not per event).
pub fn group_last_ms(
    last_day: Option<i32>,
    overall_ms: Option<i64>,
    tz: &jiff::tz::TimeZone,
) -> Option<i64> {
    let day = last_day?;
    match overall_ms {
        Some(ms) if time::day_number(time::local_date(ms, tz)) == day => Some(ms),
        _ => Some(time::start_of_day_ms(time::date_of_day_number(day), tz)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_index_each_persons_value_once_per_directory() {
        let person = |email: &str, team: Option<&str>, region: Option<&str>| Employee {
            email: email.into(),
            team: team.map(String::from),
            custom_fields: region
                .map(|r| BTreeMap::from([("Region".to_string(), r.to_string())]))
                .unwrap_or_default(),
            ..Employee::default()
        };
        let dir = Directory::new(vec![
            person("a@x.com", Some("Sales"), Some("North")),
            person("b@x.com", None, None),
            person("c@x.com", Some("Eng"), Some("North")),
            person("d@x.com", Some(""), None),
            person("e@x.com", Some("Sales"), Some("South")),
        ]);
        let teams = dir.field_values("team");
        assert_eq!(teams.values, ["Eng", "Sales"]);
        let of: Vec<Option<u32>> = (0..5).map(|i| teams.value_of(i)).collect();
        // An empty value is no value.
        assert_eq!(of, [Some(1), None, Some(0), None, Some(1)]);
        assert_eq!(teams.value_of(5), None);
        let regions = dir.field_values("Region");
        assert_eq!(regions.values, ["North", "South"]);
        assert_eq!(regions.value_of(4), Some(1));
        assert!(
            Arc::ptr_eq(&teams, &dir.field_values("team")),
            "worked out once"
        );
    }

    #[test]
    fn utilization_counts_only_provisioned_people() {
        assert_eq!(utilization(180, 300), Some(60.0));
        assert_eq!(utilization(0, 0), None);
    }

    #[test]
    fn a_group_timestamp_is_exact_only_on_its_last_day() {
        let tz = jiff::tz::TimeZone::UTC;
        let day = time::day_number(time::parse_date("2026-03-02").unwrap());
        let noon = time::start_of_day_ms(time::date_of_day_number(day), &tz) + 43_200_000;
        assert_eq!(group_last_ms(Some(day), Some(noon), &tz), Some(noon));
        assert_eq!(
            group_last_ms(Some(day - 1), Some(noon), &tz),
            Some(time::start_of_day_ms(
                time::date_of_day_number(day - 1),
                &tz
            ))
        );
        assert_eq!(group_last_ms(None, Some(noon), &tz), None);
    }

    #[test]
    fn a_downgrade_saves_the_cost_difference() {
        let tier = |cost| usage::LicenseTier {
            name: "x".into(),
            tier: 0,
            features: vec![],
            annual_cost: cost,
            currency: None,
        };
        assert_eq!(
            downgrade_saving(&tier(Some(120.0)), &tier(Some(59.995))),
            Some(60.01)
        );
        assert_eq!(
            downgrade_saving(&tier(Some(120.0)), &tier(None)),
            Some(120.0)
        );
        assert_eq!(downgrade_saving(&tier(None), &tier(Some(1.0))), None);
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
