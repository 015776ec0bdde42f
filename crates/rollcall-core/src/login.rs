//! Agent login names (`DOMAIN\name`, SPEC §5 "client") as an employee is bound
//! to them (SPEC §11): compared case-insensitively, as Windows compares them.

/// Longest login accepted (domain, backslash and name).
pub const MAX_LOGIN_CHARS: usize = 300;
/// Most logins one employee may be bound to.
pub const MAX_LOGINS: usize = 50;

/// Why a login name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("a login must not be empty")]
    Empty,
    #[error("a login has at most {MAX_LOGIN_CHARS} characters")]
    TooLong,
    #[error("a login is DOMAIN\\name (or just name) with a non-empty name, got '{0}'")]
    Malformed(String),
    #[error("a login must not contain control characters")]
    Control,
}

/// The canonical form of a login an admin typed: trimmed, lower-case,
/// `domain\name` (or `name` when the agent reports no domain).
pub fn normalize(text: &str) -> Result<String, LoginError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(LoginError::Empty);
    }
    if text.chars().count() > MAX_LOGIN_CHARS {
        return Err(LoginError::TooLong);
    }
    if text.chars().any(char::is_control) {
        return Err(LoginError::Control);
    }
    let (domain, name) = match text.split_once('\\') {
        Some((d, n)) => (d.trim(), n.trim()),
        None => ("", text),
    };
    if name.is_empty() || name.contains('\\') {
        return Err(LoginError::Malformed(text.to_string()));
    }
    Ok(of(domain, name))
}

/// The canonical login of an agent client (`loginDomain`, `name`).
pub fn of(domain: &str, name: &str) -> String {
    if domain.is_empty() {
        name.to_lowercase()
    } else {
        format!("{}\\{}", domain.to_lowercase(), name.to_lowercase())
    }
}

/// Every login of `texts` normalised, without repeats, in the order given;
/// the first refusal with its index.
pub fn normalize_all(texts: &[String]) -> Result<Vec<String>, (usize, LoginError)> {
    let mut out: Vec<String> = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let login = normalize(t).map_err(|e| (i, e))?;
        if !out.contains(&login) {
            out.push(login);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_compare_case_insensitively_with_or_without_domain() {
        assert_eq!(normalize(" CORP\\JDoe ").unwrap(), "corp\\jdoe");
        assert_eq!(normalize("jdoe").unwrap(), "jdoe");
        assert_eq!(of("CORP", "JDoe"), normalize("corp\\jdoe").unwrap());
        assert_eq!(of("", "JDoe"), "jdoe");
        assert_eq!(normalize(""), Err(LoginError::Empty));
        assert!(matches!(normalize("CORP\\"), Err(LoginError::Malformed(_))));
        assert!(matches!(
            normalize("a\\b\\c"),
            Err(LoginError::Malformed(_))
        ));
        assert_eq!(normalize("a\u{7}b"), Err(LoginError::Control));
        assert_eq!(normalize(&"x".repeat(301)), Err(LoginError::TooLong));
        let all = normalize_all(&["A\\b".into(), "a\\B".into(), "c".into()]).unwrap();
        assert_eq!(all, vec!["a\\b".to_string(), "c".to_string()]);
        assert_eq!(normalize_all(&["ok".into(), " ".into()]).unwrap_err().0, 1);
    }
}
