//! Pure logic of workforce activity (SPEC §5): splitting an interval at local
//! midnight, passive-limit arithmetic, website domains from URLs, executable
//! globs, the classification set with its precedence, and the working-hours row
//! maths. The store and the server build on these; nothing here performs I/O.
//!
//! Idle stretches: touching idle records of one computer and user form one
//! stretch (see [`crate::idle_stretch`]). A stretch split at local midnight
//! spends its `passiveLimitMinutes` once: each piece knows its offset into the
//! record, and the record its offset into the stretch.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::time;

/// Longest accepted record: a week, in seconds.
pub const MAX_DURATION_S: i64 = 86_400 * 7;

/// One part of a record that falls on one local calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Day number (see [`time::day_number`]) of the local date.
    pub day: i32,
    pub start_ms: i64,
    pub end_ms: i64,
    /// How far into the record this piece starts (for the passive limit).
    pub offset_ms: i64,
}

/// Splits `[start_ms, start_ms + duration_ms)` at every local midnight of `tz`.
/// A zero-length record yields one empty piece on its date, so that its time
/// stamps still count for `lastActivityLog`.
pub fn split_at_local_midnight(start_ms: i64, duration_ms: i64, tz: &TimeZone) -> Vec<Piece> {
    let end_ms = start_ms.saturating_add(duration_ms.max(0));
    let mut pieces = Vec::with_capacity(1);
    let mut cursor = start_ms;
    loop {
        let date = time::local_date(cursor, tz);
        let next_midnight = date
            .tomorrow()
            .map(|d| time::start_of_day_ms(d, tz))
            .unwrap_or(i64::MAX);
        // A zone whose tomorrow cannot be computed (or a broken transition) must
        // not loop forever: fall back to the end of the record.
        let piece_end = if next_midnight > cursor {
            next_midnight.min(end_ms)
        } else {
            end_ms
        };
        pieces.push(Piece {
            day: time::day_number(date),
            start_ms: cursor,
            end_ms: piece_end,
            offset_ms: cursor - start_ms,
        });
        if piece_end >= end_ms {
            break;
        }
        cursor = piece_end;
    }
    pieces
}

/// Splits many records in one zone, remembering the last local day's bounds so
/// that the common case (a record inside the day of the one before) needs no
/// time-zone arithmetic.
pub struct DaySplitter {
    tz: TimeZone,
    /// (first instant of the day, next local midnight, day number)
    day: Option<(i64, i64, i32)>,
}

impl DaySplitter {
    pub fn new(tz: TimeZone) -> Self {
        DaySplitter { tz, day: None }
    }

    /// The same pieces as [`split_at_local_midnight`].
    pub fn split(&mut self, start_ms: i64, duration_ms: i64) -> Vec<Piece> {
        let end_ms = start_ms.saturating_add(duration_ms.max(0));
        if let Some((from, to, day)) = self.day {
            if start_ms >= from && end_ms <= to && start_ms < to {
                return vec![Piece {
                    day,
                    start_ms,
                    end_ms,
                    offset_ms: 0,
                }];
            }
        }
        let pieces = split_at_local_midnight(start_ms, duration_ms, &self.tz);
        if let Some(first) = pieces.first() {
            let date = time::date_of_day_number(first.day);
            let from = time::start_of_day_ms(date, &self.tz);
            let to = date
                .tomorrow()
                .map(|d| time::start_of_day_ms(d, &self.tz))
                .unwrap_or(i64::MIN);
            if from <= first.start_ms && to > first.start_ms {
                self.day = Some((from, to, first.day));
            }
        }
        pieces
    }
}

/// Passive milliseconds of one piece of an idle stretch: the part of
/// `[offset, offset + len)` that lies within the first `limit_ms` of the stretch
/// (`None` = unlimited; `Some(0)` = no passive time).
pub fn passive_ms(offset_ms: i64, len_ms: i64, limit_ms: Option<i64>) -> i64 {
    match limit_ms {
        None => len_ms.max(0),
        Some(limit) => (offset_ms + len_ms)
            .min(limit)
            .saturating_sub(offset_ms)
            .max(0),
    }
}

/// Rounds milliseconds to whole seconds (half up).
pub fn to_seconds(ms: i64) -> i64 {
    (ms + 500).div_euclid(1000)
}

/// The website of a URL: the host, lower-cased, without `www.`, port or user info.
pub fn website_domain(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| &h[1..]).unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
    if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
        None
    } else {
        Some(host)
    }
}

