//! The demo's computers: who has an agent, their working days as foreground
//! window records (with lunch breaks and short idle spells), and the
//! classification that makes the working-hours report meaningful.

use rollcall_core::workforce::{website_domain, AppClass, ClassificationSet, Rule, WebClass};
use rollcall_store::workforce::{ActivityBatch, ClientInfo, ComputerInfo, NewRecord};

use super::calendar::Calendar;
use super::company::{Company, Person, LOCATIONS};
use super::rng::Rng;

/// The login domain and the computers' primary domain.
pub const LOGIN_DOMAIN: &str = "NORTHWIND";

/// Which teams have agents, and how many of each.
const TRACKED: &[(&str, usize)] = &[("IT", 12), ("Customer Success", 28), ("Engineering", 20)];

/// (executable, window title, url, weight) of one kind of work.
type Activity = (&'static str, &'static str, Option<&'static str>, u32);

const ENGINEERING: &[Activity] = &[
    (
        "code.exe",
        "main.rs - platform - Visual Studio Code",
        None,
        30,
    ),
    ("windowsterminal.exe", "cargo test - Terminal", None, 10),
    (
        "chrome.exe",
        "Pull request #4812 · CodeHub",
        Some("https://github.com/northwind/platform/pull/4812"),
        14,
    ),
    (
        "chrome.exe",
        "rust - How do I borrow twice? - Stack Overflow",
        Some("https://stackoverflow.com/questions/47618823"),
        7,
    ),
    ("slack.exe", "#platform - Chatter", None, 10),
    ("outlook.exe", "Inbox - Mailwise", None, 5),
    ("zoom.exe", "Sprint planning - Zoom Meeting", None, 6),
    (
        "chrome.exe",
        "Runbook - Wiki",
        Some("https://wiki.northwind.example/eng/runbook"),
        5,
    ),
    (
        "chrome.exe",
        "YouTube",
        Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        2,
    ),
    (
        "chrome.exe",
        "r/programming - Reddit",
        Some("https://www.reddit.com/r/programming"),
        2,
    ),
    ("spotify.exe", "Spotify Premium", None, 2),
];

const SUPPORT: &[Activity] = &[
    (
        "chrome.exe",
        "Ticket #88213 - Helpdesk",
        Some("https://helpdesk.northwind.example/tickets/88213"),
        30,
    ),
    ("outlook.exe", "Inbox - Mailwise", None, 14),
    ("slack.exe", "#support - Chatter", None, 12),
    ("zoom.exe", "Customer call - Zoom Meeting", None, 9),
    (
        "chrome.exe",
        "Acme Corp - DealFlow CRM",
        Some("https://crm.northwind.example/accounts/acme"),
        9,
    ),
    ("excel.exe", "Renewals Q4.xlsx - Excel", None, 5),
    (
        "chrome.exe",
        "Product FAQ - Wiki",
        Some("https://wiki.northwind.example/support/faq"),
        6,
    ),
    (
        "chrome.exe",
        "LinkedIn",
        Some("https://www.linkedin.com/feed/"),
        3,
    ),
    (
        "chrome.exe",
        "Facebook",
        Some("https://www.facebook.com/"),
        2,
    ),
    (
        "chrome.exe",
        "Amazon.com: Online Shopping",
        Some("https://www.amazon.com/"),
        1,
    ),
];

const IT: &[Activity] = &[
    (
        "chrome.exe",
        "Users - Admin console",
        Some("https://admin.northwind.example/users"),
        14,
    ),
    (
        "powershell.exe",
        "Administrator: Windows PowerShell",
        None,
        14,
    ),
    ("mmc.exe", "Active Directory Users and Computers", None, 9),
    ("outlook.exe", "Inbox - Mailwise", None, 10),
    ("slack.exe", "#it-helpdesk - Chatter", None, 10),
    (
        "chrome.exe",
        "Ticket #1207 - Helpdesk",
        Some("https://helpdesk.northwind.example/tickets/1207"),
        10,
    ),
    (
        "chrome.exe",
        "Group Policy docs - Microsoft Learn",
        Some("https://learn.microsoft.com/windows-server/"),
        8,
    ),
    ("teamviewer.exe", "TeamViewer - remote session", None, 6),
    (
        "chrome.exe",
        "Intune deep dive - YouTube",
        Some("https://www.youtube.com/watch?v=intune101"),
        3,
    ),
    ("steamwebhelper.exe", "Steam", None, 1),
];

/// Someone with an agent and their computer.
pub struct Tracked {
    /// Index in [`Company::people`].
    pub person: usize,
    pub computer: ComputerInfo,
    pub client: ClientInfo,
}

/// Who has an agent: every IT and Customer Success person and part of Engineering.
pub fn tracked(company: &Company, rng: &mut Rng) -> Vec<Tracked> {
    let mut out = Vec::new();
    for (team, count) in TRACKED {
        let members = company
            .people
            .iter()
            .enumerate()
            .filter(|(_, p)| p.team_name() == *team)
            .take(*count);
        for (i, p) in members {
            let n = out.len() + 1;
            let loc = &LOCATIONS[p.location];
            let public_ip = match loc.public_ip {
                Some(ip) => ip.to_string(),
                None => format!("192.0.2.{}", 1 + rng.below(250)),
            };
            out.push(Tracked {
                person: i,
                computer: ComputerInfo {
                    name: format!("NW-LT-{n:03}"),
                    primary_domain: LOGIN_DOMAIN.to_lowercase(),
                    os: "Windows 11 Enterprise".into(),
                    time_zone: Some(p.tz().to_string()),
                    private_ip: format!("10.{}.{}.{}", 20 + p.location, rng.below(8), 10 + n),
                    public_ip,
                },
                client: ClientInfo {
                    login_domain: LOGIN_DOMAIN.into(),
                    name: p.login.clone(),
                },
            });
        }
    }
    out
}

fn activities(p: &Person) -> &'static [Activity] {
    match p.team_name() {
        "Engineering" => ENGINEERING,
        "IT" => IT,
        _ => SUPPORT,
    }
}

