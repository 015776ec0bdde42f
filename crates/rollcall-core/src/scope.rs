//! OAuth-style scopes (SPEC §1) and small sets of them.

use std::fmt;

/// One permission a credential may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    ConnectorWrite,
    AppsWrite,
    ReportRead,
    AppsRead,
    UsersRead,
    ActivityWrite,
    Admin,
    /// Scrape `/metrics` on the main listener (§12).
    MetricsRead,
    /// An employee's own data under `/me/v1` (§11).
    MeRead,
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::ConnectorWrite,
        Scope::AppsWrite,
        Scope::ReportRead,
        Scope::AppsRead,
        Scope::UsersRead,
        Scope::ActivityWrite,
        Scope::Admin,
        Scope::MetricsRead,
        Scope::MeRead,
    ];
    /// The scopes a viewer's API key carries.
    pub const READ: [Scope; 3] = [Scope::ReportRead, Scope::AppsRead, Scope::UsersRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ConnectorWrite => "connector.write",
            Scope::AppsWrite => "apps.write",
            Scope::ReportRead => "report.read",
            Scope::AppsRead => "apps.read",
            Scope::UsersRead => "users.read",
            Scope::ActivityWrite => "activity.write",
            Scope::Admin => "admin",
            Scope::MetricsRead => "metrics.read",
            Scope::MeRead => "me.read",
        }
    }

    /// Parses a scope name, also in its URI form (`https://api.example.com/report.read`).
    pub fn parse(text: &str) -> Option<Scope> {
        let name = text.rsplit('/').next().unwrap_or(text);
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, stored as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u16);

impl ScopeSet {
    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
    pub fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }
    /// The scopes in both sets (a credential never exceeds the user behind it).
    pub fn intersection(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_string()).collect()
    }
    /// Parses names; returns the first unknown name as the error.
    pub fn parse_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        names
            .into_iter()
            .map(|n| Scope::parse(n).ok_or_else(|| n.to_string()))
            .collect()
    }
    /// Space-separated, as OAuth2 writes scopes.
    pub fn to_oauth_string(self) -> String {
        self.names().join(" ")
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        ScopeSet(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_form_names_the_same_scope() {
        assert_eq!(
            Scope::parse("https://api.productiv.com/report.read"),
            Some(Scope::ReportRead)
        );
        assert_eq!(Scope::parse("report.read"), Some(Scope::ReportRead));
        assert_eq!(Scope::parse("report.write"), None);
    }

    #[test]
    fn sets_know_subsets() {
        let read: ScopeSet = Scope::READ.into_iter().collect();
        assert!(read.is_subset_of(ScopeSet::all()));
        assert!(!ScopeSet::all().is_subset_of(read));
        assert_eq!(
            ScopeSet::parse_names(["admin", "bogus"]),
            Err("bogus".to_string())
        );
        assert_eq!(read.to_oauth_string(), "report.read apps.read users.read");
    }
}