/// Case-insensitive glob with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether `domain` is `suffix` or lies under it (`.corp.example` and
/// `corp.example` both match `a.corp.example` and `corp.example`).
pub fn domain_suffix_match(suffix: &str, domain: &str) -> bool {
    let bare = suffix.trim_start_matches('.');
    !bare.is_empty() && (domain == bare || domain.ends_with(&format!(".{bare}")))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppClass {
    pub executable: String,
    #[schema(minimum = -1, maximum = 1)]
    pub productivity: i8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebClass {
    pub domain: String,
    #[schema(minimum = -1, maximum = 1)]
    pub productivity: i8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "match")]
    pub kind: String,
    pub pattern: String,
    #[schema(minimum = -1, maximum = 1)]
    pub productivity: i8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupOverride {
    pub group_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    #[schema(minimum = -1, maximum = 1)]
    pub productivity: i8,
}

/// The whole classification set of an account (`PUT /admin/v1/classifications`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClassificationSet {
    #[serde(
        default,
        deserialize_with = "crate::bounded::vec::<_, _, MAX_CLASSIFICATIONS>"
    )]
    pub applications: Vec<AppClass>,
    #[serde(
        default,
        deserialize_with = "crate::bounded::vec::<_, _, MAX_CLASSIFICATIONS>"
    )]
    pub websites: Vec<WebClass>,
    #[serde(
        default,
        deserialize_with = "crate::bounded::vec::<_, _, MAX_CLASSIFICATIONS>"
    )]
    pub rules: Vec<Rule>,
    #[serde(
        default,
        deserialize_with = "crate::bounded::vec::<_, _, MAX_CLASSIFICATIONS>"
    )]
    pub group_overrides: Vec<GroupOverride>,
}

/// Most entries of each list of a [`ClassificationSet`]; counted while parsing.
pub const MAX_CLASSIFICATIONS: usize = 10_000;

/// One problem in a classification set: the field path and why.
pub type Problem = (String, String);

fn check_productivity(p: i8, field: String, problems: &mut Vec<Problem>) {
    if !(-1..=1).contains(&p) {
        problems.push((
            field,
            "productivity must be 1 (productive), -1 (unproductive) or 0 (undefined)".into(),
        ));
    }
}

fn normalize_domain(text: &str) -> Option<String> {
    website_domain(text).filter(|d| !d.contains('/'))
}

impl ClassificationSet {
    /// Normalizes names (lower case, bare domains) and lists every problem.
    pub fn normalize(&mut self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.applications.iter_mut().enumerate() {
            a.executable = a.executable.trim().to_lowercase();
            if a.executable.is_empty() || a.executable.len() > 260 {
                problems.push((
                    format!("applications[{i}].executable"),
                    "executable must have 1 to 260 characters".into(),
                ));
            } else if !seen.insert(("a", a.executable.clone())) {
                problems.push((
                    format!("applications[{i}].executable"),
                    format!("'{}' is classified twice", a.executable),
                ));
            }
            check_productivity(
                a.productivity,
                format!("applications[{i}].productivity"),
                &mut problems,
            );
        }
        for (i, w) in self.websites.iter_mut().enumerate() {
            match normalize_domain(&w.domain) {
                Some(d) => {
                    w.domain = d;
                    if !seen.insert(("w", w.domain.clone())) {
                        problems.push((
                            format!("websites[{i}].domain"),
                            format!("'{}' is classified twice", w.domain),
                        ));
                    }
                }
                None => problems.push((
                    format!("websites[{i}].domain"),
                    "domain must be a host name such as youtube.com".into(),
                )),
            }
            check_productivity(
                w.productivity,
                format!("websites[{i}].productivity"),
                &mut problems,
            );
        }
        for (i, r) in self.rules.iter_mut().enumerate() {
            r.pattern = r.pattern.trim().to_lowercase();
            if r.kind != "domainSuffix" && r.kind != "executableGlob" {
                problems.push((
                    format!("rules[{i}].match"),
                    "match must be 'domainSuffix' or 'executableGlob'".into(),
                ));
            }
            if r.pattern.trim_start_matches('.').is_empty() || r.pattern.len() > 260 {
                problems.push((
                    format!("rules[{i}].pattern"),
                    "pattern must have 1 to 260 characters".into(),
                ));
            }
            check_productivity(
                r.productivity,
                format!("rules[{i}].productivity"),
                &mut problems,
            );
        }
        for (i, o) in self.group_overrides.iter_mut().enumerate() {
            match (&o.domain, &o.executable) {
                (Some(d), None) => match normalize_domain(d) {
                    Some(d) => o.domain = Some(d),
                    None => problems.push((
                        format!("groupOverrides[{i}].domain"),
                        "domain must be a host name such as youtube.com".into(),
                    )),
                },
                (None, Some(e)) => {
                    let e = e.trim().to_lowercase();
                    if e.is_empty() {
                        problems.push((
                            format!("groupOverrides[{i}].executable"),
                            "executable must not be empty".into(),
                        ));
                    }
                    o.executable = Some(e);
                }
                _ => problems.push((
                    format!("groupOverrides[{i}]"),
                    "give exactly one of domain or executable".into(),
                )),
            }
            if o.group_id <= 0 {
                problems.push((
                    format!("groupOverrides[{i}].groupId"),
                    "groupId must be a group id".into(),
                ));
            }
            let key = (
                o.group_id,
                o.domain.clone().unwrap_or_default(),
                o.executable.clone().unwrap_or_default(),
            );
            if !seen.insert(("o", format!("{key:?}"))) {
                problems.push((
                    format!("groupOverrides[{i}]"),
                    "this override is given twice".into(),
                ));
            }
            check_productivity(
                o.productivity,
                format!("groupOverrides[{i}].productivity"),
                &mut problems,
            );
        }
        problems
    }
}

