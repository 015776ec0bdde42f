//! Activity bitmaps of custom-app usage (SPEC §4 insights): per (app, event, local
//! day) the set of email ids active that day, as a little-endian bitmap BLOB of
//! `ceil((max_id + 1) / 8)` bytes; the per-account email table (id → email, ids are
//! dense small integers); the [`Resolver`] that maps email ids to people of the org
//! chart (aliases count for their person) as dense "slots"; and engagement
//! computed over slot sets, without string work (DAU/WAU/MAU: `usage_trend`).
//!
//! Slots: `0..n_people` are the people of the org chart (by index in the
//! [`Directory`]); `n_people + id` is an email outside the org chart (its own person).

use crate::fxhash::FxHashMap;
use std::collections::{BTreeMap, HashSet};

use crate::usage;
use crate::usage_report::{Directory, Engagement, Segment, Total};

/// Sets bit `id` of a bitmap blob, growing it on demand.
pub fn set(bits: &mut Vec<u8>, id: u32) {
    let byte = (id / 8) as usize;
    if bits.len() <= byte {
        bits.resize(byte + 1, 0);
    }
    bits[byte] |= 1 << (id % 8);
}

/// Whether bit `id` of a bitmap blob is set.
pub fn get(bits: &[u8], id: u32) -> bool {
    bits.get((id / 8) as usize)
        .is_some_and(|b| b & (1 << (id % 8)) != 0)
}

/// `acc |= other`, growing `acc` on demand.
pub fn or_into(acc: &mut Vec<u8>, other: &[u8]) {
    if acc.len() < other.len() {
        acc.resize(other.len(), 0);
    }
    for (a, b) in acc.iter_mut().zip(other) {
        *a |= *b;
    }
}

/// `acc |= other & mask`, growing `acc` on demand (ids past `mask`'s end are
/// not set: a viewer's mask ends at the last id they may see).
pub fn or_masked_into(acc: &mut Vec<u8>, other: &[u8], mask: &[u8]) {
    let other = &other[..other.len().min(mask.len())];
    if acc.len() < other.len() {
        acc.resize(other.len(), 0);
    }
    for ((a, b), m) in acc.iter_mut().zip(other).zip(mask) {
        *a |= *b & *m;
    }
}

/// Calls `f` with every set id of a bitmap blob, in increasing order.
pub fn for_each(bits: &[u8], mut f: impl FnMut(u32)) {
    for (i, &b) in bits.iter().enumerate() {
        let mut b = b;
        while b != 0 {
            let bit = b.trailing_zeros();
            f(i as u32 * 8 + bit);
            b &= b - 1;
        }
    }
}

/// The account's interned emails: id → email (ids are dense from 0) and back.
#[derive(Debug, Default, Clone)]
pub struct EmailTable {
    emails: Vec<String>,
    by_email: FxHashMap<String, u32>,
}

impl EmailTable {
    /// The table extended by rows `(id, email)` with ids from `self.len()` on, in id
    /// order; a gap (which committed data never has) is filled with empty emails.
    pub fn with_more(&self, more: Vec<(u32, String)>) -> EmailTable {
        let mut t = self.clone();
        for (id, email) in more {
            while (t.emails.len() as u32) < id {
                t.emails.push(String::new());
            }
            if t.emails.len() as u32 == id {
                t.by_email.insert(email.clone(), id);
                t.emails.push(email);
            }
        }
        t
    }
    pub fn len(&self) -> usize {
        self.emails.len()
    }
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty()
    }
    pub fn id(&self, email: &str) -> Option<u32> {
        self.by_email.get(email).copied()
    }
    pub fn email(&self, id: u32) -> Option<&str> {
        self.emails.get(id as usize).map(String::as_str)
    }
}

/// A set of slots (people).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotSet(Vec<u64>);

impl SlotSet {
    pub fn with_slots(n: usize) -> SlotSet {
        SlotSet(vec![0; n.div_ceil(64)])
    }
    pub fn insert(&mut self, slot: usize) {
        let w = slot / 64;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (slot % 64);
    }
    pub fn contains(&self, slot: usize) -> bool {
        self.0
            .get(slot / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }
    pub fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }
    pub fn or_with(&mut self, other: &SlotSet) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= *b;
        }
    }
    /// The slots, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(i * 64 + bit)
            })
        })
    }
}

const NO_PERSON: u32 = u32::MAX;

