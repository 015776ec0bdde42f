//! Pieces the workforce reads share: a statement builder whose placeholders
//! always match its parameters, the scoping clauses, the account's passive limit
//! and classification set in one query, and classification of (client,
//! activity) pairs.
//!
//! Activities (`wf_activities`) are immutable once inserted (ids are never
//! reused, rows never change or go), so their kinds and keys are cached per
//! account in the store's caches and only ids not seen before are read; a
//! client's first group changes with group membership, so it is read in the
//! report's snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use rollcall_core::workforce::{Activity, ClassificationSet, Classifier};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use super::super::caches::{ActivityMap, PgCaches};
use crate::workforce::Scoping;
use crate::{StoreError, StoreResult};

pub(super) const KIND_CLIENT: &str = "c";
pub(super) const KIND_COMPUTER: &str = "m";

/// A statement's text and its parameters, built together: [`Query::bind`] adds a
/// parameter and returns its `$n`, so clauses that appear only when a filter is
/// given cannot get the numbering wrong. Each distinct text is prepared (and
/// cached per connection) once.
pub(super) struct Query<'a> {
    pub sql: String,
    params: Vec<&'a (dyn ToSql + Sync)>,
}

impl<'a> Query<'a> {
    pub fn new() -> Self {
        Query {
            sql: String::new(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter; returns its placeholder.
    pub fn bind(&mut self, value: &'a (dyn ToSql + Sync)) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    pub fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    pub async fn run(self, client: &impl GenericClient) -> StoreResult<Vec<Row>> {
        let stmt = self.prepare(client).await?;
        self.run_prepared(client, &stmt).await
    }

    /// The statement, prepared (or found in the connection's cache).
    pub async fn prepare(&self, client: &impl GenericClient) -> StoreResult<Statement> {
        Ok(client.prepare_cached(&self.sql).await?)
    }

    /// Runs `stmt` (this query's, from [`Query::prepare`]): the request goes out
    /// on the first poll, so it can share a flight with a `COMMIT` joined after it.
    pub async fn run_prepared(
        &self,
        client: &impl GenericClient,
        stmt: &Statement,
    ) -> StoreResult<Vec<Row>> {
        Ok(client.query(stmt, &self.params).await?)
    }
}

/// Appends the scoping conditions on alias `t` (with `client_id` and
/// `computer_id` columns), only the clauses the scoping uses. A (client,
/// computer) pair is in a group when its client or its computer is a member.
/// `account` is the placeholder already bound to the account id.
pub(super) fn push_scope<'a>(q: &mut Query<'a>, account: &str, s: &'a Scoping) {
    if let Some(id) = &s.client_id {
        let p = q.bind(id);
        q.push(&format!(" AND t.client_id = {p}"));
    }
    if let Some(id) = &s.computer_id {
        let p = q.bind(id);
        q.push(&format!(" AND t.computer_id = {p}"));
    }
    if let Some(id) = &s.group_id {
        let p = q.bind(id);
        q.push(&in_groups(account, &format!("group_id = {p}")));
    }
    if let Some(groups) = &s.viewable_groups {
        let p = q.bind(groups);
        q.push(&in_groups(account, &format!("group_id = ANY({p})")));
    }
}

fn in_groups(account: &str, group_cond: &str) -> String {
    format!(
        " AND (t.client_id IN (SELECT member_id FROM wf_group_members
                               WHERE account_id = {account} AND kind = 'c' AND {group_cond})
            OR t.computer_id IN (SELECT member_id FROM wf_group_members
                                 WHERE account_id = {account} AND kind = 'm' AND {group_cond}))"
    )
}

/// The account's classification set (the default one when never set).
pub(super) async fn load_classifications(
    client: &impl GenericClient,
    account_id: i64,
) -> StoreResult<ClassificationSet> {
    let stmt = client
        .prepare_cached("SELECT body FROM wf_classifications WHERE account_id = $1")
        .await?;
    Ok(match client.query_opt(&stmt, &[&account_id]).await? {
        Some(row) => serde_json::from_str(row.get(0))?,
        None => ClassificationSet::default(),
    })
}

