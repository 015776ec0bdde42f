//! The privacy policy of an account (SPEC §11): what an agent's activity
//! records keep ([`Capture`], per account with per-group overrides), the
//! redaction rules applied to titles and URLs at ingest, and how long titles and
//! URLs are kept. [`PrivacyPolicy::compile`] validates a policy and builds the
//! [`CompiledPrivacy`] that ingest applies to each record ([`CompiledPrivacy::apply`]).
//!
//! Redaction patterns run on the `regex` crate (finite automata: time linear in
//! the text, whatever the pattern), with a size limit on each compiled rule.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::workforce::website_domain;

/// Most redaction rules an account may have (the built-ins come on top).
pub const MAX_RULES: usize = 20;
/// Longest redaction pattern or replacement, in bytes.
pub const MAX_PATTERN_BYTES: usize = 500;
/// Largest compiled program of one rule (the `regex` crate's size limit).
const RULE_SIZE_LIMIT: usize = 256 * 1024;
/// Longest title retention: ten years, as the other retention settings.
pub const MAX_TITLE_RETENTION_DAYS: u32 = 3650;
/// Shortest digit run the `digits` built-in redacts.
pub const DIGIT_RUN: usize = 6;

/// What an activity record keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Capture {
    /// Application, window title and URL.
    Full,
    /// Application and the URL's domain; titles dropped.
    Domains,
    /// Application only.
    Apps,
    /// Nothing: the record is not stored.
    Off,
}

/// A group whose members' records are captured differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupCapture {
    pub group_id: i64,
    pub capture: Capture,
}

/// How a redaction rule's pattern reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PatternKind {
    /// Case-insensitive; `*` is any run of non-space characters, `?` one
    /// non-space character, everything else literal.
    Glob,
    /// A regular expression (the `regex` crate's syntax; no look-around or
    /// back-references, so matching stays linear).
    Regex,
}

/// One account rule: what matches `pattern` in a title or URL becomes `replacement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedactionRule {
    #[serde(rename = "match")]
    pub kind: PatternKind,
    pub pattern: String,
    #[serde(default = "default_replacement")]
    pub replacement: String,
}

fn default_replacement() -> String {
    "[redacted]".to_string()
}

/// Redactions Rollcall ships.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Builtin {
    /// Email addresses (also with `@` written `%40`) become `[email]`.
    Emails,
    /// Runs of six or more digits become `[number]`.
    Digits,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Emails => "emails",
            Builtin::Digits => "digits",
        }
    }

    fn rule(self) -> (&'static str, &'static str) {
        match self {
            Builtin::Emails => (
                r"(?i)[a-z0-9._%+\-]+(?:@|%40)[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}",
                "[email]",
            ),
            Builtin::Digits => (r"[0-9]{6,}", "[number]"),
        }
    }
}

/// An account's privacy policy, as `GET/PUT /admin/v1/privacy` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrivacyPolicy {
    pub capture: Capture,
    #[serde(default)]
    pub group_overrides: Vec<GroupCapture>,
    #[serde(default)]
    pub redaction: Vec<RedactionRule>,
    #[serde(default)]
    pub builtin_redaction: Vec<Builtin>,
    /// Days titles and URLs are kept; `None` = as long as the records.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub title_retention_days: Option<u32>,
}

impl Default for PrivacyPolicy {
    /// A new account's policy: the minimum that still gives working hours by
    /// application and website (`domains`), nothing else.
    fn default() -> Self {
        PrivacyPolicy {
            capture: Capture::Domains,
            group_overrides: Vec::new(),
            redaction: Vec::new(),
            builtin_redaction: Vec::new(),
            title_retention_days: None,
        }
    }
}

/// One thing wrong with a policy: the field (`redaction[2].pattern`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyProblem {
    pub field: String,
    pub message: String,
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> PolicyProblem {
    PolicyProblem {
        field: field.into(),
        message: message.into(),
    }
}

