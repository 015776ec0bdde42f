//! The demo's days: the windows of usage and activity (ending yesterday, so a
//! seed gives the same data all day long), weekends, company holidays and
//! vacations.

use std::collections::HashSet;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use rollcall_core::time;

use super::rng::Rng;

/// Days of usage history.
pub const USAGE_DAYS: i32 = 90;
/// Days of computer activity.
pub const ACTIVITY_DAYS: i32 = 30;

pub struct Calendar {
    /// First day (day number) of usage.
    pub first_day: i32,
    /// Yesterday in the account's time zone.
    pub last_day: i32,
    /// First day of computer activity.
    pub activity_from: i32,
}

impl Calendar {
    /// The windows that end the day before `today`.
    pub fn ending_before(today: Date) -> Calendar {
        let last_day = time::day_number(today) - 1;
        Calendar {
            first_day: last_day - USAGE_DAYS + 1,
            last_day,
            activity_from: last_day - ACTIVITY_DAYS + 1,
        }
    }

    /// A zone the demo names (they are all in the bundled database).
    pub fn zone(&self, name: &str) -> TimeZone {
        TimeZone::get(name).unwrap_or(TimeZone::UTC)
    }

    /// US company holidays (the company closes on them in every office).
    pub fn is_holiday(&self, day: i32) -> bool {
        is_holiday(time::date_of_day_number(day))
    }

    pub fn is_workday(&self, day: i32) -> bool {
        let date = time::date_of_day_number(day);
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_holiday(date)
    }

    /// One person's days off: a week's vacation for about half the people.
    pub fn vacation(&self, rng: &mut Rng) -> HashSet<i32> {
        if !rng.chance(0.5) {
            return HashSet::new();
        }
        let start = rng.range(i64::from(self.first_day), i64::from(self.last_day) - 3) as i32;
        (start..start + 7).collect()
    }
}

fn is_holiday(date: Date) -> bool {
    let (m, d) = (date.month(), date.day());
    let wd = date.weekday();
    matches!((m, d), (1, 1) | (7, 4) | (12, 24) | (12, 25) | (12, 31))
        // Memorial Day, Labor Day, Thanksgiving and the day after.
        || (m == 5 && wd == Weekday::Monday && d > 24)
        || (m == 9 && wd == Weekday::Monday && d <= 7)
        || (m == 11 && wd == Weekday::Thursday && (22..=28).contains(&d))
        || (m == 11 && wd == Weekday::Friday && (23..=29).contains(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holidays_fall_where_the_us_calendar_puts_them() {
        assert!(is_holiday(Date::constant(2026, 11, 26)));
        assert!(is_holiday(Date::constant(2026, 11, 27)));
        assert!(is_holiday(Date::constant(2026, 9, 7)));
        assert!(is_holiday(Date::constant(2026, 12, 25)));
        assert!(!is_holiday(Date::constant(2026, 11, 19)));
        let cal = Calendar::ending_before(Date::constant(2026, 12, 6));
        assert_eq!(cal.last_day - cal.first_day + 1, USAGE_DAYS);
        assert!(!cal.is_workday(time::day_number(Date::constant(2026, 12, 5))));
        assert!(cal.is_workday(time::day_number(Date::constant(2026, 12, 4))));
    }
}
