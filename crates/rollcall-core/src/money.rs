//! Money (SPEC §4): the validated forms of spend records and contracts, exact
//! decimal amounts, ISO 4217 currency codes, the CSV column layouts, and the PDF
//! check for contract files. Pure logic shared by every store backend and the
//! HTTP layer.
//!
//! Amounts are kept exactly, as integer ten-thousandths of the currency unit
//! ("units"), so sums never drift the way binary floating point does: `12.34`
//! is `123400`. At most four decimal places are accepted (enough for every ISO
//! 4217 minor unit, which has at most three) and at most 100 billion in
//! magnitude per record.
//!
//! CSV layouts (UTF-8, comma-separated — or semicolon/tab-separated when the
//! header row has no comma; the header row names the columns, in any order,
//! matched without regard to case; a column not listed here, or a required one missing, is
//! rejected; the download writes every column in this order, so a downloaded file
//! uploads again unchanged):
//!
//! - spend: `signatureId,appId,created,amount,currency,type,vendor,identifier,name,category`
//!   (required: `signatureId`, `appId`, `created`, `amount`, `currency`, `type`;
//!   `created` is Unix milliseconds or an RFC 3339 instant; `type` is `expense` or
//!   `invoice`).
//! - contracts: `contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency`
//!   (all required but `vendor`; dates `YYYY-MM-DD`, `endDate` not before
//!   `startDate`; `licensesPurchased` a whole number ≥ 0; `annualCost` ≥ 0).

use serde_json::Value;

use crate::time;

/// Largest length (in characters) of an id or a free-text field.
pub const MAX_TEXT: usize = 255;
/// Amounts are stored in units of 1/`UNITS_PER_WHOLE` of the currency.
pub const UNITS_PER_WHOLE: i64 = 10_000;
/// Largest magnitude of one amount, in whole currency units.
pub const MAX_WHOLE_AMOUNT: i64 = 100_000_000_000;
/// Largest contract file accepted, in bytes.
pub const MAX_CONTRACT_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Largest number of records in one finance JSON request.
pub const MAX_FINANCE_BATCH: usize = 1_000;
/// Largest number of data rows in one CSV upload.
pub const MAX_CSV_ROWS: usize = 100_000;
/// Latest instant accepted for `created` (9999-12-31T23:59:59.999Z).
const MAX_CREATED_MS: i64 = 253_402_300_799_999;

/// One problem with one field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl FieldProblem {
    fn new(field: &str, message: impl Into<String>) -> Self {
        FieldProblem {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// `expense` or `invoice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpendKind {
    Expense,
    Invoice,
}

impl SpendKind {
    /// Case-insensitive, surrounding blanks ignored.
    pub fn parse(text: &str) -> Option<SpendKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "expense" => Some(SpendKind::Expense),
            "invoice" => Some(SpendKind::Invoice),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SpendKind::Expense => "expense",
            SpendKind::Invoice => "invoice",
        }
    }
}

/// A validated spend record (finance JSON or a spend CSV row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRecord {
    /// The natural key: unique within an account.
    pub signature_id: String,
    pub app_id: String,
    /// Unix ms.
    pub created_ms: i64,
    /// Ten-thousandths of the currency unit.
    pub amount_units: i64,
    pub currency: String,
    pub kind: SpendKind,
    pub vendor: Option<String>,
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub category: Option<String>,
}

/// A validated contract (a contracts CSV row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// The natural key: unique within an account.
    pub contract_id: String,
    pub app_id: String,
    pub vendor: Option<String>,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// `YYYY-MM-DD`, not before `start_date`.
    pub end_date: String,
    pub licenses_purchased: i64,
    /// Ten-thousandths of the currency unit, per year.
    pub annual_cost_units: i64,
    pub currency: String,
}