/// A glob as a regular expression (see [`PatternKind::Glob`]).
fn glob_regex(glob: &str) -> String {
    let mut out = String::from("(?i)");
    for c in glob.chars() {
        match c {
            '*' => out.push_str(r"\S*"),
            '?' => out.push_str(r"\S"),
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

fn build(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(RULE_SIZE_LIMIT)
        .dfa_size_limit(RULE_SIZE_LIMIT)
        .build()
}

/// One rule ready to run, with the key its ingest counter is kept under.
#[derive(Debug)]
struct Compiled {
    key: String,
    regex: Regex,
    replacement: String,
}

impl PrivacyPolicy {
    /// The policy with its builtins sorted and deduplicated, and its rules
    /// compiled, or every problem found.
    pub fn compile(mut self) -> Result<CompiledPrivacy, Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        if self.redaction.len() > MAX_RULES {
            problems.push(problem(
                "redaction",
                format!(
                    "at most {MAX_RULES} rules; this policy has {}",
                    self.redaction.len()
                ),
            ));
        }
        if let Some(days) = self.title_retention_days {
            if !(1..=MAX_TITLE_RETENTION_DAYS).contains(&days) {
                problems.push(problem(
                    "titleRetentionDays",
                    format!("must be between 1 and {MAX_TITLE_RETENTION_DAYS} days (or null to keep titles as long as the records)"),
                ));
            }
        }
        for (i, o) in self.group_overrides.iter().enumerate() {
            if o.group_id <= 0 {
                problems.push(problem(
                    format!("groupOverrides[{i}].groupId"),
                    "must be the id of a group",
                ));
            }
            if self.group_overrides[..i]
                .iter()
                .any(|p| p.group_id == o.group_id)
            {
                problems.push(problem(
                    format!("groupOverrides[{i}].groupId"),
                    format!("group {} has an override already", o.group_id),
                ));
            }
        }
        self.builtin_redaction.sort();
        self.builtin_redaction.dedup();
        let mut rules = Vec::new();
        for (i, rule) in self.redaction.iter().enumerate().take(MAX_RULES) {
            let field = |f: &str| format!("redaction[{i}].{f}");
            if rule.pattern.is_empty() {
                problems.push(problem(field("pattern"), "must not be empty"));
                continue;
            }
            if rule.pattern.len() > MAX_PATTERN_BYTES {
                problems.push(problem(
                    field("pattern"),
                    format!("at most {MAX_PATTERN_BYTES} bytes"),
                ));
                continue;
            }
            if rule.replacement.len() > MAX_PATTERN_BYTES {
                problems.push(problem(
                    field("replacement"),
                    format!("at most {MAX_PATTERN_BYTES} bytes"),
                ));
            }
            let key = rule_key(rule);
            if rules.iter().any(|r: &Compiled| r.key == key) {
                problems.push(problem(field("pattern"), "the same rule is listed twice"));
                continue;
            }
            let source = match rule.kind {
                PatternKind::Glob => glob_regex(&rule.pattern),
                PatternKind::Regex => rule.pattern.clone(),
            };
            match build(&source) {
                Ok(regex) if regex.is_match("") => problems.push(problem(
                    field("pattern"),
                    "matches the empty text, so it would redact between every character",
                )),
                Ok(regex) => rules.push(Compiled {
                    key,
                    regex,
                    // `$` in a replacement is literal: a rule replaces, it does not rewrite.
                    replacement: rule.replacement.replace('$', "$$"),
                }),
                Err(regex::Error::CompiledTooBig(_)) => problems.push(problem(
                    field("pattern"),
                    "the pattern is too large; use a shorter one (e.g. fewer repetitions)",
                )),
                Err(e) => problems.push(problem(
                    field("pattern"),
                    format!(
                        "not a valid regular expression: {}",
                        first_line(&e.to_string())
                    ),
                )),
            }
        }
        for b in &self.builtin_redaction {
            let (source, replacement) = b.rule();
            let regex =
                build(source).map_err(|e| vec![problem("builtinRedaction", e.to_string())])?;
            rules.push(Compiled {
                key: builtin_key(*b),
                regex,
                replacement: replacement.to_string(),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(CompiledPrivacy {
            policy: self,
            rules,
        })
    }
}

fn first_line(s: &str) -> String {
    // The crate's message draws the pattern with a caret over several lines;
    // its last line says what is wrong.
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// The key an account rule's ingest counter is kept under: the same rule keeps
/// its count when the policy is saved again or its rules are reordered.
pub fn rule_key(rule: &RedactionRule) -> String {
    let kind = match rule.kind {
        PatternKind::Glob => "glob",
        PatternKind::Regex => "regex",
    };
    format!("{kind}:{}", rule.pattern)
}

/// The key a built-in's ingest counter is kept under.
pub fn builtin_key(b: Builtin) -> String {
    format!("builtin:{}", b.name())
}

/// A validated policy with its rules compiled.
#[derive(Debug)]
pub struct CompiledPrivacy {
    policy: PrivacyPolicy,
    rules: Vec<Compiled>,
}

/// A record's text fields after the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub description: String,
    pub url: Option<String>,
    /// The domain the record is classified by.
    pub website: Option<String>,
    /// Bit `i` set: rule `i` of [`CompiledPrivacy::rule_keys`] changed something.
    pub redacted_by: u32,
}

impl CompiledPrivacy {
    pub fn policy(&self) -> &PrivacyPolicy {
        &self.policy
    }

    /// The counter key of each rule, in the order of [`Captured::redacted_by`]'s bits.
    pub fn rule_keys(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.key.clone()).collect()
    }

    /// Whether the capture depends on the client's groups.
    pub fn has_group_overrides(&self) -> bool {
        !self.policy.group_overrides.is_empty()
    }

    /// The capture for a client in `groups`: the first override (in the
    /// policy's order) naming one of them, else the account's.
    pub fn capture_for(&self, groups: &[i64]) -> Capture {
        self.policy
            .group_overrides
            .iter()
            .find(|o| groups.contains(&o.group_id))
            .map_or(self.policy.capture, |o| o.capture)
    }

    /// The oldest start (Unix ms) whose title and URL are still kept at `now_ms`.
    pub fn titles_kept_from_ms(&self, now_ms: i64) -> Option<i64> {
        self.policy
            .title_retention_days
            .map(|d| now_ms.saturating_sub(i64::from(d) * 86_400_000))
    }

    /// `text` with every rule applied, and whether any changed it (rule `i`
    /// sets bit `i` of `mask`).
    fn redact<'t>(&self, text: &'t str, mask: &mut u32) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for (i, rule) in self.rules.iter().enumerate() {
            if let Cow::Owned(s) = rule.regex.replace_all(&out, rule.replacement.as_str()) {
                *mask |= 1 << i;
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// What a record of `capture` keeps of its title and URL, redacted;
    /// `website` is the domain of `url` (as [`website_domain`] gives it);
    /// `titles_expired` (older than the title retention) drops title and URL.
    /// `None` for `off`. A website changed by redaction is the domain of the
    /// redacted text, so a redacted domain is not kept under another name.
    pub fn apply(
        &self,
        capture: Capture,
        description: &str,
        url: Option<&str>,
        website: Option<&str>,
        titles_expired: bool,
    ) -> Option<Captured> {
        let mut mask = 0;
        let (description, url, website) = match capture {
            Capture::Off => return None,
            Capture::Apps => (String::new(), None, None),
            Capture::Domains => match website {
                None => (String::new(), None, None),
                Some(site) => {
                    let kept = match self.redact(site, &mut mask) {
                        Cow::Borrowed(site) => Some(site.to_string()),
                        Cow::Owned(redacted) => website_domain(&redacted),
                    };
                    (String::new(), kept.clone(), kept)
                }
            },
            Capture::Full => {
                let description = self.redact(description, &mut mask).into_owned();
                match url.map(|u| self.redact(u, &mut mask)) {
                    None => (description, None, None),
                    Some(Cow::Borrowed(u)) => (
                        description,
                        Some(u.to_string()),
                        website.map(str::to_string),
                    ),
                    Some(Cow::Owned(u)) => {
                        let site = website_domain(&u);
                        (description, Some(u), site)
                    }
                }
            }
        };
        if titles_expired {
            return Some(Captured {
                description: String::new(),
                url: None,
                website,
                redacted_by: mask,
            });
        }
        Some(Captured {
            description,
            url,
            website,
            redacted_by: mask,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> PrivacyPolicy {
        serde_json::from_value(json).unwrap()
    }

    fn compiled(json: serde_json::Value) -> CompiledPrivacy {
        policy(json).compile().unwrap()
    }

    #[test]
    fn each_capture_keeps_what_it_names() {
        let p = compiled(serde_json::json!({"capture": "full"}));
        let url = Some("https://www.Example.com/path?q=secret");
        let domain = url.and_then(website_domain);
        let site = domain.as_deref();
        let full = p
            .apply(Capture::Full, "Secret plan", url, site, false)
            .unwrap();
        assert_eq!(full.description, "Secret plan");
        assert_eq!(full.url.as_deref(), url);
        assert_eq!(full.website.as_deref(), Some("example.com"));
        let domains = p
            .apply(Capture::Domains, "Secret plan", url, site, false)
            .unwrap();
        assert_eq!(domains.description, "");
        assert_eq!(domains.url.as_deref(), Some("example.com"));
        assert_eq!(domains.website.as_deref(), Some("example.com"));
        let apps = p
            .apply(Capture::Apps, "Secret plan", url, site, false)
            .unwrap();
        assert_eq!(
            (apps.description.as_str(), apps.url, apps.website),
            ("", None, None)
        );
        assert_eq!(p.apply(Capture::Off, "Secret plan", url, site, false), None);
        let expired = p
            .apply(Capture::Full, "Secret plan", url, site, true)
            .unwrap();
        assert_eq!(expired.description, "");
        assert_eq!(expired.url, None);
        assert_eq!(expired.website.as_deref(), Some("example.com"));
    }

    #[test]
    fn the_default_is_domains() {
        assert_eq!(PrivacyPolicy::default().capture, Capture::Domains);
        assert_eq!(
            policy(serde_json::json!({"capture": "apps"})).title_retention_days,
            None
        );
    }

    #[test]
    fn the_first_matching_group_override_decides() {
        let p = compiled(serde_json::json!({"capture": "apps", "groupOverrides": [
            {"groupId": 7, "capture": "full"}, {"groupId": 3, "capture": "off"}]}));
        assert_eq!(p.capture_for(&[]), Capture::Apps);
        assert_eq!(p.capture_for(&[3]), Capture::Off);
        assert_eq!(p.capture_for(&[3, 7]), Capture::Full);
        assert_eq!(p.capture_for(&[9]), Capture::Apps);
    }

    #[test]
    fn builtins_redact_emails_and_long_digit_runs() {
        let p = compiled(
            serde_json::json!({"capture": "full", "builtinRedaction": ["emails", "digits"]}),
        );
        let c = p
            .apply(
                Capture::Full,
                "Re: invoice 12345678 from Jane.Doe+x@mail.example.co.uk (room 12345)",
                Some("https://mail.example.com/?to=jane%40example.com"),
                Some("mail.example.com"),
                false,
            )
            .unwrap();
        assert_eq!(
            c.description,
            "Re: invoice [number] from [email] (room 12345)"
        );
        assert_eq!(
            c.url.as_deref(),
            Some("https://mail.example.com/?to=[email]")
        );
        assert_eq!(c.redacted_by, 0b11);
        let keys = p.rule_keys();
        assert_eq!(keys, vec!["builtin:emails", "builtin:digits"]);
        let clean = p.apply(Capture::Full, "Inbox", None, None, false).unwrap();
        assert_eq!(clean.redacted_by, 0);
    }

    #[test]
    fn globs_match_words_case_insensitively_and_regexes_replace_literally() {
        let p = compiled(serde_json::json!({"capture": "full", "redaction": [
            {"match": "glob", "pattern": "ACME-*", "replacement": "[ticket]"},
            {"match": "regex", "pattern": "Contoso (Ltd|Inc)", "replacement": "$1 costs $5"}]}));
        let c = p
            .apply(
                Capture::Full,
                "acme-4711 for Contoso Ltd - Jira",
                None,
                None,
                false,
            )
            .unwrap();
        assert_eq!(c.description, "[ticket] for $1 costs $5 - Jira");
        assert_eq!(c.redacted_by, 0b11);
        let only_second = p
            .apply(Capture::Full, "Contoso Inc", None, None, false)
            .unwrap();
        assert_eq!(only_second.redacted_by, 0b10);
    }

    #[test]
    fn a_redacted_domain_is_not_kept_as_the_website() {
        let p = compiled(serde_json::json!({"capture": "domains", "redaction": [
            {"match": "glob", "pattern": "acme*", "replacement": "x"}]}));
        let c = p
            .apply(
                Capture::Domains,
                "t",
                Some("https://acmecorp.example.com/a"),
                Some("acmecorp.example.com"),
                false,
            )
            .unwrap();
        assert_eq!(c.url.as_deref(), Some("x"));
        assert_eq!(c.website.as_deref(), Some("x"));
    }

    #[test]
    fn invalid_policies_name_each_problem() {
        let long = "a".repeat(MAX_PATTERN_BYTES + 1);
        let problems = policy(serde_json::json!({"capture": "full",
            "groupOverrides": [{"groupId": 0, "capture": "off"}],
            "redaction": [
                {"match": "regex", "pattern": "(unclosed"},
                {"match": "regex", "pattern": ""},
                {"match": "regex", "pattern": long},
                {"match": "regex", "pattern": "a*"},
                {"match": "regex", "pattern": "(?:a{1000}){1000}"},
                {"match": "glob", "pattern": "x"},
                {"match": "glob", "pattern": "x"}],
            "titleRetentionDays": 0}))
        .compile()
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "titleRetentionDays",
                "groupOverrides[0].groupId",
                "redaction[0].pattern",
                "redaction[1].pattern",
                "redaction[2].pattern",
                "redaction[3].pattern",
                "redaction[4].pattern",
                "redaction[6].pattern",
            ]
        );
        assert!(
            problems[2]
                .message
                .contains("not a valid regular expression"),
            "{:?}",
            problems[2]
        );
        assert!(
            problems[6].message.contains("too large"),
            "{:?}",
            problems[6]
        );
        let too_many: Vec<serde_json::Value> = (0..=MAX_RULES)
            .map(|i| serde_json::json!({"match": "glob", "pattern": format!("r{i}")}))
            .collect();
        let problems = policy(serde_json::json!({"capture": "full", "redaction": too_many}))
            .compile()
            .unwrap_err();
        assert_eq!(problems[0].field, "redaction");
    }

    #[test]
    fn redaction_takes_linear_time_on_a_hostile_title() {
        let p = compiled(serde_json::json!({"capture": "full", "redaction": [
            {"match": "regex", "pattern": "(a|aa)+b"}]}));
        let title = "a".repeat(50_000);
        let started = std::time::Instant::now();
        let c = p.apply(Capture::Full, &title, None, None, false).unwrap();
        assert_eq!(c.redacted_by, 0);
        // A backtracking engine takes astronomically long here.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
