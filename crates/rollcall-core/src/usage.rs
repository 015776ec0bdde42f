//! Custom-app usage, pure parts (SPEC §4): app definitions and their validation,
//! batch limits and rolling windows.
//!
//! The activity rollups (per (app, event, local day) bitmaps of active email ids)
//! and the figures over them live in [`crate::usage_bits`]: setting a bit is
//! idempotent, so a re-pushed or late event needs no special care, and
//! feature-group figures are derived at query time by OR-ing the bitmaps of the
//! group's events (regrouping applies to the past at once).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Longest description of an event definition.
pub const MAX_DESCRIPTION: usize = 255;
/// Most items in one push request (events, provisioned users, org-chart users).
pub const MAX_BATCH: usize = 1000;
/// The rolling windows insights accept.
pub const ROLLING_WINDOWS: [u32; 5] = [1, 7, 30, 60, 90];

/// `part / whole` as a percentage rounded to one decimal (0 when `whole` is 0).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

/// What kind of action an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    Login,
    Consume,
    Produce,
    Admin,
    Other,
}

/// One event an app reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventDefinition {
    #[schema(min_length = 1)]
    pub event_name: String,
    #[serde(default)]
    #[schema(max_length = 255)]
    pub description: Option<String>,
    #[serde(default = "default_event_type")]
    pub event_type: EventType,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub min_license_tier: Option<String>,
}

fn default_event_type() -> EventType {
    EventType::Other
}

/// A licence tier of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LicenseTier {
    pub name: String,
    pub tier: i64,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub annual_cost: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// The whole definition of a connected app, as pushed and as returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppDefinition {
    #[schema(min_length = 1)]
    pub name: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub sso: bool,
    #[serde(default)]
    pub events: Vec<EventDefinition>,
    #[serde(default)]
    pub license_tiers: Vec<LicenseTier>,
}

/// One problem of a definition: the field (JSON path) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
    }
}

impl AppDefinition {
    /// Every problem of the definition; empty when it is acceptable.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(problem("name", "the app needs a non-empty name"));
        }
        if self.name.len() > 200 {
            out.push(problem("name", "the name is longer than 200 characters"));
        }
        let mut tiers = HashSet::new();
        for (i, t) in self.license_tiers.iter().enumerate() {
            if t.name.trim().is_empty() {
                out.push(problem(
                    format!("licenseTiers[{i}].name"),
                    "a tier needs a name",
                ));
            } else if !tiers.insert(t.name.as_str()) {
                out.push(problem(
                    format!("licenseTiers[{i}].name"),
                    format!("tier '{}' is defined twice", t.name),
                ));
            }
            if let Some(cost) = t.annual_cost {
                if !cost.is_finite() || cost < 0.0 {
                    out.push(problem(
                        format!("licenseTiers[{i}].annualCost"),
                        "annualCost must be a number of 0 or more",
                    ));
                }
            }
            if let Some(c) = &t.currency {
                if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
                    out.push(problem(
                        format!("licenseTiers[{i}].currency"),
                        "currency must be an ISO 4217 code such as USD",
                    ));
                }
            }
        }
        let mut names = HashSet::new();
        for (i, e) in self.events.iter().enumerate() {
            if e.event_name.trim().is_empty() {
                out.push(problem(
                    format!("events[{i}].eventName"),
                    "eventName must not be empty",
                ));
            } else if !names.insert(e.event_name.as_str()) {
                out.push(problem(
                    format!("events[{i}].eventName"),
                    format!("event '{}' is defined twice", e.event_name),
                ));
            }
            if e.description
                .as_ref()
                .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
            {
                out.push(problem(
                    format!("events[{i}].description"),
                    format!("the description is longer than {MAX_DESCRIPTION} characters"),
                ));
            }
            for (j, g) in e.groups.iter().enumerate() {
                if g.trim().is_empty() {
                    out.push(problem(
                        format!("events[{i}].groups[{j}]"),
                        "a feature group name must not be empty",
                    ));
                }
            }
            if let Some(tier) = &e.min_license_tier {
                if !self.license_tiers.iter().any(|t| &t.name == tier) {
                    out.push(problem(
                        format!("events[{i}].minLicenseTier"),
                        format!("'{tier}' is not one of the app's licenseTiers"),
                    ));
                }
            }
        }
        out
    }

    /// The tier named `name`.
    pub fn tier(&self, name: &str) -> Option<&LicenseTier> {
        self.license_tiers.iter().find(|t| t.name == name)
    }

    /// Every feature group of the app, in first-definition order.
    pub fn groups(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for e in &self.events {
            for g in &e.groups {
                if seen.insert(g.as_str()) {
                    out.push(g.clone());
                }
            }
        }
        out
    }

    /// The currency licence costs are shown in (the first tier that names one).
    pub fn currency(&self) -> String {
        self.license_tiers
            .iter()
            .find_map(|t| t.currency.clone())
            .unwrap_or_else(|| "USD".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rounds_to_one_decimal() {
        assert_eq!(percent(5, 6), 83.3);
        assert_eq!(percent(5, 8), 62.5);
        assert_eq!(percent(10, 14), 71.4);
        assert_eq!(percent(1, 0), 0.0);
    }

    #[test]
    fn definitions_name_every_problem() {
        let def: AppDefinition = serde_json::from_value(serde_json::json!({
            "name": "Mail",
            "events": [
                {"eventName": "created", "groups": ["Sent"], "minLicenseTier": "Gold"},
                {"eventName": "created", "description": "x".repeat(256)}
            ],
            "licenseTiers": [{"name": "Basic", "tier": 0, "annualCost": -1.0}]
        }))
        .unwrap();
        let fields: Vec<_> = def.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec![
                "licenseTiers[0].annualCost",
                "events[0].minLicenseTier",
                "events[1].eventName",
                "events[1].description"
            ]
        );
        assert_eq!(def.groups(), vec!["Sent".to_string()]);
    }
}
