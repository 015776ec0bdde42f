//! Scoping shared by the workforce reads: a filter of the request and a
//! viewer's groups, applied to every (client, computer) pair (a pair is in a
//! group when its client or its computer is a member), and the member kinds of
//! `wf_group_members`.

use serde_json::json;

use crate::workforce::Scoping;

pub(super) const KIND_CLIENT: &str = "c";
pub(super) const KIND_COMPUTER: &str = "m";

/// The scoping conditions on a table aliased `t` with `client_id`/`computer_id`
/// columns, with only the clauses a query needs (absent filters cost nothing per
/// row). Parameters: ?100 account, ?101 client, ?102 computer, ?103 group, ?104
/// viewable groups (a JSON array), bound by [`bind_scope`].
pub(super) fn scope_sql(s: &Scoping) -> String {
    let mut sql = String::new();
    if s.client_id.is_some() {
        sql.push_str(" AND t.client_id = ?101");
    }
    if s.computer_id.is_some() {
        sql.push_str(" AND t.computer_id = ?102");
    }
    if s.group_id.is_some() {
        sql.push_str(
            " AND (t.client_id IN (SELECT member_id FROM wf_group_members
                                   WHERE group_id = ?103 AND kind = 'c' AND account_id = ?100)
                OR t.computer_id IN (SELECT member_id FROM wf_group_members
                                     WHERE group_id = ?103 AND kind = 'm' AND account_id = ?100))",
        );
    }
    if s.viewable_groups.is_some() {
        sql.push_str(
            " AND (t.client_id IN (SELECT member_id FROM wf_group_members
                                   WHERE account_id = ?100 AND kind = 'c'
                                     AND group_id IN (SELECT value FROM json_each(?104)))
                OR t.computer_id IN (SELECT member_id FROM wf_group_members
                                     WHERE account_id = ?100 AND kind = 'm'
                                       AND group_id IN (SELECT value FROM json_each(?104))))",
        );
    }
    sql
}

fn viewable_json(v: &Option<Vec<i64>>) -> Option<String> {
    v.as_ref().map(|g| json!(g).to_string())
}

/// Binds the account (?100) and the scoping parameters that [`scope_sql`] used.
pub(super) fn bind_scope(
    stmt: &mut rusqlite::CachedStatement<'_>,
    account_id: i64,
    s: &Scoping,
) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(100, account_id)?;
    if let Some(id) = s.client_id {
        stmt.raw_bind_parameter(101, id)?;
    }
    if let Some(id) = s.computer_id {
        stmt.raw_bind_parameter(102, id)?;
    }
    if let Some(id) = s.group_id {
        stmt.raw_bind_parameter(103, id)?;
    }
    if let Some(groups) = viewable_json(&s.viewable_groups) {
        stmt.raw_bind_parameter(104, groups)?;
    }
    Ok(())
}