/// What a record is classified by: its website when it has a URL, else its
/// application (executable, lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Activity {
    Application(String),
    Website(String),
}

/// A classification set prepared for lookups.
#[derive(Debug, Default)]
pub struct Classifier {
    apps: HashMap<String, i8>,
    sites: HashMap<String, i8>,
    rules: Vec<Rule>,
    overrides: HashMap<(i64, Activity), i8>,
}

impl Classifier {
    pub fn new(set: &ClassificationSet) -> Classifier {
        let mut overrides = HashMap::new();
        for o in &set.group_overrides {
            let activity = match (&o.domain, &o.executable) {
                (Some(d), _) => Activity::Website(d.clone()),
                (None, Some(e)) => Activity::Application(e.clone()),
                (None, None) => continue,
            };
            overrides.insert((o.group_id, activity), o.productivity);
        }
        Classifier {
            apps: set
                .applications
                .iter()
                .map(|a| (a.executable.clone(), a.productivity))
                .collect(),
            sites: set
                .websites
                .iter()
                .map(|w| (w.domain.clone(), w.productivity))
                .collect(),
            rules: set.rules.clone(),
            overrides,
        }
    }

    /// Precedence (SPEC §5): the override of the user's first group, the exact
    /// website or application, the first matching rule, else undefined (0).
    pub fn classify(&self, first_group: Option<i64>, activity: &Activity) -> i8 {
        if let Some(group) = first_group {
            if let Some(p) = self.overrides.get(&(group, activity.clone())) {
                return *p;
            }
        }
        match activity {
            Activity::Application(exe) => {
                if let Some(p) = self.apps.get(exe) {
                    return *p;
                }
                self.rules
                    .iter()
                    .find(|r| r.kind == "executableGlob" && glob_match(&r.pattern, exe))
                    .map_or(0, |r| r.productivity)
            }
            Activity::Website(domain) => {
                if let Some(p) = self.sites.get(domain) {
                    return *p;
                }
                self.rules
                    .iter()
                    .find(|r| r.kind == "domainSuffix" && domain_suffix_match(&r.pattern, domain))
                    .map_or(0, |r| r.productivity)
            }
        }
    }
}

/// Time split by productivity, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    pub productive: i64,
    pub unproductive: i64,
    pub undefined: i64,
}