/// Email id → slot, for one org chart and a prefix of the email table.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    person: Vec<u32>,
    n_people: usize,
    /// The email ids of each person who has more than one (ascending, one
    /// list per person): the only ids that do not each count as someone.
    shared: Vec<Vec<u32>>,
}

impl Resolver {
    pub fn new(dir: &Directory, emails: &EmailTable) -> Resolver {
        let r = Resolver {
            person: Vec::new(),
            n_people: dir.people.len(),
            shared: Vec::new(),
        };
        r.extended(dir, emails)
    }

    /// The resolver covering emails added to the table since it was built.
    pub fn extended(&self, dir: &Directory, emails: &EmailTable) -> Resolver {
        let mut r = self.clone();
        let mut new_person_ids = false;
        for id in r.person.len()..emails.len() {
            let p = emails
                .email(id as u32)
                .and_then(|e| dir.index_of(e))
                .map_or(NO_PERSON, |i| i as u32);
            new_person_ids |= p != NO_PERSON;
            r.person.push(p);
        }
        if new_person_ids {
            r.shared = shared_ids(&r.person, r.n_people);
        }
        r
    }

    /// How many people (slots) the ids set in `ids` (words of a bitmap, bit
    /// `id`) are: one per id, except that a person's several ids count once.
    /// Equal to `persons(..).count()` without resolving each id.
    pub fn count_people(&self, ids: &[u64]) -> u64 {
        let mut n: u64 = ids.iter().map(|w| u64::from(w.count_ones())).sum();
        for person in &self.shared {
            let set = person.iter().filter(|&&id| word_bit(ids, id)).count() as u64;
            n -= set.saturating_sub(1);
        }
        n
    }

    /// How many email ids it covers.
    pub fn covered(&self) -> usize {
        self.person.len()
    }

    pub fn slot_of_id(&self, id: u32) -> usize {
        match self.person.get(id as usize) {
            Some(&p) if p != NO_PERSON => p as usize,
            _ => self.n_people + id as usize,
        }
    }

    /// The slot of an email (primary, alias or outside the org chart); `None` when
    /// the email never had usage and is not in the org chart.
    pub fn slot_of_email(
        &self,
        dir: &Directory,
        emails: &EmailTable,
        email: &str,
    ) -> Option<usize> {
        dir.index_of(email)
            .or_else(|| emails.id(email).map(|id| self.slot_of_id(id)))
    }

    /// The email ids of `slot`: the person's primary and alias emails that
    /// resolve to them, or the email outside the org chart.
    pub fn ids_of(&self, slot: usize, dir: &Directory, emails: &EmailTable) -> Vec<u32> {
        let mut ids: Vec<u32> = if slot < self.n_people {
            dir.people.get(slot).map_or_else(Vec::new, |p| {
                std::iter::once(&p.email)
                    .chain(&p.additional_emails)
                    .filter_map(|e| emails.id(e))
                    .filter(|&id| self.slot_of_id(id) == slot)
                    .collect()
            })
        } else {
            let id = (slot - self.n_people) as u32;
            emails.email(id).map(|_| id).into_iter().collect()
        };
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The key a slot is reported under: the person's primary email or the email.
    pub fn key<'a>(&self, slot: usize, dir: &'a Directory, emails: &'a EmailTable) -> &'a str {
        if slot < self.n_people {
            dir.people.get(slot).map_or("", |p| p.email.as_str())
        } else {
            emails.email((slot - self.n_people) as u32).unwrap_or("")
        }
    }

    /// The people whose emails are set in a bitmap blob.
    pub fn persons(&self, bits: &[u8]) -> SlotSet {
        let mut s = SlotSet::with_slots(self.n_people + bits.len() * 8);
        self.add_persons(&mut s, bits);
        s
    }

    pub fn add_persons(&self, s: &mut SlotSet, bits: &[u8]) {
        for_each(bits, |id| s.insert(self.slot_of_id(id)));
    }
}

/// Per person with more than one email id, those ids (see [`Resolver::count_people`]).
fn shared_ids(person: &[u32], n_people: usize) -> Vec<Vec<u32>> {
    let mut ids_of = vec![0u32; n_people];
    for &p in person.iter().filter(|&&p| p != NO_PERSON) {
        ids_of[p as usize] += 1;
    }
    let mut group_of = vec![u32::MAX; n_people];
    let mut shared: Vec<Vec<u32>> = Vec::new();
    for (id, &p) in person.iter().enumerate() {
        if p == NO_PERSON || ids_of[p as usize] < 2 {
            continue;
        }
        let g = &mut group_of[p as usize];
        if *g == u32::MAX {
            *g = shared.len() as u32;
            shared.push(Vec::new());
        }
        shared[*g as usize].push(id as u32);
    }
    shared
}

/// Whether bit `id` of a bitmap held as words is set.
pub fn word_bit(words: &[u64], id: u32) -> bool {
    words
        .get((id / 64) as usize)
        .is_some_and(|w| w & (1 << (id % 64)) != 0)
}

/// One member of a population: who they are and their value of `by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    pub who: Who<'a>,
    /// The member's value: an index of the values its [`Population`] is made with.
    pub value: Option<u32>,
}

