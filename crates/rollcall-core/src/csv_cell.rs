//! CSV cells made safe to open in a spreadsheet ("CSV injection").
//!
//! A cell that starts with `=`, `+`, `-` or `@` is run as a formula by Excel,
//! LibreOffice and Google Sheets; names and titles come from org charts and
//! agents, so any of them may carry one. Such a cell gets a leading `'`, which
//! the spreadsheet shows as text. A cell that is a plain number (`-12.5`) is
//! left alone: negative amounts must stay numbers, and a number is no formula.

use std::borrow::Cow;

/// The characters that start a formula.
const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];

/// `cell`, prefixed with `'` when a spreadsheet would read it as a formula.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// An optional sign, digits, and at most one decimal point (nothing else).
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let mut points = 0;
    !digits.is_empty()
        && digits.chars().any(|c| c.is_ascii_digit())
        && digits.chars().all(|c| {
            if c == '.' {
                points += 1;
                points == 1
            } else {
                c.is_ascii_digit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formulas_get_a_quote_and_numbers_and_text_stay() {
        for (cell, want) in [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1+1", "'+1+1"),
            ("-Ops", "'-Ops"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-", "'-"),
            ("-12.50", "-12.50"),
            ("+3", "+3"),
            ("1.2.3", "1.2.3"),
            ("-1.2.3", "'-1.2.3"),
            ("Ana", "Ana"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(neutralise(cell), want, "{cell}");
        }
    }
}