fn record(start_ms: i64, minutes: i64, a: &Activity, idle: bool) -> NewRecord {
    let url = a.2.map(str::to_string);
    NewRecord {
        start_ms,
        raw_start_ms: start_ms,
        duration_s: minutes * 60,
        executable: a.0.to_string(),
        description: a.1.to_string(),
        website: url.as_deref().and_then(website_domain),
        url,
        idle,
        idle_offset_s: 0,
        redacted_by: 0,
    }
}

/// The 30 days of activity of one computer, as one agent batch.
pub fn batch(t: &Tracked, p: &Person, cal: &Calendar, rng: &mut Rng) -> ActivityBatch {
    let tz = cal.zone(p.tz());
    let acts = activities(p);
    let vacation = cal.vacation(rng);
    let mut records = Vec::new();
    for day in cal.activity_from..=cal.last_day {
        // Now and then someone catches up for an hour on a weekend.
        let weekend_hour = !cal.is_workday(day) && rng.chance(0.04);
        if (!cal.is_workday(day) && !weekend_hour) || vacation.contains(&day) {
            continue;
        }
        let date = rollcall_core::time::date_of_day_number(day);
        let Ok(midnight) = date.at(0, 0, 0, 0).to_zoned(tz.clone()) else {
            continue;
        };
        let midnight = midnight.timestamp().as_millisecond();
        let mut minute = rng.range(8 * 60, 9 * 60 + 40);
        let end = if weekend_hour {
            minute + 60
        } else {
            rng.range(16 * 60 + 30, 18 * 60 + 30)
        };
        let lunch_at = if rng.chance(0.75) {
            rng.range(11 * 60 + 45, 12 * 60 + 45)
        } else {
            i64::MAX
        };
        let mut lunched = false;
        let mut last = &acts[0];
        while minute < end {
            let at = midnight + minute * 60_000;
            if !lunched && minute >= lunch_at {
                lunched = true;
                let length = rng.range(25, 55);
                records.push(record(at, length, last, true));
                minute += length;
                continue;
            }
            if rng.chance(0.1) {
                let length = rng.range(2, 12);
                records.push(record(at, length, last, true));
                minute += length;
                continue;
            }
            let a = &acts[rng.weighted(acts.iter().map(|a| a.3))];
            let length = rng.range(2, 25).min(end - minute).max(1);
            records.push(record(at, length, a, false));
            last = a;
            minute += length;
        }
    }
    ActivityBatch {
        computer: t.computer.clone(),
        client: t.client.clone(),
        session: 1,
        records,
        redaction_keys: Vec::new(),
    }
}

/// Productive work tools and company sites; social media and shopping
/// unproductive; the browser itself, music and LinkedIn left undefined.
pub fn classifications() -> ClassificationSet {
    let app = |e: &str, p: i8| AppClass {
        executable: e.into(),
        productivity: p,
    };
    let web = |d: &str, p: i8| WebClass {
        domain: d.into(),
        productivity: p,
    };
    ClassificationSet {
        applications: vec![
            app("code.exe", 1),
            app("windowsterminal.exe", 1),
            app("powershell.exe", 1),
            app("mmc.exe", 1),
            app("outlook.exe", 1),
            app("excel.exe", 1),
            app("slack.exe", 1),
            app("zoom.exe", 1),
            app("teamviewer.exe", 1),
        ],
        websites: vec![
            web("github.com", 1),
            web("stackoverflow.com", 1),
            web("learn.microsoft.com", 1),
            web("youtube.com", -1),
            web("reddit.com", -1),
            web("facebook.com", -1),
            web("amazon.com", -1),
        ],
        rules: vec![
            Rule {
                kind: "domainSuffix".into(),
                pattern: ".northwind.example".into(),
                productivity: 1,
            },
            Rule {
                kind: "executableGlob".into(),
                pattern: "steam*.exe".into(),
                productivity: -1,
            },
        ],
        group_overrides: Vec::new(),
    }
}
