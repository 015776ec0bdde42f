//! Pieces the workforce reads share: a statement builder whose placeholders
//! always match its parameters, the scoping clauses, and classification of
//! (client, activity) pairs with everything it needs fetched in two queries.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use rollcall_core::workforce::{Activity, ClassificationSet, Classifier};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::workforce::Scoping;
use crate::StoreResult;

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
        let stmt = client.prepare_cached(&self.sql).await?;
        Ok(client.query(&stmt, &self.params).await?)
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

/// Whether a client or computer with `groups` is visible to a viewer.
pub(super) fn visible(groups: &[i64], viewable: &Option<Vec<i64>>) -> bool {
    viewable
        .as_ref()
        .is_none_or(|v| groups.iter().any(|g| v.contains(g)))
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

/// Classifies (client, activity) pairs of one read: the activities' names and
/// the clients' first groups are fetched once, up front, for all the ids the
/// read found.
pub(super) struct Classify {
    classifier: Classifier,
    activities: HashMap<i64, Activity>,
    first_group: HashMap<i64, i64>,
    cache: HashMap<(i64, i64), i8>,
}

impl Classify {
    pub async fn load(
        client: &impl GenericClient,
        account_id: i64,
        set: &ClassificationSet,
        mut activity_ids: Vec<i64>,
        mut client_ids: Vec<i64>,
    ) -> StoreResult<Classify> {
        activity_ids.sort_unstable();
        activity_ids.dedup();
        client_ids.sort_unstable();
        client_ids.dedup();
        let (activities, groups) = tokio::try_join!(
            async {
                let stmt = client
                    .prepare_cached(
                        "SELECT id, kind, key FROM wf_activities
                         WHERE account_id = $1 AND id = ANY($2)",
                    )
                    .await?;
                client.query(&stmt, &[&account_id, &activity_ids]).await
            },
            async {
                let stmt = client
                    .prepare_cached(
                        "SELECT member_id, min(group_id) FROM wf_group_members
                         WHERE account_id = $1 AND kind = 'c' AND member_id = ANY($2)
                         GROUP BY member_id",
                    )
                    .await?;
                client.query(&stmt, &[&account_id, &client_ids]).await
            },
        )?;
        Ok(Classify {
            classifier: Classifier::new(set),
            activities: activities
                .iter()
                .map(|r| (r.get(0), activity(r.get(1), r.get(2))))
                .collect(),
            first_group: groups.iter().map(|r| (r.get(0), r.get(1))).collect(),
            cache: HashMap::new(),
        })
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

    #[test]
    fn a_viewer_sees_members_of_its_groups_only() {
        assert!(visible(&[], &None));
        assert!(!visible(&[], &Some(vec![1])));
        assert!(visible(&[2, 1], &Some(vec![1])));
        assert!(!visible(&[2], &Some(vec![])));
    }
}