/// Who a member is: a slot (a person, or an email that had usage), or the
/// key of an email that never had usage outside the org chart. Only the
/// latter needs its key: a hundred thousand members are told apart by slot
/// without reading their people's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who<'a> {
    Slot(usize),
    Key(&'a str),
}

/// A population grouped by the values of one field, made once and asked
/// about many active sets: each member slot's value, and how many members
/// each value has. Engagement then walks the active people only, not every
/// member (a hundred thousand at ten times the benchmark's data).
#[derive(Debug, Clone)]
pub struct Population {
    /// Per slot, the index of its member's value (`n_values` for none), or
    /// [`Population::OUTSIDE`].
    value_of: Vec<u32>,
    /// Per value index (`n_values` last, for none), its members.
    members: Vec<u64>,
}

impl Population {
    const OUTSIDE: u32 = u32::MAX;

    /// `members` (unique by slot or key, the first occurrence winning) with
    /// values among `n_values`.
    pub fn new(members: &[Member<'_>], n_values: usize) -> Population {
        let mut value_of: Vec<u32> = Vec::new();
        let mut seen_keys: HashSet<&str> = HashSet::new();
        let mut counts = vec![0u64; n_values + 1];
        for m in members {
            let at = m.value.map_or(n_values, |v| (v as usize).min(n_values));
            match m.who {
                Who::Slot(s) => {
                    if value_of.len() <= s {
                        value_of.resize(s + 1, Self::OUTSIDE);
                    }
                    if value_of[s] != Self::OUTSIDE {
                        continue;
                    }
                    value_of[s] = at as u32;
                }
                Who::Key(key) => {
                    if !seen_keys.insert(key) {
                        continue;
                    }
                }
            }
            counts[at] += 1;
        }
        Population {
            value_of,
            members: counts,
        }
    }

    /// Per value of `values` (the ones it was made with), how many members
    /// are in `active`; active people outside it are `outside_population`.
    pub fn engagement(&self, values: &[String], active: &SlotSet) -> Engagement {
        let n_values = self.members.len() - 1;
        let mut active_of = vec![0u64; n_values + 1];
        let mut outside_population = 0u64;
        for s in active.iter() {
            match self.value_of.get(s) {
                Some(&v) if v != Self::OUTSIDE => active_of[v as usize] += 1,
                _ => outside_population += 1,
            }
        }
        let population: u64 = self.members.iter().sum();
        let active_members: u64 = active_of.iter().sum();
        // In value order, people without a value last (they read better there);
        // only values someone has.
        let segments: Vec<Segment> = self
            .members
            .iter()
            .zip(&active_of)
            .enumerate()
            .filter(|(_, (p, _))| **p > 0)
            .map(|(i, (&p, &a))| Segment {
                value: values.get(i).cloned(),
                population: p,
                active: a,
                percent: usage::percent(a, p),
            })
            .collect();
        Engagement {
            total: Total {
                population,
                active: active_members,
                percent: usage::percent(active_members, population),
                outside_population,
            },
            segments,
        }
    }
}

/// The people active on each day: day → slots.
pub type DailyPeople = BTreeMap<i32, SlotSet>;

/// Per slot, the latest day on which it was active.
///
/// Dense by slot: the days are walked from the latest, and only the slots not
/// seen on a later day are written (word by word), so a slot costs one write
/// however many days it was active on. A hash map per (slot, day) took most of
/// an inactive-users report over a feature group's whole history (issue 18).
pub fn last_days(daily: &DailyPeople) -> LastDays {
    let mut seen: Vec<u64> = Vec::new();
    let mut days: Vec<i32> = Vec::new();
    for (&day, set) in daily.iter().rev() {
        if seen.len() < set.0.len() {
            seen.resize(set.0.len(), 0);
            days.resize(set.0.len() * 64, NO_DAY);
        }
        for (w, (&word, seen)) in set.0.iter().zip(seen.iter_mut()).enumerate() {
            let mut fresh = word & !*seen;
            *seen |= word;
            while fresh != 0 {
                let bit = fresh.trailing_zeros() as usize;
                fresh &= fresh - 1;
                days[w * 64 + bit] = day;
            }
        }
    }
    LastDays(days)
}

const NO_DAY: i32 = i32::MIN;

/// The latest active day per slot ([`last_days`]).
#[derive(Debug, Clone, Default)]
pub struct LastDays(Vec<i32>);

impl LastDays {
    pub fn get(&self, slot: usize) -> Option<i32> {
        self.0.get(slot).copied().filter(|&d| d != NO_DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage_report::Employee;

    fn person(email: &str, team: Option<&str>, aliases: &[&str]) -> Employee {
        Employee {
            email: email.into(),
            team: team.map(String::from),
            additional_emails: aliases.iter().map(|a| a.to_string()).collect(),
            ..Employee::default()
        }
    }

    #[test]
    fn a_persons_ids_leave_out_an_alias_that_is_someone_elses_primary() {
        let dir = Directory::new(vec![
            person(
                "ana@x.com",
                None,
                &["bo@x.com", "ana.d@x.com", "ana.d@x.com"],
            ),
            person("bo@x.com", None, &[]),
        ]);
        let emails = table(&["bo@x.com", "ana.d@x.com", "ana@x.com"]);
        let r = Resolver::new(&dir, &emails);
        assert_eq!(r.ids_of(0, &dir, &emails), [1, 2]);
        assert_eq!(r.ids_of(1, &dir, &emails), [0]);
    }

    fn table(emails: &[&str]) -> EmailTable {
        EmailTable::default().with_more(
            emails
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u32, e.to_string()))
                .collect(),
        )
    }

