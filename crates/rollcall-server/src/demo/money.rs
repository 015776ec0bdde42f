//! The demo's contracts (one per app, some with more licences bought than
//! assigned) and spend (annual invoices, monthly invoices, card expenses).

use jiff::civil::Date;
use rollcall_core::money::{Contract, SpendKind, SpendRecord, UNITS_PER_WHOLE};
use rollcall_core::time;

use super::apps::{AppSpec, Seat};
use super::calendar::Calendar;
use super::rng::Rng;

/// What an app's licences cost a year, by the tiers held.
fn seats_cost(spec: &AppSpec, seats: &[Seat]) -> f64 {
    seats.iter().map(|s| spec.tiers[s.tier].cost).sum()
}

fn units(amount: f64) -> i64 {
    (amount * UNITS_PER_WHOLE as f64).round() as i64
}

fn month_start(date: Date) -> Date {
    date.first_of_month()
}

/// One contract per app, started on the first of a month within the last year.
pub fn contract(
    spec: &AppSpec,
    app_id: &str,
    seats: &[Seat],
    cal: &Calendar,
    rng: &mut Rng,
) -> Contract {
    let today = time::date_of_day_number(cal.last_day + 1);
    let start = month_start(time::date_of_day_number(
        cal.last_day - rng.range(20, 330) as i32,
    ));
    let end = start
        .checked_add(jiff::Span::new().years(1).days(-1))
        .unwrap_or(today);
    // Licences bought at renewal: what was assigned plus a cushion that often
    // went unused.
    let bought = seats.len() as f64 * (1.0 + rng.unit() * 0.25);
    let cost = seats_cost(spec, seats) * bought / (seats.len().max(1) as f64);
    // Volume discount.
    let cost = (cost * (0.85 + rng.unit() * 0.1) / 10.0).round() * 10.0;
    Contract {
        contract_id: format!("NW-{}-{}", slug(spec.name), start.year()),
        app_id: app_id.to_string(),
        vendor: Some(spec.vendor.to_string()),
        start_date: start.to_string(),
        end_date: end.to_string(),
        licenses_purchased: bought.ceil() as i64,
        annual_cost_units: units(cost),
        currency: "USD".into(),
    }
}

fn slug(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or(name)
        .to_uppercase()
}

/// Spend over the last year: apps billed annually have one invoice at the
/// contract's start, the others a monthly invoice; some apps also have card
/// expenses (extra seats bought by a team).
pub fn spend(
    spec: &AppSpec,
    app_index: usize,
    app_id: &str,
    contract: &Contract,
    cal: &Calendar,
    rng: &mut Rng,
) -> Vec<SpendRecord> {
    let mut out = Vec::new();
    let today_ms = time::start_of_day_ms(
        time::date_of_day_number(cal.last_day + 1),
        &jiff::tz::TimeZone::UTC,
    );
    let annual = rollcall_core::money::units_to_f64(contract.annual_cost_units);
    let base = |kind, sig: String, created: Date, amount: f64, name: &str| SpendRecord {
        signature_id: sig.clone(),
        app_id: app_id.to_string(),
        created_ms: time::start_of_day_ms(created, &jiff::tz::TimeZone::UTC) + 10 * 3_600_000,
        amount_units: units(amount),
        currency: "USD".into(),
        kind,
        vendor: Some(spec.vendor.to_string()),
        identifier: Some(sig),
        name: Some(name.to_string()),
        category: Some(spec.category.to_string()),
    };
    let start: Date = contract.start_date.parse().unwrap_or(Date::ZERO);
    if app_index.is_multiple_of(2) {
        out.push(base(
            SpendKind::Invoice,
            format!("INV-{}-{}", slug(spec.name), start.year()),
            start,
            annual,
            "Annual subscription",
        ));
    } else {
        let mut month = month_start(time::date_of_day_number(cal.last_day - 360));
        while time::start_of_day_ms(month, &jiff::tz::TimeZone::UTC) < today_ms {
            let amount = (annual / 12.0 * (0.97 + rng.unit() * 0.06) * 100.0).round() / 100.0;
            out.push(base(
                SpendKind::Invoice,
                format!(
                    "INV-{}-{}{:02}",
                    slug(spec.name),
                    month.year(),
                    month.month()
                ),
                month,
                amount,
                "Monthly subscription",
            ));
            let Ok(next) = month.checked_add(jiff::Span::new().months(1)) else {
                break;
            };
            month = next;
        }
    }
    for i in 0..rng.below(4) {
        let day = time::date_of_day_number(cal.last_day - rng.range(1, 300) as i32);
        let amount = spec.tiers[spec.tiers.len() - 1].cost.max(25.0) * rng.range(1, 3) as f64;
        out.push(base(
            SpendKind::Expense,
            format!("EXP-{}-{}-{}", slug(spec.name), day, i),
            day,
            amount,
            "Extra seats (company card)",
        ));
    }
    out
}