/// Raw text of a spend record's fields, as a CSV row or JSON object gives them;
/// `None` (or blank) = absent.
#[derive(Debug, Clone, Default)]
pub struct SpendFields<'a> {
    pub signature_id: Option<&'a str>,
    pub app_id: Option<&'a str>,
    pub created: Option<&'a str>,
    pub amount: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub vendor: Option<&'a str>,
    pub identifier: Option<&'a str>,
    pub name: Option<&'a str>,
    pub category: Option<&'a str>,
}

/// Raw text of a contract's fields.
#[derive(Debug, Clone, Default)]
pub struct ContractFields<'a> {
    pub contract_id: Option<&'a str>,
    pub app_id: Option<&'a str>,
    pub vendor: Option<&'a str>,
    pub start_date: Option<&'a str>,
    pub end_date: Option<&'a str>,
    pub licenses_purchased: Option<&'a str>,
    pub annual_cost: Option<&'a str>,
    pub currency: Option<&'a str>,
}

/// Spend CSV columns, in download order.
pub const SPEND_COLUMNS: &[&str] = &[
    "signatureId",
    "appId",
    "created",
    "amount",
    "currency",
    "type",
    "vendor",
    "identifier",
    "name",
    "category",
];
/// Spend CSV columns that must be present.
pub const SPEND_REQUIRED: &[&str] = &[
    "signatureId",
    "appId",
    "created",
    "amount",
    "currency",
    "type",
];
/// Contracts CSV columns, in download order.
pub const CONTRACT_COLUMNS: &[&str] = &[
    "contractId",
    "appId",
    "vendor",
    "startDate",
    "endDate",
    "licensesPurchased",
    "annualCost",
    "currency",
];
/// Contracts CSV columns that must be present.
pub const CONTRACT_REQUIRED: &[&str] = &[
    "contractId",
    "appId",
    "startDate",
    "endDate",
    "licensesPurchased",
    "annualCost",
    "currency",
];