/// The account's passive limit (milliseconds, `None` = unlimited) and
/// classification set, in one query.
pub(super) async fn limit_and_classifications(
    client: &impl GenericClient,
    account_id: i64,
) -> StoreResult<(Option<i64>, ClassificationSet)> {
    let stmt = client
        .prepare_cached(
            "SELECT a.passive_limit_minutes, c.body FROM accounts a
             LEFT JOIN wf_classifications c ON c.account_id = a.id WHERE a.id = $1",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&account_id])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("account {account_id} does not exist")))?;
    let limit_ms = row
        .get::<_, Option<i64>>(0)
        .map(|m| i64::from(m as u32) * 60_000);
    let set = match row.get::<_, Option<&str>>(1) {
        Some(body) => serde_json::from_str(body)?,
        None => ClassificationSet::default(),
    };
    Ok((limit_ms, set))
}

/// The activities of `ids`: from the cache, reading only ids not seen before.
/// Rows are immutable, so this may run outside the report's snapshot.
pub(super) async fn activities(
    client: &impl GenericClient,
    caches: &PgCaches,
    account_id: i64,
    ids: impl IntoIterator<Item = i64>,
) -> StoreResult<ActivityMap> {
    let cached = caches.activities.get(&account_id).unwrap_or_default();
    let mut missing: Vec<i64> = ids
        .into_iter()
        .filter(|i| !cached.contains_key(i))
        .collect();
    if missing.is_empty() {
        return Ok(cached);
    }
    missing.sort_unstable();
    missing.dedup();
    let stmt = client
        .prepare_cached(
            "SELECT id, kind, key FROM wf_activities WHERE account_id = $1 AND id = ANY($2)",
        )
        .await?;
    let rows = client.query(&stmt, &[&account_id, &missing]).await?;
    let mut map = HashMap::clone(&cached);
    map.extend(
        rows.iter()
            .map(|r| (r.get(0), activity(r.get(1), r.get(2)))),
    );
    let map = Arc::new(map);
    caches
        .activities
        .put_unless(account_id, Arc::clone(&map), |old| old.len() >= map.len());
    Ok(map)
}

/// Classifies (client, activity) pairs of one read, from the activities and
/// the clients' first groups fetched for it.
pub(super) struct Classify {
    classifier: Classifier,
    activities: ActivityMap,
    first_group: HashMap<i64, i64>,
    cache: HashMap<(i64, i64), i8>,
}

impl Classify {
    /// `first_group`: client id -> its first group (clients in no group absent).
    pub fn new(
        set: &ClassificationSet,
        activities: ActivityMap,
        first_group: HashMap<i64, i64>,
    ) -> Classify {
        Classify {
            classifier: Classifier::new(set),
            activities,
            first_group,
            cache: HashMap::new(),
        }
    }

    pub fn productivity(&mut self, client_id: i64, activity_id: i64) -> i8 {
        if let Some(p) = self.cache.get(&(client_id, activity_id)) {
            return *p;
        }
        let group = self.first_group.get(&client_id).copied();
        let p = self
            .activities
            .get(&activity_id)
            .map_or(0, |a| self.classifier.classify(group, a));
        self.cache.insert((client_id, activity_id), p);
        p
    }
}

fn activity(kind: &str, key: String) -> Activity {
    if kind == "w" {
        Activity::Website(key)
    } else {
        Activity::Application(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_clauses_given() {
        let account = 7i64;
        let scoping = Scoping {
            client_id: None,
            computer_id: Some(3),
            group_id: Some(5),
            viewable_groups: Some(vec![1, 2]),
        };
        let mut q = Query::new();
        let a = q.bind(&account);
        q.push("SELECT 1 FROM wf_day_span t WHERE t.account_id = ");
        q.push(&a);
        push_scope(&mut q, &a, &scoping);
        assert_eq!(q.params.len(), 4);
        assert!(q.sql.contains("t.computer_id = $2"), "{}", q.sql);
        assert_eq!(q.sql.matches("group_id = $3").count(), 2, "{}", q.sql);
        assert_eq!(q.sql.matches("group_id = ANY($4)").count(), 2, "{}", q.sql);
        assert!(!q.sql.contains("t.client_id = $"), "{}", q.sql);
    }

    #[test]
    fn no_scoping_adds_nothing() {
        let scoping = Scoping::default();
        let mut q = Query::new();
        let a = q.bind(&1i64);
        push_scope(&mut q, &a, &scoping);
        assert!(q.sql.is_empty());
        assert_eq!(q.params.len(), 1);
    }
}