    #[test]
    fn bitmaps_grow_and_iterate_in_order() {
        let mut b = Vec::new();
        set(&mut b, 9);
        set(&mut b, 0);
        assert_eq!(b.len(), 2);
        assert!(get(&b, 9) && get(&b, 0) && !get(&b, 1) && !get(&b, 100));
        let mut acc = vec![0b10];
        or_into(&mut acc, &b);
        let mut ids = Vec::new();
        for_each(&acc, |i| ids.push(i));
        assert_eq!(ids, vec![0, 1, 9]);
    }

    #[test]
    fn a_masked_union_keeps_only_the_masks_ids() {
        let (mut other, mut mask) = (Vec::new(), Vec::new());
        [1, 9, 17, 40].iter().for_each(|&i| set(&mut other, i));
        [1, 17, 20].iter().for_each(|&i| set(&mut mask, i));
        let mut acc = Vec::new();
        set(&mut acc, 3);
        or_masked_into(&mut acc, &other, &mask);
        let mut ids = Vec::new();
        for_each(&acc, |i| ids.push(i));
        // 40 lies past the mask's end, 9 outside it; 3 was there before.
        assert_eq!(ids, vec![1, 3, 17]);
    }

    #[test]
    fn aliases_count_for_their_person_and_strangers_are_outside() {
        let dir = Directory::new(vec![
            person("ana@x.com", Some("Sales"), &["ana.d@x.com"]),
            person("bo@x.com", Some("Sales"), &[]),
            person("cy@x.com", None, &[]),
        ]);
        let emails = table(&["ana.d@x.com", "bo@x.com", "zed@x.com", "ana@x.com"]);
        let r = Resolver::new(&dir, &emails);
        assert_eq!(r.slot_of_id(0), 0);
        assert_eq!(r.slot_of_id(3), 0);
        assert_eq!(r.key(r.slot_of_id(2), &dir, &emails), "zed@x.com");
        assert_eq!(
            r.ids_of(0, &dir, &emails),
            [0, 3],
            "ana's alias and primary"
        );
        assert!(r.ids_of(2, &dir, &emails).is_empty(), "cy never had usage");
        assert_eq!(r.ids_of(r.slot_of_id(2), &dir, &emails), [2]);
        let mut bits = Vec::new();
        set(&mut bits, 0);
        set(&mut bits, 3);
        set(&mut bits, 2);
        let active = r.persons(&bits);
        assert_eq!(active.count(), 2);
        let teams = dir.field_values("team");
        let members: Vec<Member<'_>> = dir
            .people
            .iter()
            .enumerate()
            .map(|(i, _)| Member {
                who: Who::Slot(i),
                value: teams.value_of(i),
            })
            .collect();
        let e = Population::new(&members, teams.values.len()).engagement(&teams.values, &active);
        assert_eq!(e.total.population, 3);
        assert_eq!(e.total.active, 1);
        assert_eq!(e.total.outside_population, 1);
        assert_eq!(e.segments[0].value.as_deref(), Some("Sales"));
        assert_eq!(e.segments[0].percent, 50.0);
        assert_eq!(e.segments[1].value, None);
    }

