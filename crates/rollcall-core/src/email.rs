//! Email addresses, compared case-insensitively (SPEC §1: employees are keyed by email).

use std::fmt;

/// A syntactically plausible email address, stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email, &'static str> {
        let text = text.trim();
        if text.is_empty() {
            return Err("email is empty");
        }
        if text.len() > 320 {
            return Err("email is longer than 320 characters");
        }
        let (local, domain) = text.split_once('@').ok_or("email has no '@'")?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err("email is not of the form name@domain");
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("email contains whitespace");
        }
        Ok(Email(text.to_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_case_insensitive() {
        assert_eq!(
            Email::parse(" Joe@MyCompany.com ").unwrap(),
            Email::parse("joe@mycompany.com").unwrap()
        );
    }

    #[test]
    fn rejects_what_is_not_an_email() {
        for bad in ["", "joe", "@x.com", "joe@", "a@b@c", "jo e@x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