/// Matches a CSV header row against `known` columns: for each known column, the
/// position of its header cell, if present. Unknown, repeated or missing required
/// columns are an error saying which.
pub fn map_columns(
    header: &[&str],
    known: &[&str],
    required: &[&str],
) -> Result<Vec<Option<usize>>, String> {
    let mut positions = vec![None; known.len()];
    let mut unknown = Vec::new();
    for (i, cell) in header.iter().enumerate() {
        // A UTF-8 byte order mark, which spreadsheet programs like to write, is not part of the name.
        let name = cell.trim_start_matches('\u{feff}').trim();
        match known.iter().position(|k| k.eq_ignore_ascii_case(name)) {
            Some(k) if positions[k].is_some() => {
                return Err(format!(
                    "column '{}' appears twice in the header row",
                    known[k]
                ));
            }
            Some(k) => positions[k] = Some(i),
            None => unknown.push(if name.is_empty() {
                format!("(empty, column {})", i + 1)
            } else {
                name.to_string()
            }),
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .filter(|r| {
            known
                .iter()
                .position(|k| k == *r)
                .is_none_or(|k| positions[k].is_none())
        })
        .copied()
        .collect();
    let mut problems = Vec::new();
    if !unknown.is_empty() {
        problems.push(format!("unknown column(s) {}", unknown.join(", ")));
    }
    if !missing.is_empty() {
        problems.push(format!("missing required column(s) {}", missing.join(", ")));
    }
    if problems.is_empty() {
        Ok(positions)
    } else {
        Err(format!(
            "the header row is not valid: {}; the columns are {}",
            problems.join("; "),
            known.join(",")
        ))
    }
}

/// The field separator of a CSV upload, judged from its header row: `,` unless
/// the header has no comma but semicolons (spreadsheets in many European locales
/// export that way) or tabs.
pub fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let header = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let has = |c: u8| header.contains(&c);
    if has(b',') {
        b','
    } else if has(b';') {
        b';'
    } else if has(b'\t') {
        b'\t'
    } else {
        b','
    }
}

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// An id: 1 to 255 characters, no control characters, no surrounding blanks.
fn id_field(field: &str, value: Option<&str>, problems: &mut Vec<FieldProblem>) -> String {
    match present(value) {
        None => {
            problems.push(FieldProblem::new(field, format!("{field} is required")));
            String::new()
        }
        Some(v) => {
            if v.chars().count() > MAX_TEXT {
                problems.push(FieldProblem::new(
                    field,
                    format!("{field} must have at most {MAX_TEXT} characters"),
                ));
            } else if v.chars().any(char::is_control) {
                problems.push(FieldProblem::new(
                    field,
                    format!("{field} must not contain control characters"),
                ));
            }
            v.to_string()
        }
    }
}

/// Optional free text: blank = absent, at most 255 characters.
fn text_field(
    field: &str,
    value: Option<&str>,
    problems: &mut Vec<FieldProblem>,
) -> Option<String> {
    let v = present(value)?;
    if v.chars().count() > MAX_TEXT {
        problems.push(FieldProblem::new(
            field,
            format!("{field} must have at most {MAX_TEXT} characters"),
        ));
    } else if v.chars().any(|c| c.is_control() && c != '\t') {
        problems.push(FieldProblem::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Some(v.to_string())
}

fn required<'a>(
    field: &str,
    value: Option<&'a str>,
    problems: &mut Vec<FieldProblem>,
) -> Option<&'a str> {
    let v = present(value);
    if v.is_none() {
        problems.push(FieldProblem::new(field, format!("{field} is required")));
    }
    v
}

fn currency_field(value: Option<&str>, problems: &mut Vec<FieldProblem>) -> String {
    match required("currency", value, problems) {
        Some(c) => match parse_currency(c) {
            Ok(c) => c,
            Err(m) => {
                problems.push(FieldProblem::new("currency", m));
                String::new()
            }
        },
        None => String::new(),
    }
}

/// Validates a spend record; every problem is reported, not just the first.
pub fn validate_spend(f: &SpendFields<'_>) -> Result<SpendRecord, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let signature_id = id_field("signatureId", f.signature_id, &mut problems);
    let app_id = id_field("appId", f.app_id, &mut problems);
    let created_ms = required("created", f.created, &mut problems)
        .map(|c| {
            parse_created(c).unwrap_or_else(|m| {
                problems.push(FieldProblem::new("created", m));
                0
            })
        })
        .unwrap_or(0);
    let amount_units = required("amount", f.amount, &mut problems)
        .map(|a| {
            parse_amount(a).unwrap_or_else(|m| {
                problems.push(FieldProblem::new("amount", m));
                0
            })
        })
        .unwrap_or(0);
    let currency = currency_field(f.currency, &mut problems);
    let kind = required("type", f.kind, &mut problems).and_then(|k| {
        let kind = SpendKind::parse(k);
        if kind.is_none() {
            problems.push(FieldProblem::new(
                "type",
                format!("type '{k}' is not one of expense, invoice"),
            ));
        }
        kind
    });
    let vendor = text_field("vendor", f.vendor, &mut problems);
    let identifier = text_field("identifier", f.identifier, &mut problems);
    let name = text_field("name", f.name, &mut problems);
    let category = text_field("category", f.category, &mut problems);
    match (kind, problems.is_empty()) {
        (Some(kind), true) => Ok(SpendRecord {
            signature_id,
            app_id,
            created_ms,
            amount_units,
            currency,
            kind,
            vendor,
            identifier,
            name,
            category,
        }),
        _ => Err(problems),
    }
}

/// Validates a contract; every problem is reported, not just the first.
pub fn validate_contract(f: &ContractFields<'_>) -> Result<Contract, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let contract_id = id_field("contractId", f.contract_id, &mut problems);
    let app_id = id_field("appId", f.app_id, &mut problems);
    let vendor = text_field("vendor", f.vendor, &mut problems);
    let mut date = |field: &str, value: Option<&str>| -> Option<String> {
        let v = required(field, value, &mut problems)?;
        match time::parse_date(v) {
            Ok(d) => Some(d.to_string()),
            Err(m) => {
                problems.push(FieldProblem::new(field, format!("{field}: {m}")));
                None
            }
        }
    };
    let start_date = date("startDate", f.start_date);
    let end_date = date("endDate", f.end_date);
    if let (Some(s), Some(e)) = (&start_date, &end_date) {
        // ISO dates of four-digit years order like the calendar.
        if e < s {
            problems.push(FieldProblem::new(
                "endDate",
                format!("endDate {e} is before startDate {s}"),
            ));
        }
    }
    let licenses_purchased = required("licensesPurchased", f.licenses_purchased, &mut problems)
        .and_then(|l| match l.parse::<i64>() {
            Ok(n) if (0..=1_000_000_000).contains(&n) => Some(n),
            _ => {
                problems.push(FieldProblem::new(
                    "licensesPurchased",
                    format!("licensesPurchased '{l}' is not a whole number from 0 to 1000000000"),
                ));
                None
            }
        })
        .unwrap_or(0);
    let annual_cost_units = required("annualCost", f.annual_cost, &mut problems)
        .and_then(|a| match parse_amount(a) {
            Ok(u) if u >= 0 => Some(u),
            Ok(_) => {
                problems.push(FieldProblem::new(
                    "annualCost",
                    "annualCost must not be negative",
                ));
                None
            }
            Err(m) => {
                problems.push(FieldProblem::new("annualCost", m));
                None
            }
        })
        .unwrap_or(0);
    let currency = currency_field(f.currency, &mut problems);
    match (start_date, end_date, problems.is_empty()) {
        (Some(start_date), Some(end_date), true) => Ok(Contract {
            contract_id,
            app_id,
            vendor,
            start_date,
            end_date,
            licenses_purchased,
            annual_cost_units,
            currency,
        }),
        _ => Err(problems),
    }
}

/// JSON keys of a finance record.
const FINANCE_KEYS: &[&str] = &[
    "signatureId",
    "created",
    "amount",
    "currency",
    "type",
    "vendor",
    "identifier",
    "name",
    "category",
];

/// Validates one record of a finance JSON batch for `app_id`. Numbers may be given
/// as JSON numbers or as strings; unknown keys are rejected.
pub fn spend_from_json(value: &Value, app_id: &str) -> Result<SpendRecord, Vec<FieldProblem>> {
    let Value::Object(map) = value else {
        return Err(vec![FieldProblem::new(
            "record",
            "each record must be a JSON object",
        )]);
    };
    let mut problems = Vec::new();
    for key in map.keys() {
        if !FINANCE_KEYS.contains(&key.as_str()) {
            problems.push(FieldProblem::new(
                key,
                format!(
                    "unknown field '{key}'; the fields are {}",
                    FINANCE_KEYS.join(", ")
                ),
            ));
        }
    }
    let mut texts: Vec<Option<String>> = Vec::with_capacity(FINANCE_KEYS.len());
    for key in FINANCE_KEYS {
        texts.push(match map.get(*key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(number_text(n)),
            Some(_) => {
                problems.push(FieldProblem::new(
                    key,
                    format!("{key} must be a string or a number"),
                ));
                None
            }
        });
    }
    let get = |i: usize| texts.get(i).and_then(|t| t.as_deref());
    let fields = SpendFields {
        signature_id: get(0),
        app_id: Some(app_id),
        created: get(1),
        amount: get(2),
        currency: get(3),
        kind: get(4),
        vendor: get(5),
        identifier: get(6),
        name: get(7),
        category: get(8),
    };
    match validate_spend(&fields) {
        Ok(record) if problems.is_empty() => Ok(record),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// A JSON number as text: whole floats (`1.7e12`) become integers so that they
/// can be milliseconds.
fn number_text(n: &serde_json::Number) -> String {
    if n.is_f64() {
        if let Some(f) = n.as_f64() {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                return format!("{}", f as i64);
            }
        }
    }
    n.to_string()
}

/// `created`: Unix milliseconds, or an RFC 3339 instant.
pub fn parse_created(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let ms = if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>()
            .map_err(|_| format!("created '{text}' is out of range"))?
    } else if text.starts_with('-') && text[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("created '{text}' is before 1970"));
    } else {
        time::parse_instant_ms(text).map_err(|m| {
            format!("created must be Unix milliseconds or an ISO 8601 timestamp: {m}")
        })?
    };
    if !(0..=MAX_CREATED_MS).contains(&ms) {
        return Err(format!(
            "created '{text}' is out of range (1970 to 9999, in milliseconds)"
        ));
    }
    Ok(ms)
}

