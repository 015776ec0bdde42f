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

use std::sync::Arc;

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

/// What a population was made from, held so the pointers cannot be reused.
struct Source {
    dir: Arc<Directory>,
    field: String,
    /// The provisioned users, their people, and what places those outside
    /// the org chart (for `population=provisioned`).
    provisioned: Option<(
        Arc<Vec<ProvisionedUser>>,
        Arc<Vec<u32>>,
        Arc<EmailTable>,
        Arc<Resolver>,
    )>,
}

impl Source {
    fn of(data: &InsightData, dir: &Arc<Directory>, which: &str, field: &str) -> Source {
        Source {
            dir: Arc::clone(dir),
            field: field.to_string(),
            provisioned: (which == "provisioned").then(|| {
                (
                    Arc::clone(&data.provisioned),
                    Arc::clone(&data.provisioned_people),
                    Arc::clone(&data.emails),
                    Arc::clone(&data.resolver),
                )
            }),
        }
    }

    fn same(&self, other: &Source) -> bool {
        let provisioned = match (&self.provisioned, &other.provisioned) {
            (None, None) => true,
            (Some((u, p, e, r)), Some((u2, p2, e2, r2))) => {
                Arc::ptr_eq(u, u2) && Arc::ptr_eq(p, p2) && Arc::ptr_eq(e, e2) && Arc::ptr_eq(r, r2)
            }
            _ => false,
        };
        provisioned && Arc::ptr_eq(&self.dir, &other.dir) && self.field == other.field
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
