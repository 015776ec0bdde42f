//! The demo company's people: teams, locations, titles and the management chain
//! (the org chart), plus a few former employees who still hold licences.

use std::collections::HashSet;

use rollcall_core::usage_report::Employee;

use super::rng::Rng;

/// The company's mail domain.
pub const DOMAIN: &str = "northwind.example";

pub struct Location {
    pub name: &'static str,
    pub tz: &'static str,
    /// The office's public address (remote workers get one of their own).
    pub public_ip: Option<&'static str>,
}

pub const LOCATIONS: &[Location] = &[
    Location {
        name: "New York",
        tz: "America/New_York",
        public_ip: Some("203.0.113.10"),
    },
    Location {
        name: "Austin",
        tz: "America/Chicago",
        public_ip: Some("203.0.113.20"),
    },
    Location {
        name: "London",
        tz: "Europe/London",
        public_ip: Some("198.51.100.10"),
    },
    Location {
        name: "Berlin",
        tz: "Europe/Berlin",
        public_ip: Some("198.51.100.20"),
    },
    Location {
        name: "Remote",
        tz: "America/Denver",
        public_ip: None,
    },
];

pub struct TeamSpec {
    pub name: &'static str,
    pub size: usize,
    pub cost_center: &'static str,
    pub head_title: &'static str,
    pub manager_title: &'static str,
    pub titles: &'static [&'static str],
    /// Weight of each of [`LOCATIONS`].
    pub locations: [u32; 5],
    /// Which leader (index in the Leadership team) the head reports to.
    pub reports_to: usize,
}

/// The first team is Leadership: CEO, CFO, CTO, CRO, in that order.
pub const TEAMS: &[TeamSpec] = &[
    TeamSpec {
        name: "Leadership",
        size: 4,
        cost_center: "CC-100",
        head_title: "Chief Executive Officer",
        manager_title: "",
        titles: &[
            "Chief Financial Officer",
            "Chief Technology Officer",
            "Chief Revenue Officer",
        ],
        locations: [1, 0, 0, 0, 0],
        reports_to: 0,
    },
    TeamSpec {
        name: "Engineering",
        size: 52,
        cost_center: "CC-200",
        head_title: "VP Engineering",
        manager_title: "Engineering Manager",
        titles: &[
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "QA Engineer",
            "Site Reliability Engineer",
        ],
        locations: [3, 2, 0, 3, 3],
        reports_to: 2,
    },
    TeamSpec {
        name: "Sales",
        size: 38,
        cost_center: "CC-300",
        head_title: "VP Sales",
        manager_title: "Sales Manager",
        titles: &[
            "Account Executive",
            "Sales Development Representative",
            "Solutions Engineer",
        ],
        locations: [4, 2, 3, 0, 1],
        reports_to: 3,
    },
    TeamSpec {
        name: "Customer Success",
        size: 28,
        cost_center: "CC-310",
        head_title: "Head of Customer Success",
        manager_title: "Support Team Lead",
        titles: &[
            "Customer Success Manager",
            "Support Specialist",
            "Technical Support Engineer",
        ],
        locations: [2, 3, 2, 0, 1],
        reports_to: 3,
    },
    TeamSpec {
        name: "Marketing",
        size: 20,
        cost_center: "CC-320",
        head_title: "VP Marketing",
        manager_title: "Marketing Manager",
        titles: &[
            "Content Marketer",
            "Product Marketing Manager",
            "Designer",
            "Demand Generation Manager",
        ],
        locations: [3, 0, 1, 0, 1],
        reports_to: 3,
    },
    TeamSpec {
        name: "Product",
        size: 16,
        cost_center: "CC-210",
        head_title: "VP Product",
        manager_title: "Group Product Manager",
        titles: &["Product Manager", "Product Designer", "UX Researcher"],
        locations: [2, 1, 0, 1, 1],
        reports_to: 2,
    },
    TeamSpec {
        name: "Finance",
        size: 14,
        cost_center: "CC-400",
        head_title: "Controller",
        manager_title: "",
        titles: &["Accountant", "Financial Analyst", "Procurement Specialist"],
        locations: [3, 0, 1, 0, 0],
        reports_to: 1,
    },
    TeamSpec {
        name: "People",
        size: 10,
        cost_center: "CC-410",
        head_title: "Head of People",
        manager_title: "",
        titles: &[
            "People Partner",
            "Recruiter",
            "People Operations Specialist",
        ],
        locations: [2, 1, 1, 0, 0],
        reports_to: 1,
    },
    TeamSpec {
        name: "IT",
        size: 12,
        cost_center: "CC-420",
        head_title: "Head of IT",
        manager_title: "",
        titles: &[
            "IT Support Engineer",
            "Systems Administrator",
            "Security Engineer",
        ],
        locations: [2, 2, 1, 1, 0],
        reports_to: 2,
    },
];

