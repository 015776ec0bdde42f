//! The page shell every dashboard page shares: head, navigation, logout button,
//! and the response headers (strict CSP, no framing, no caching of private data).
//!
//! The CSP allows scripts, styles and requests only from Rollcall itself and no
//! inline script or style at all; htmx is told not to add its inline indicator
//! style nor to evaluate code, so it runs under that policy.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::auth::Caller;

/// The policy on every page.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    WorkingHours,
    Activity,
    Audit,
    Admin,
    /// An employee's own data.
    Me,
    None,
}

const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Overview, "/ui", "Overview"),
    (Nav::WorkingHours, "/ui/workinghours", "Working hours"),
    (Nav::Activity, "/ui/activity", "Activity log"),
    (Nav::Audit, "/ui/audit", "Audit log"),
    (Nav::Admin, "/ui/admin", "Admin"),
];

/// An employee's navigation: their own data only.
const EMPLOYEE_NAV: &[(Nav, &str, &str)] = &[(Nav::Me, "/ui/me", "My data")];

/// A whole page for a logged-in user.
pub fn page(title: &str, caller: &Caller, current: Nav, body: Markup) -> Response {
    let nav_items = if caller.role == rollcall_core::Role::Employee {
        EMPLOYEE_NAV
    } else {
        NAV
    };
    respond(
        StatusCode::OK,
        document(
            title,
            html! {
            body hx-boost="true" {
                a class="visually-hidden" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "Rollcall" }
                    nav aria-label="Main" {
                        ul {
                            @for (nav, href, label) in nav_items {
                                li {
                                    @if *nav == current {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form method="post" action="/ui/logout" hx-boost="false" {
                        span { (caller.actor_email) " · " (caller.role.as_str()) }
                        button type="submit" { "Log out" }
                    }
                }
                main id="main" { h1 { (title) } (body) }
            }
            },
        ),
    )
}

/// `<!DOCTYPE html><html lang="en">` with the head and `body`.
pub fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            (body)
        }
    }
}

/// The page head: title, stylesheet, htmx (deferred; pages work without it).
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
            title { (title) " · Rollcall" }
            link rel="stylesheet" href="/ui/assets/rollcall.css";
            script src="/ui/assets/htmx.min.js" defer {}
        }
    }
}

/// An HTML response with the dashboard's security headers.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status.is_client_error() || status.is_server_error() {
        // A page answering an error (the login form after a failed login) is
        // meant for the browser: the JSON error normaliser must leave it alone.
        crate::error::mark_error_body(&mut response);
    }
    response
}

/// A percentage as the pages print it (the API's number, one decimal at most).
pub fn percent(p: f64) -> String {
    format!("{}%", super::charts::number((p * 10.0).round() / 10.0))
}

/// Money with its currency, to the cent, thousands grouped.
pub fn money(amount: f64, currency: &str) -> String {
    let cents = (amount * 100.0).round() as i64;
    let (whole, frac) = (cents.abs() / 100, cents.abs() % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{grouped}.{frac:02} {currency}")
}

/// A time of day (`HH:MM`) in the account's zone.
pub fn local_time(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime("%H:%M").to_string())
        .unwrap_or_default()
}

/// A date and time (`YYYY-MM-DD HH:MM:SS`) in the account's zone.
pub fn local_datetime(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_keeps_cents() {
        assert_eq!(money(1234567.5, "USD"), "1,234,567.50 USD");
        assert_eq!(money(0.0, "EUR"), "0.00 EUR");
        assert_eq!(money(-12.345, "EUR"), "-12.35 EUR");
    }

    #[test]
    fn percent_has_at_most_one_decimal() {
        assert_eq!(percent(83.333), "83.3%");
        assert_eq!(percent(50.0), "50%");
    }
}