    #[test]
    fn last_days_keep_each_slots_latest_day() {
        let mut daily = DailyPeople::new();
        let mut a = SlotSet::default();
        a.insert(0);
        daily.insert(100, a.clone());
        let mut b = SlotSet::default();
        b.insert(1);
        b.insert(0);
        daily.insert(95, b);
        let last = last_days(&daily);
        assert_eq!(
            (last.get(0), last.get(1), last.get(2)),
            (Some(100), Some(95), None)
        );
        assert_eq!(last.get(1_000_000), None);
    }

    #[test]
    fn counting_people_counts_a_persons_several_ids_once() {
        let dir = Directory::new(vec![
            person("ana@x.com", None, &["ana.d@x.com", "a@x.com"]),
            person("bo@x.com", None, &[]),
        ]);
        let emails = table(&["ana.d@x.com", "bo@x.com", "zed@x.com", "ana@x.com"]);
        let r = Resolver::new(&dir, &emails);
        let count = |ids: &[u32]| {
            let mut bytes = Vec::new();
            ids.iter().for_each(|&id| set(&mut bytes, id));
            let mut words = vec![0u64; bytes.len().div_ceil(8)];
            for_each(&bytes, |id| words[id as usize / 64] |= 1 << (id % 64));
            assert_eq!(r.count_people(&words), r.persons(&bytes).count(), "{ids:?}");
            r.count_people(&words)
        };
        assert_eq!(count(&[0, 3]), 1, "ana's alias and primary");
        assert_eq!(count(&[0, 1, 2, 3]), 3);
        assert_eq!(count(&[2]), 1, "a stranger is someone");
        assert_eq!(count(&[]), 0);
        // A later email of ana's (the table grew): still one person.
        let grown = emails.with_more(vec![(4, "a@x.com".into())]);
        let r = r.extended(&dir, &grown);
        let mut words = vec![0u64; 1];
        [0u32, 3, 4].iter().for_each(|&id| words[0] |= 1 << id);
        assert_eq!(r.count_people(&words), 1);
    }

    #[test]
    fn a_population_grouped_once_answers_any_active_set() {
        let values = ["Ops".to_string(), "Sales".to_string()];
        let members = [
            Member {
                who: Who::Slot(4),
                value: Some(1),
            },
            Member {
                who: Who::Slot(0),
                value: Some(0),
            },
            // The same person again (an alias's user): the first one counts.
            Member {
                who: Who::Slot(4),
                value: Some(0),
            },
            Member {
                who: Who::Key("never@x.com"),
                value: None,
            },
            Member {
                who: Who::Key("never@x.com"),
                value: None,
            },
            Member {
                who: Who::Slot(7),
                value: None,
            },
        ];
        let population = Population::new(&members, values.len());
        let set = |slots: &[usize]| {
            let mut s = SlotSet::default();
            slots.iter().for_each(|&x| s.insert(x));
            s
        };
        let e = population.engagement(&values, &set(&[4, 7, 9]));
        assert_eq!(
            (
                e.total.population,
                e.total.active,
                e.total.outside_population
            ),
            (4, 2, 1)
        );
        let by_value: Vec<_> = e
            .segments
            .iter()
            .map(|s| (s.value.clone(), s.population, s.active))
            .collect();
        assert_eq!(
            by_value,
            [
                (Some("Ops".into()), 1, 0),
                (Some("Sales".into()), 1, 1),
                (None, 2, 1)
            ]
        );
        let e = population.engagement(&values, &set(&[0]));
        assert_eq!((e.total.active, e.total.outside_population), (1, 0));
        assert_eq!(e.total.population, 4, "the same population");
    }
}