const FIRST: &[&str] = &[
    "Ana", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wei",
    "Ximena", "Yusuf", "Zoe", "Aisha", "Bruno", "Chloe", "Dmitri", "Emma", "Felix", "Gita",
    "Hannah", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Rafael",
    "Sofia", "Tom", "Uma", "Victor", "Wanda", "Yara", "Zain", "Alex", "Beatriz", "Chen", "Daniela",
    "Erik", "Fatima", "George", "Helena", "Isaac", "Jonas",
];

const LAST: &[&str] = &[
    "Adams",
    "Baker",
    "Costa",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jones",
    "Khan",
    "Lopez",
    "Meyer",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zimmer",
    "Alvarez",
    "Becker",
    "Chowdhury",
    "Dubois",
    "Eriksen",
    "Fernandes",
    "Gruber",
    "Horvat",
    "Iyer",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Novak",
    "Olsen",
    "Petrov",
    "Reyes",
    "Silva",
    "Torres",
    "Ueda",
    "Vogel",
    "Walsh",
    "Yamamoto",
    "Zhang",
];

#[derive(Debug, Clone)]
pub struct Person {
    pub first: String,
    pub last: String,
    /// Lower-case.
    pub email: String,
    /// Index in [`TEAMS`].
    pub team: usize,
    /// Index in [`LOCATIONS`].
    pub location: usize,
    pub title: String,
    /// Index of the manager in [`Company::people`].
    pub manager: Option<usize>,
    pub contractor: bool,
    /// The OS login name (`NORTHWIND\<login>`).
    pub login: String,
}

impl Person {
    pub fn tz(&self) -> &'static str {
        LOCATIONS[self.location].tz
    }

    pub fn team_name(&self) -> &'static str {
        TEAMS[self.team].name
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

pub struct Company {
    /// Everyone in the org chart; the first is the CEO.
    pub people: Vec<Person>,
    /// People who left but whose app accounts were never removed.
    pub former: Vec<Person>,
}

/// How many former employees keep licences.
const FORMER: usize = 7;

struct Namer {
    used: HashSet<String>,
    logins: HashSet<String>,
}

impl Namer {
    fn person(
        &mut self,
        rng: &mut Rng,
        team: usize,
        location: usize,
        title: String,
        manager: Option<usize>,
    ) -> Person {
        loop {
            let first = *rng.pick(FIRST);
            let last = *rng.pick(LAST);
            let local = format!("{}.{}", first, last).to_lowercase();
            if !self.used.insert(local.clone()) {
                continue;
            }
            // Logins are initial + surname, numbered when two people share one.
            let base = format!("{}{}", &first[..1], last).to_lowercase();
            let mut login = base.clone();
            let mut n = 1;
            while !self.logins.insert(login.clone()) {
                n += 1;
                login = format!("{base}{n}");
            }
            return Person {
                first: first.to_string(),
                last: last.to_string(),
                email: format!("{local}@{DOMAIN}"),
                team,
                location,
                title,
                manager,
                contractor: false,
                login,
            };
        }
    }
}

