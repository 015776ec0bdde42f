//! The populations engagement counts against, grouped by a field, kept
//! between requests.
//!
//! Grouping a population visits every member: at 100,000 provisioned users,
//! most of an engagement report's own work (a cache miss per user, its person
//! and its value). The grouping is the same for every request while what it
//! was made from stays the same, so the [`PopulationCache`] (a field of the
//! server's state) keeps the latest ones, each found again only for the very
//! values (`Arc`s) it was made from: the store hands out new ones when the
//! org chart, the provisioned users or the email table change, and a viewer's
//! cut has its own. A report then walks only the active people.
//!
//! Those values are held weakly: they are told apart by address (which a
//! `Weak` keeps from being reused) without keeping a replaced org chart or
//! list alive at 100,000 people.

use std::sync::{Arc, Weak};

use rollcall_core::usage_bits::{EmailTable, Population, Resolver};
use rollcall_core::usage_report::{Directory, FieldValues};
use rollcall_store::usage::{InsightData, ProvisionedUser};

use super::population;
use crate::reports::kept::Kept;

/// Populations kept (apps × fields × populations × viewers' cuts in recent
/// use); at 100,000 people one is about 400 KB.
const KEPT: usize = 16;

#[derive(Default)]
pub struct PopulationCache {
    kept: Kept<KeptPopulation, KEPT>,
}

/// What a population was made from.
struct Source {
    dir: Weak<Directory>,
    field: String,
    /// For `population=provisioned`.
    provisioned: Option<ProvisionedSource>,
}

/// The provisioned users, their people, and what places those outside the
/// org chart.
type ProvisionedSource = (
    Weak<Vec<ProvisionedUser>>,
    Weak<Vec<u32>>,
    Weak<EmailTable>,
    Weak<Resolver>,
);

impl Source {
    fn of(data: &InsightData, dir: &Arc<Directory>, which: &str, field: &str) -> Source {
        Source {
            dir: Arc::downgrade(dir),
            field: field.to_string(),
            provisioned: (which == "provisioned").then(|| {
                (
                    Arc::downgrade(&data.provisioned),
                    Arc::downgrade(&data.provisioned_people),
                    Arc::downgrade(&data.emails),
                    Arc::downgrade(&data.resolver),
                )
            }),
        }
    }

    fn same(&self, other: &Source) -> bool {
        let provisioned = match (&self.provisioned, &other.provisioned) {
            (None, None) => true,
            (Some((u, p, e, r)), Some((u2, p2, e2, r2))) => {
                u.ptr_eq(u2) && p.ptr_eq(p2) && e.ptr_eq(e2) && r.ptr_eq(r2)
            }
            _ => false,
        };
        provisioned && self.dir.ptr_eq(&other.dir) && self.field == other.field
    }
}

struct KeptPopulation {
    from: Source,
    population: Arc<Population>,
}

impl PopulationCache {
    /// The population `which` (`employees` or `provisioned`) of `data`,
    /// grouped by `values` (the directory's values of `field`).
    pub(super) fn of(
        &self,
        data: &InsightData,
        dir: &Arc<Directory>,
        which: &str,
        (field, values): (&str, &FieldValues),
    ) -> Arc<Population> {
        let make = || {
            let members = population(data, dir, which, values);
            Arc::new(Population::new(&members, values.values.len()))
        };
        // Without an org chart each report has a directory of its own.
        if data.org.is_none() {
            return make();
        }
        let from = Source::of(data, dir, which, field);
        if let Some(kept) = self.kept.find(|k| k.from.same(&from)) {
            return Arc::clone(&kept.population);
        }
        let population = make();
        self.kept.keep(KeptPopulation {
            from,
            population: Arc::clone(&population),
        });
        population
    }
}