/// Parses a plain decimal amount (`-12.5`, `1234.5678`) into ten-thousandths.
pub fn parse_amount(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "amount '{text}' is not a plain decimal number such as 1234.56 (no thousands separators, at most 4 decimal places)"
        )
    };
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    if (whole.is_empty() && fraction.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > 4 {
        return Err(bad());
    }
    let whole_value: i64 = if whole.is_empty() {
        0
    } else {
        let trimmed = whole.trim_start_matches('0');
        if trimmed.len() > 12 {
            return Err(too_large(text));
        }
        trimmed.parse().unwrap_or(0)
    };
    if whole_value > MAX_WHOLE_AMOUNT {
        return Err(too_large(text));
    }
    let mut fraction_value: i64 = 0;
    for i in 0..4 {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| i64::from(b - b'0'));
        fraction_value = fraction_value * 10 + digit;
    }
    let units = whole_value * UNITS_PER_WHOLE + fraction_value;
    Ok(if negative { -units } else { units })
}

fn too_large(text: &str) -> String {
    format!("amount '{text}' is larger than {MAX_WHOLE_AMOUNT}")
}

/// Ten-thousandths as a plain decimal with at least two decimal places
/// (`123400` → `12.34`, `5` → `0.0005`, `-10000` → `-1.00`).
pub fn format_amount(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    let whole = abs / UNITS_PER_WHOLE as u64;
    let fraction = format!("{:04}", abs % UNITS_PER_WHOLE as u64);
    let mut fraction = fraction.trim_end_matches('0').to_string();
    while fraction.len() < 2 {
        fraction.push('0');
    }
    format!("{sign}{whole}.{fraction}")
}

