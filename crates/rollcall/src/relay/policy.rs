//! The account's capture policy (SPEC §11) applied to the relay's records
//! before they leave the computer.
//!
//! Before each upload the uploader asks the server which capture is in force
//! for this relay's login (`GET /agent/v1/capture`) and drops what it drops:
//! `domains` keeps the application and the URL's domain, `apps` the
//! application, `off` nothing (the batch is acknowledged locally and never
//! sent). Records of a backlog are filtered by the policy in force when they
//! are uploaded. Redaction rules stay on the server, which applies the whole
//! policy again on arrival.

use rollcall_core::privacy::Capture;
use rollcall_core::workforce::website_domain;
use serde_json::Value;

/// Asks the server for the capture of one login.
pub struct ServerPolicy {
    pub http: reqwest::Client,
    /// `{server}/agent/v1/capture`.
    pub url: String,
    pub api_key: String,
    pub login_domain: String,
    pub name: String,
}

/// Why the capture is not known yet (the upload waits and asks again).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot reach the server for the capture policy: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("the server answered {0} to the capture policy request")]
    Refused(reqwest::StatusCode),
}

impl ServerPolicy {
    /// The capture in force now. A server that does not know the endpoint
    /// (404: it predates capture policies) keeps everything, as it would.
    pub async fn fetch(&self) -> Result<Capture, PolicyError> {
        let response = self
            .http
            .get(&self.url)
            .bearer_auth(&self.api_key)
            .query(&[
                ("loginDomain", self.login_domain.as_str()),
                ("name", self.name.as_str()),
            ])
            .send()
            .await?;
        match response.status() {
            s if s.is_success() => {
                let body: Value = response.json().await?;
                serde_json::from_value(body["capture"].clone()).map_err(|_| PolicyError::Refused(s))
            }
            reqwest::StatusCode::NOT_FOUND => Ok(Capture::Full),
            s => Err(PolicyError::Refused(s)),
        }
    }
}

/// Drops from §5 records (`executable`, `description`, `url`) what `capture`
/// drops; `off` removes every record.
pub fn apply(capture: Capture, records: &mut Vec<Value>) {
    match capture {
        Capture::Full => {}
        Capture::Off => records.clear(),
        Capture::Apps | Capture::Domains => {
            for record in records.iter_mut() {
                let Some(fields) = record.as_object_mut() else {
                    continue;
                };
                fields.insert("description".into(), Value::String(String::new()));
                let domain = match capture {
                    Capture::Domains => fields
                        .get("url")
                        .and_then(Value::as_str)
                        .and_then(website_domain),
                    _ => None,
                };
                match domain {
                    Some(domain) => fields.insert("url".into(), Value::String(domain)),
                    None => fields.remove("url"),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn records() -> Vec<Value> {
        vec![
            json!({"executable": "chrome", "description": "Inbox (3) - ana@corp.example",
                   "url": "https://mail.example.com/u/0/#inbox"}),
            json!({"executable": "code", "description": "main.rs - rollcall"}),
        ]
    }

    #[test]
    fn each_capture_sends_only_what_it_keeps() {
        let mut full = records();
        apply(Capture::Full, &mut full);
        assert_eq!(full, records());

        let mut domains = records();
        apply(Capture::Domains, &mut domains);
        assert_eq!(
            domains,
            vec![
                json!({"executable": "chrome", "description": "", "url": "mail.example.com"}),
                json!({"executable": "code", "description": ""}),
            ]
        );

        let mut apps = records();
        apply(Capture::Apps, &mut apps);
        assert_eq!(
            apps,
            vec![
                json!({"executable": "chrome", "description": ""}),
                json!({"executable": "code", "description": ""}),
            ]
        );

        let mut off = records();
        apply(Capture::Off, &mut off);
        assert!(off.is_empty());
    }
}