/// The company of a seed.
pub fn generate(rng: &mut Rng) -> Company {
    let mut namer = Namer {
        used: HashSet::new(),
        logins: HashSet::new(),
    };
    let mut people: Vec<Person> = Vec::new();
    // Leadership: the CEO, then the officers reporting to them.
    let leadership = &TEAMS[0];
    people.push(namer.person(rng, 0, 0, leadership.head_title.to_string(), None));
    for title in leadership.titles {
        people.push(namer.person(rng, 0, 0, title.to_string(), Some(0)));
    }
    for (t, spec) in TEAMS.iter().enumerate().skip(1) {
        let location = |rng: &mut Rng| rng.weighted(spec.locations.iter().copied());
        let loc = location(rng);
        let head = people.len();
        people.push(namer.person(
            rng,
            t,
            loc,
            spec.head_title.to_string(),
            Some(spec.reports_to),
        ));
        // Big teams have line managers of about nine people each.
        let managers = if spec.manager_title.is_empty() {
            0
        } else {
            (spec.size - 1) / 9
        };
        let mut line = Vec::new();
        for _ in 0..managers {
            let loc = location(rng);
            line.push(people.len());
            people.push(namer.person(rng, t, loc, spec.manager_title.to_string(), Some(head)));
        }
        for i in 0..spec.size - 1 - managers {
            let manager = if line.is_empty() {
                head
            } else {
                line[i % line.len()]
            };
            let loc = location(rng);
            let title = rng.pick(spec.titles).to_string();
            let mut p = namer.person(rng, t, loc, title, Some(manager));
            p.contractor = rng.chance(0.08);
            people.push(p);
        }
    }
    let mut former = Vec::new();
    for _ in 0..FORMER {
        let t = 1 + rng.below(TEAMS.len() as u64 - 1) as usize;
        let loc = rng.weighted(TEAMS[t].locations.iter().copied());
        let title = rng.pick(TEAMS[t].titles).to_string();
        former.push(namer.person(rng, t, loc, title, None));
    }
    Company { people, former }
}

/// The org-chart custom field the demo fills.
pub const EMPLOYMENT_TYPE: &str = "employmentType";

/// The org chart of the company.
pub fn employees(company: &Company) -> Vec<Employee> {
    company
        .people
        .iter()
        .map(|p| Employee {
            email: p.email.clone(),
            first_name: Some(p.first.clone()),
            last_name: Some(p.last.clone()),
            team: Some(p.team_name().to_string()),
            location: Some(LOCATIONS[p.location].name.to_string()),
            title: Some(p.title.clone()),
            manager_email: p.manager.map(|m| company.people[m].email.clone()),
            cost_center: Some(TEAMS[p.team].cost_center.to_string()),
            additional_emails: Vec::new(),
            custom_fields: [(
                EMPLOYMENT_TYPE.to_string(),
                if p.contractor {
                    "Contractor"
                } else {
                    "Full-time"
                }
                .to_string(),
            )]
            .into_iter()
            .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_company_has_about_two_hundred_people_with_a_manager_chain() {
        let c = generate(&mut Rng::new(42));
        assert_eq!(c.people.len(), TEAMS.iter().map(|t| t.size).sum::<usize>());
        assert!((180..=220).contains(&c.people.len()));
        let emails: HashSet<&str> = c.people.iter().map(|p| p.email.as_str()).collect();
        assert_eq!(emails.len(), c.people.len());
        // Everyone but the CEO has a manager, and every chain reaches the CEO.
        for (i, p) in c.people.iter().enumerate() {
            let mut at = i;
            let mut hops = 0;
            while let Some(m) = c.people[at].manager {
                at = m;
                hops += 1;
                assert!(hops < 10);
            }
            assert_eq!(at, 0, "{}", p.email);
        }
        assert!(c.former.iter().all(|f| !emails.contains(f.email.as_str())));
        let logins: HashSet<&str> = c.people.iter().map(|p| p.login.as_str()).collect();
        assert_eq!(logins.len(), c.people.len());
        let again = generate(&mut Rng::new(42));
        assert_eq!(again.people[57].email, c.people[57].email);
    }
}