/// Ten-thousandths as a floating-point amount (for JSON bodies and summaries).
pub fn units_to_f64(units: i64) -> f64 {
    units as f64 / UNITS_PER_WHOLE as f64
}

/// Sums amounts without overflow (i128 holds any realistic number of records).
pub fn sum_units(units: impl IntoIterator<Item = i64>) -> i128 {
    units.into_iter().map(i128::from).sum()
}

/// Ten-thousandths (possibly a large sum) as a floating-point amount.
pub fn wide_units_to_f64(units: i128) -> f64 {
    units as f64 / UNITS_PER_WHOLE as f64
}

/// An ISO 4217 currency code: three upper-case letters naming a current currency
/// (or a fund, precious metal or test code of the standard).
pub fn parse_currency(text: &str) -> Result<String, String> {
    let code = text.trim();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "currency '{code}' is not an ISO 4217 code of three upper-case letters such as USD"
        ));
    }
    if ISO_4217.binary_search(&code).is_err() {
        return Err(format!(
            "currency '{code}' is not an ISO 4217 currency code"
        ));
    }
    Ok(code.to_string())
}

/// ISO 4217 alphabetic codes (list one, current, with funds and special codes), sorted.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR",
    "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW",
    "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG",
    "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
    "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG",
    "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG",
    "ZWL",
];

/// Checks that `bytes` are a PDF document: the `%PDF-` header at the start and
/// the `%%EOF` marker near the end (a truncated upload lacks it).
pub fn check_pdf(bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("the request body is empty; send the PDF file as the body".into());
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(
            "the file is not a PDF (it does not start with %PDF-); send the PDF file itself as the request body"
                .into(),
        );
    }
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err("the PDF is incomplete: it has no %%EOF marker at its end".into());
    }
    Ok(())
}