impl Split {
    pub fn add(&mut self, productivity: i8, ms: i64) {
        match productivity {
            1 => self.productive += ms,
            -1 => self.unproductive += ms,
            _ => self.undefined += ms,
        }
    }
    /// Whole seconds per class; the total is the sum of the rounded parts so the
    /// parts always add up.
    pub fn seconds(&self) -> SplitSeconds {
        let productive = to_seconds(self.productive);
        let unproductive = to_seconds(self.unproductive);
        let undefined = to_seconds(self.undefined);
        SplitSeconds {
            productive,
            unproductive,
            undefined,
            total: productive + unproductive + undefined,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SplitSeconds {
    pub productive: i64,
    pub unproductive: i64,
    pub undefined: i64,
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{parse_instant_ms, parse_time_zone};

    #[test]
    fn splits_at_berlin_midnight() {
        let berlin = parse_time_zone("Europe/Berlin").unwrap();
        // 23:50 local (UTC+1) for 30 minutes.
        let start = parse_instant_ms("2026-11-19T22:50:00Z").unwrap();
        let pieces = split_at_local_midnight(start, 30 * 60_000, &berlin);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].end_ms - pieces[0].start_ms, 10 * 60_000);
        assert_eq!(pieces[1].offset_ms, 10 * 60_000);
        assert_eq!(pieces[1].end_ms - pieces[1].start_ms, 20 * 60_000);
        assert_eq!(pieces[1].day, pieces[0].day + 1);
        let one = split_at_local_midnight(start, 0, &berlin);
        assert_eq!(one.len(), 1);
        let week = split_at_local_midnight(start, MAX_DURATION_S * 1000, &berlin);
        assert_eq!(week.len(), 8);
    }

    #[test]
    fn the_day_splitter_agrees_with_the_plain_split() {
        let berlin = parse_time_zone("Europe/Berlin").unwrap();
        let mut splitter = DaySplitter::new(berlin.clone());
        // Across the DST change of 2026-10-25 and several midnights.
        let base = parse_instant_ms("2026-10-24T20:00:00Z").unwrap();
        for i in 0..400i64 {
            let start = base + i * 7 * 60_000;
            let duration = (i % 5) * 20 * 60_000;
            assert_eq!(
                splitter.split(start, duration),
                split_at_local_midnight(start, duration, &berlin),
                "record {i}"
            );
        }
    }

    #[test]
    fn passive_limit_arithmetic() {
        let min = 60_000;
        assert_eq!(passive_ms(0, 12 * min, Some(5 * min)), 5 * min);
        assert_eq!(passive_ms(0, 12 * min, Some(0)), 0);
        assert_eq!(passive_ms(0, 12 * min, None), 12 * min);
        // Second piece of a stretch split at midnight: 3 min already counted.
        assert_eq!(passive_ms(3 * min, 9 * min, Some(5 * min)), 2 * min);
        assert_eq!(passive_ms(6 * min, 9 * min, Some(5 * min)), 0);
    }

    #[test]
    fn domains_and_globs() {
        assert_eq!(
            website_domain("https://www.YouTube.com:443/watch?v=1").as_deref(),
            Some("youtube.com")
        );
        assert_eq!(
            website_domain("user@docs.corp.example/x").as_deref(),
            Some("docs.corp.example")
        );
        assert_eq!(website_domain("  "), None);
        assert!(glob_match("steam*.exe", "SteamWebHelper.exe"));
        assert!(glob_match("?ord.exe", "word.exe"));
        assert!(!glob_match("steam*.exe", "notsteam.exe"));
        assert!(glob_match("*", ""));
        assert!(domain_suffix_match(".corp.example", "a.corp.example"));
        assert!(domain_suffix_match(".corp.example", "corp.example"));
        assert!(!domain_suffix_match(".corp.example", "evilcorp.example"));
    }

    #[test]
    fn classification_precedence() {
        let mut set = ClassificationSet {
            applications: vec![AppClass {
                executable: "Outlook.exe".into(),
                productivity: 1,
            }],
            websites: vec![WebClass {
                domain: "www.youtube.com".into(),
                productivity: -1,
            }],
            rules: vec![
                Rule {
                    kind: "domainSuffix".into(),
                    pattern: ".corp.example".into(),
                    productivity: 1,
                },
                Rule {
                    kind: "executableGlob".into(),
                    pattern: "steam*.exe".into(),
                    productivity: -1,
                },
            ],
            group_overrides: vec![GroupOverride {
                group_id: 7,
                domain: Some("youtube.com".into()),
                executable: None,
                productivity: 1,
            }],
        };
        assert!(set.normalize().is_empty());
        let c = Classifier::new(&set);
        let yt = Activity::Website("youtube.com".into());
        assert_eq!(c.classify(None, &yt), -1);
        assert_eq!(c.classify(Some(7), &yt), 1);
        assert_eq!(c.classify(Some(8), &yt), -1);
        assert_eq!(
            c.classify(None, &Activity::Application("outlook.exe".into())),
            1
        );
        assert_eq!(
            c.classify(None, &Activity::Application("steam.exe".into())),
            -1
        );
        assert_eq!(
            c.classify(None, &Activity::Website("wiki.corp.example".into())),
            1
        );
        assert_eq!(c.classify(None, &Activity::Application("vim".into())), 0);
    }

    #[test]
    fn invalid_sets_name_each_problem() {
        let mut set = ClassificationSet {
            applications: vec![
                AppClass {
                    executable: "a.exe".into(),
                    productivity: 2,
                },
                AppClass {
                    executable: "A.exe".into(),
                    productivity: 1,
                },
            ],
            rules: vec![Rule {
                kind: "regex".into(),
                pattern: "x".into(),
                productivity: 0,
            }],
            ..Default::default()
        };
        let problems = set.normalize();
        let fields: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
        assert!(fields.contains(&"applications[0].productivity"));
        assert!(fields.contains(&"applications[1].executable"));
        assert!(fields.contains(&"rules[0].match"));
    }

    #[test]
    fn split_seconds_add_up() {
        let mut s = Split::default();
        s.add(1, 1_400);
        s.add(-1, 1_600);
        s.add(0, 0);
        let secs = s.seconds();
        assert_eq!(secs.productive, 1);
        assert_eq!(secs.unproductive, 2);
        assert_eq!(secs.total, 3);
    }
}
