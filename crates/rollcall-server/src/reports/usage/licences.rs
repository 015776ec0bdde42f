//! Each provisioned user's licence as a small integer, per provisioned list.
//!
//! Right-sizing looks at every provisioned user's licence. Read from the users
//! themselves, that is a cache miss on each user's entry and another on its
//! licence string: at 100,000 users, most of the report's own work. The
//! column is the same for every request while the list stays the same, so the
//! [`LicenceCache`] (a field of the server's state) keeps the latest columns,
//! each found again only for the very list (`Arc`) it was made from; the store
//! hands out a new list when the users change, and a viewer's cut has its own.
//! The list is held weakly: told apart by address without keeping a replaced
//! list of 100,000 users alive.

use std::sync::{Arc, Weak};

use rollcall_store::usage::ProvisionedUser;

use crate::reports::kept::Kept;

/// Columns kept (one per list in recent use: apps, viewers' cuts); at
/// 100,000 users a column is 200 KB.
const KEPT: usize = 8;

/// The latest columns, most recently used last.
#[derive(Default)]
pub struct LicenceCache {
    kept: Kept<Licences, KEPT>,
}

impl LicenceCache {
    /// The column of `users`: a kept one, or a new one, kept.
    pub(super) fn of(&self, users: &Arc<Vec<ProvisionedUser>>) -> Arc<Licences> {
        self.kept
            .find(|l| std::ptr::eq(l.from.as_ptr(), Arc::as_ptr(users)))
            .unwrap_or_else(|| self.kept.keep(Licences::new(users)))
    }
}

/// The distinct licence names of a provisioned list and each user's, by position.
pub(super) struct Licences {
    /// What it was made from (a `Weak` keeps the address from being reused).
    from: Weak<Vec<ProvisionedUser>>,
    pub names: Vec<String>,
    /// Per user, an index of `names`, or [`Licences::NONE`] without a licence.
    pub of_user: Vec<u16>,
}

impl Licences {
    pub const NONE: u16 = u16::MAX;

    fn new(from: &Arc<Vec<ProvisionedUser>>) -> Licences {
        let mut names: Vec<String> = Vec::new();
        let of_user = from
            .iter()
            .map(|u| match u.license.as_deref() {
                None => Licences::NONE,
                Some(name) => match names.iter().position(|n| n == name) {
                    Some(i) => i as u16,
                    // More distinct licences than a u16 holds (an app has a
                    // handful of tiers): the rest read as none of them.
                    None if names.len() < usize::from(Licences::NONE) => {
                        names.push(name.to_string());
                        (names.len() - 1) as u16
                    }
                    None => Licences::NONE,
                },
            })
            .collect();
        Licences {
            from: Arc::downgrade(from),
            names,
            of_user,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, license: Option<&str>) -> ProvisionedUser {
        ProvisionedUser {
            app_user_id: id.into(),
            email: format!("{id}@x.com"),
            username: None,
            license: license.map(String::from),
            profile: None,
        }
    }

    #[test]
    fn each_user_names_their_licence_and_a_list_keeps_its_column() {
        let users = Arc::new(vec![
            user("a", Some("Pro")),
            user("b", None),
            user("c", Some("Basic")),
            user("d", Some("Pro")),
        ]);
        let cache = LicenceCache::default();
        let column = cache.of(&users);
        assert_eq!(column.names, ["Pro", "Basic"]);
        assert_eq!(column.of_user, [0, Licences::NONE, 1, 0]);
        assert!(
            Arc::ptr_eq(&column, &cache.of(&users)),
            "kept for the same list"
        );
        let other = Arc::new(vec![user("a", Some("Basic"))]);
        assert_eq!(
            cache.of(&other).names,
            ["Basic"],
            "another list, another column"
        );
    }
}