/// Checks a contract file's name: 1 to 255 characters, no control characters, no
/// path separators.
pub fn check_file_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_TEXT {
        return Err(format!("name must have 1 to {MAX_TEXT} characters"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err("name must not contain control characters, '/' or '\\'".into());
    }
    Ok(name.to_string())
}

/// A `Content-Disposition` value that offers `name` as the download's file name:
/// an ASCII fallback plus the exact UTF-8 name (RFC 6266 / RFC 5987).
pub fn attachment_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_exact_ten_thousandths() {
        assert_eq!(parse_amount("12.34"), Ok(123_400));
        assert_eq!(parse_amount("-0.5"), Ok(-5_000));
        assert_eq!(parse_amount("+7"), Ok(70_000));
        assert_eq!(parse_amount(".25"), Ok(2_500));
        assert_eq!(parse_amount("1.23450000"), Ok(12_345));
        assert_eq!(parse_amount("0.0001"), Ok(1));
        assert!(parse_amount("0.00001").is_err());
        assert!(parse_amount("1,000.00").is_err());
        assert!(parse_amount("1e3").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount("-").is_err());
        assert!(parse_amount(".").is_err());
        assert!(parse_amount("12.3.4").is_err());
        assert!(parse_amount("100000000001").is_err());
        assert!(parse_amount("99999999999999999999999").is_err());
        assert_eq!(
            parse_amount("100000000000"),
            Ok(MAX_WHOLE_AMOUNT * UNITS_PER_WHOLE)
        );
    }

    #[test]
    fn amounts_format_back_to_what_parses() {
        assert_eq!(format_amount(123_400), "12.34");
        assert_eq!(format_amount(5), "0.0005");
        assert_eq!(format_amount(-10_000), "-1.00");
        assert_eq!(format_amount(0), "0.00");
        for units in [
            0,
            1,
            99,
            123_456,
            -987_654_321,
            MAX_WHOLE_AMOUNT * UNITS_PER_WHOLE,
        ] {
            assert_eq!(parse_amount(&format_amount(units)), Ok(units));
        }
        // Sums that would overflow i64 do not overflow i128.
        let big = sum_units([i64::MAX, i64::MAX]);
        assert_eq!(big, 2 * i128::from(i64::MAX));
    }

    #[test]
    fn currencies_are_iso_4217_codes() {
        assert_eq!(parse_currency("USD"), Ok("USD".into()));
        assert_eq!(parse_currency(" EUR "), Ok("EUR".into()));
        assert!(parse_currency("usd").is_err());
        assert!(parse_currency("US").is_err());
        assert!(parse_currency("USDX").is_err());
        assert!(parse_currency("ABC").is_err());
        assert!(
            ISO_4217.windows(2).all(|w| w[0] < w[1]),
            "list must stay sorted"
        );
    }

    #[test]
    fn created_takes_ms_or_rfc3339() {
        assert_eq!(parse_created("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_created("2020-01-01T00:00:00Z"), Ok(1_577_836_800_000));
        assert!(parse_created("-5").is_err());
        assert!(parse_created("yesterday").is_err());
        assert!(parse_created("99999999999999999").is_err());
    }

    #[test]
    fn a_spend_record_reports_every_problem() {
        let fields = SpendFields {
            signature_id: Some(" "),
            app_id: Some("app"),
            created: Some("x"),
            amount: Some("1,5"),
            currency: Some("usd"),
            kind: Some("gift"),
            ..SpendFields::default()
        };
        let problems = validate_spend(&fields).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["signatureId", "created", "amount", "currency", "type"]
        );
    }

    #[test]
    fn a_finance_record_from_json() {
        let record = spend_from_json(
            &json!({"signatureId": "s1", "created": 1.7e12, "amount": 12.5,
                    "currency": "USD", "type": "Invoice", "vendor": "Acme", "name": null}),
            "mail",
        )
        .unwrap();
        assert_eq!(record.created_ms, 1_700_000_000_000);
        assert_eq!(record.amount_units, 125_000);
        assert_eq!(record.kind, SpendKind::Invoice);
        assert_eq!(record.vendor.as_deref(), Some("Acme"));
        assert_eq!(record.name, None);
        assert_eq!(record.app_id, "mail");
        let problems = spend_from_json(
            &json!({"signatureId": "s1", "created": 1, "amount": "1", "currency": "USD",
                    "type": "expense", "colour": "red", "vendor": ["x"]}),
            "mail",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(spend_from_json(&json!([1]), "mail").is_err());
    }

    #[test]
    fn a_contract_checks_dates_and_numbers() {
        let ok = validate_contract(&ContractFields {
            contract_id: Some("c1"),
            app_id: Some("mail"),
            vendor: Some(""),
            start_date: Some("2026-01-01"),
            end_date: Some("2026-12-31"),
            licenses_purchased: Some("50"),
            annual_cost: Some("1200.5"),
            currency: Some("EUR"),
        })
        .unwrap();
        assert_eq!(ok.vendor, None);
        assert_eq!(ok.annual_cost_units, 12_005_000);
        let problems = validate_contract(&ContractFields {
            contract_id: Some("c1"),
            app_id: Some("mail"),
            vendor: None,
            start_date: Some("2026-12-31"),
            end_date: Some("2026-01-01"),
            licenses_purchased: Some("-1"),
            annual_cost: Some("-3"),
            currency: Some("EUR"),
        })
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["endDate", "licensesPurchased", "annualCost"]);
        assert!(validate_contract(&ContractFields {
            start_date: Some("2026-02-30"),
            ..ContractFields::default()
        })
        .is_err());
    }

    #[test]
    fn header_rows_are_matched_by_name() {
        let map = map_columns(
            &[
                "\u{feff}AppId",
                "signatureid",
                "created",
                "amount",
                "currency",
                "type",
            ],
            SPEND_COLUMNS,
            SPEND_REQUIRED,
        )
        .unwrap();
        assert_eq!(map[0], Some(1));
        assert_eq!(map[1], Some(0));
        assert_eq!(map[6], None);
        let err =
            map_columns(&["signatureId", "colour"], SPEND_COLUMNS, SPEND_REQUIRED).unwrap_err();
        assert!(err.contains("colour") && err.contains("appId"), "{err}");
        assert!(map_columns(&["appId", "appId"], SPEND_COLUMNS, &[]).is_err());
    }

    #[test]
    fn delimiters_are_sniffed_from_the_header() {
        assert_eq!(sniff_delimiter(b"a,b;c\n1;2"), b',');
        assert_eq!(sniff_delimiter(b"a;b;c\n1,5;2"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n"), b'\t');
        assert_eq!(sniff_delimiter(b"signatureId"), b',');
        assert_eq!(sniff_delimiter(b""), b',');
    }

    #[test]
    fn pdfs_are_recognised() {
        assert!(check_pdf(b"%PDF-1.7\n1 0 obj\n%%EOF\n").is_ok());
        assert!(check_pdf(b"").is_err());
        assert!(check_pdf(b"PK\x03\x04 zip").is_err());
        assert!(check_pdf(b"%PDF-1.7 truncated").is_err());
    }

    #[test]
    fn file_names_and_dispositions() {
        assert_eq!(check_file_name(" a.pdf "), Ok("a.pdf".into()));
        assert!(check_file_name("../etc/passwd").is_err());
        assert!(check_file_name("").is_err());
        assert_eq!(
            attachment_disposition("Vertrag März \"2026\".pdf"),
            "attachment; filename=\"Vertrag M_rz _2026_.pdf\"; filename*=UTF-8''Vertrag%20M%C3%A4rz%20%222026%22.pdf"
        );
    }
}
