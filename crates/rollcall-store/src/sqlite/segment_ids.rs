//! The emails of the tracking API's identities (userIds, anonymousIds) that
//! this process has read, so that a batch of known people needs no database
//! look-up at all. The embedded store has one server process, whose writer
//! commits every identify and alias: after such a write commits, the
//! identities it named are dropped here ([`IdentityEmails::forget`]).
//!
//! A read of the database racing with such a write could put back the email
//! just replaced; a generation number bumped by every `forget` keeps a read
//! that started before it from being stored. Bounded; cleared when full.

use std::sync::Mutex;

use rollcall_core::fxhash::FxHashMap;
use rollcall_core::Email;

/// (account, public app id, identity).
type Key = (i64, String, String);

#[derive(Default)]
pub struct IdentityEmails {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    emails: FxHashMap<Key, Email>,
}

/// About 150 bytes each: at most ~30 MB.
const MAX_ENTRIES: usize = 200_000;

impl IdentityEmails {
    /// The emails known of `idents` and the generation to pass to [`Self::remember`].
    pub fn get(
        &self,
        account_id: i64,
        app_id: &str,
        idents: &[String],
    ) -> (FxHashMap<String, Email>, u64) {
        let Ok(inner) = self.inner.lock() else {
            return (FxHashMap::default(), u64::MAX);
        };
        let mut found = FxHashMap::default();
        for ident in idents {
            let key = (account_id, app_id.to_string(), ident.clone());
            if let Some(email) = inner.emails.get(&key) {
                found.insert(ident.clone(), email.clone());
            }
        }
        (found, inner.generation)
    }

    /// Keeps emails read from the database, unless a write renamed any
    /// identity since `generation` was taken.
    pub fn remember(
        &self,
        account_id: i64,
        app_id: &str,
        generation: u64,
        read: impl Iterator<Item = (String, Email)>,
    ) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.generation != generation {
            return;
        }
        for (ident, email) in read {
            if inner.emails.len() >= MAX_ENTRIES {
                inner.emails.clear();
            }
            inner
                .emails
                .insert((account_id, app_id.to_string(), ident), email);
        }
    }

    /// Drops every identity of the account (after an erasure).
    pub fn forget_account(&self, account_id: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.generation += 1;
        inner.emails.retain(|(a, _, _), _| *a != account_id);
    }

    /// Drops identities a committed write gave a new email.
    pub fn forget(&self, account_id: i64, app_id: &str, idents: &[String]) {
        if idents.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.generation += 1;
        for ident in idents {
            inner
                .emails
                .remove(&(account_id, app_id.to_string(), ident.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn a_read_older_than_a_rename_is_not_kept() {
        let cache = IdentityEmails::default();
        let ids = vec!["u1".to_string()];
        let (_, before) = cache.get(1, "app", &ids);
        // An identify commits and renames u1 while the read was under way.
        cache.forget(1, "app", &ids);
        cache.remember(
            1,
            "app",
            before,
            [("u1".to_string(), email("old@x.io"))].into_iter(),
        );
        assert!(cache.get(1, "app", &ids).0.is_empty());
        let (_, now) = cache.get(1, "app", &ids);
        cache.remember(
            1,
            "app",
            now,
            [("u1".to_string(), email("new@x.io"))].into_iter(),
        );
        assert_eq!(cache.get(1, "app", &ids).0["u1"], email("new@x.io"));
        assert!(cache.get(2, "app", &ids).0.is_empty(), "per account");
    }
}
