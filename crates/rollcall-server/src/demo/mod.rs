//! Demo data (SPEC §10.4): fills an empty account with a believable company —
//! about 200 people in nine teams across five locations with their managers, eight
//! connected apps with licences, 90 days of usage, spend and contracts, 60
//! computers with 30 days of activity, groups, web users and the audit history
//! all of that leaves. Everything is drawn from one seed, so a seed gives the
//! same reports (on the same day: the data ends yesterday).
//!
//! It writes through the [`Store`] traits, as the API would, but without HTTP,
//! so it takes seconds. `rollcall demo` and `rollcall serve --demo` call [`fill`].

mod apps;
mod calendar;
mod company;
mod money;
mod rng;
mod workforce;

use std::collections::HashMap;

use rollcall_core::workforce::GroupOverride;
use rollcall_core::{secret, time, Email, Role, ScopeSet};
use rollcall_store::admin::{
    ConsumerPatch, CredentialKind, NewConsumer, NewCredential, SettingsPatch,
};
use rollcall_store::audit::Actor;
use rollcall_store::money::SpendSource;
use rollcall_store::usage::{NewEvent, OrgMode, ProvisionedUser};
use rollcall_store::workforce::{ClientPatch, Scoping};
use rollcall_store::{Store, StoreError};
use serde::Serialize;

use calendar::Calendar;
use rng::Rng;

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 20_261_206;

/// The demo company's time zone (its headquarters).
pub const TIME_ZONE: &str = "America/New_York";

/// Events per store call: large batches keep the fill fast.
const EVENT_BATCH: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "there is no account to fill; create one with `rollcall admin init` or `rollcall serve`"
    )]
    NoAccount,
    #[error(
        "account {0} already has data (apps or an org chart); the demo fills only an empty account"
    )]
    NotEmpty(i64),
    #[error("account {0} has no superadmin to record the demo's set-up as")]
    NoSuperadmin(i64),
    #[error("the demo data is inconsistent: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`fill`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoSummary {
    pub account_id: i64,
    pub seed: u64,
    pub employees: usize,
    pub teams: usize,
    pub apps: usize,
    pub provisioned_users: usize,
    pub usage_events: u64,
    pub computers: usize,
    pub activity_records: u64,
    pub contracts: usize,
    pub spend_records: usize,
    pub groups: usize,
    pub web_users: usize,
}

/// The first account of the store, which `serve` created on its first start.
pub async fn first_account(store: &dyn Store) -> Result<i64, DemoError> {
    store
        .account_ids()
        .await?
        .first()
        .copied()
        .ok_or(DemoError::NoAccount)
}

/// Fills `account_id` (which must have no apps and no org chart) with the demo
/// company of `seed`, its data ending yesterday in the demo's time zone.
pub async fn fill(store: &dyn Store, account_id: i64, seed: u64) -> Result<DemoSummary, DemoError> {
    if !store.list_apps(account_id).await?.is_empty()
        || store.org_chart(account_id).await?.is_some()
    {
        return Err(DemoError::NotEmpty(account_id));
    }
    // The account's superadmin performs the set-up, as they would by hand.
    let actor = store
        .consumers(account_id)
        .await?
        .into_iter()
        .find(|c| c.role == Role::Superadmin)
        .ok_or(DemoError::NoSuperadmin(account_id))?;
    let owner_id = actor.id;
    let actor = Actor::new(actor.email, None);
    let mut summary = DemoSummary {
        account_id,
        seed,
        ..Default::default()
    };

    store
        .update_settings(
            account_id,
            &actor,
            SettingsPatch {
                time_zone: Some(TIME_ZONE.into()),
                ..Default::default()
            },
        )
        .await?;
    let zone = time::parse_time_zone(TIME_ZONE).map_err(DemoError::Inconsistent)?;
    let cal = Calendar::ending_before(time::local_date(rollcall_store::now_ms(), &zone));

    // The org chart.
    let company = company::generate(&mut Rng::stream(seed, "company"));
    store
        .replace_org_chart(
            account_id,
            &actor,
            "Northwind HRIS export".into(),
            vec![company::EMPLOYMENT_TYPE.into()],
            company::employees(&company),
            OrgMode::Replace,
        )
        .await?;
    summary.employees = company.people.len();
    summary.teams = company::TEAMS.len();

    // Apps, licences, usage, contracts and spend.
    let mut contracts = Vec::new();
    let mut spend = Vec::new();
    let mut app_ids = HashMap::new();
    for (index, spec) in apps::APPS.iter().enumerate() {
        let mut rng = Rng::stream(seed, spec.name);
        let app = store
            .create_app(account_id, &actor, spec.definition())
            .await?;
        app_ids.insert(spec.name, app.app_id.clone());
        let seats = apps::seats(spec, index, &company, &cal, &mut rng);
        let person = |s: &apps::Seat| {
            if s.former {
                &company.former[s.person]
            } else {
                &company.people[s.person]
            }
        };
        let users: Vec<ProvisionedUser> = seats
            .iter()
            .map(|s| {
                let p = person(s);
                ProvisionedUser {
                    app_user_id: s.app_user_id.clone(),
                    email: p.email.clone(),
                    username: Some(p.email.split('@').next().unwrap_or("").to_string()),
                    license: Some(spec.tiers[s.tier].name.to_string()),
                    profile: None,
                }
            })
            .collect();
        summary.provisioned_users += users.len();
        store
            .upsert_provisioned(account_id, &app.app_id, users)
            .await?;

        let mut events = Vec::new();
        for s in &seats {
            let p = person(s);
            let email = Email::parse(&p.email)
                .map_err(|e| DemoError::Inconsistent(format!("{}: {e}", p.email)))?;
            for (ts_ms, e) in apps::seat_events(spec, s, p, &cal, &mut rng) {
                events.push(NewEvent {
                    index: events.len(),
                    ts_ms,
                    email: email.clone(),
                    event_name: spec.events[e].name.to_string(),
                    day: time::day_number(time::local_date(ts_ms, &zone)),
                });
            }
        }
        events.sort_by_key(|e| e.ts_ms);
        for chunk in events.chunks(EVENT_BATCH) {
            let outcome = store
                .push_events(account_id, &app.app_id, chunk.to_vec())
                .await?;
            summary.usage_events += outcome.accepted;
        }

        let contract = money::contract(spec, &app.app_id, &seats, &cal, &mut rng);
        spend.extend(money::spend(
            spec,
            index,
            &app.app_id,
            &contract,
            &cal,
            &mut rng,
        ));
        contracts.push(contract);
    }
    money::check(&contracts, &spend).map_err(DemoError::Inconsistent)?;
    summary.apps = apps::APPS.len();
    summary.contracts = contracts.len();
    summary.spend_records = spend.len();
    store.put_contracts(account_id, &actor, contracts).await?;
    store
        .put_spend(account_id, &actor, SpendSource::Csv, spend)
        .await?;

    // Computers and their activity, kept as the account's privacy policy says
    // (SPEC §11; a new account's keeps no window titles), as an agent's would be.
    let privacy = store
        .privacy_policy(account_id)
        .await?
        .compile()
        .map_err(|p| {
            DemoError::Inconsistent(format!("the privacy policy does not compile: {p:?}"))
        })?;
    let capture = privacy.capture_for(&[]);
    let mut rng = Rng::stream(seed, "workforce");
    let tracked = workforce::tracked(&company, &mut rng);
    for t in &tracked {
        let mut batch = workforce::batch(t, &company.people[t.person], &cal, &mut rng);
        batch.records = crate::routes::privacy::capture_records(
            &privacy,
            capture,
            std::mem::take(&mut batch.records),
            rollcall_store::now_ms(),
        );
        batch.redaction_keys = privacy.rule_keys();
        let outcome = store.ingest_activity(account_id, batch).await?;
        summary.activity_records += outcome.accepted;
    }
    summary.computers = tracked.len();
    let clients = store.wf_clients(account_id, Scoping::default()).await?;
    let computers = store.wf_computers(account_id, Scoping::default()).await?;
    let mut team_members: HashMap<&str, (Vec<i64>, Vec<i64>)> = HashMap::new();
    for t in &tracked {
        let p = &company.people[t.person];
        let client = clients
            .iter()
            .find(|c| c.name == t.client.name && c.login_domain == t.client.login_domain)
            .ok_or_else(|| DemoError::Inconsistent(format!("client {} missing", t.client.name)))?;
        let computer = computers
            .iter()
            .find(|c| c.name == t.computer.name)
            .ok_or_else(|| {
                DemoError::Inconsistent(format!("computer {} missing", t.computer.name))
            })?;
        store
            .update_wf_client(
                account_id,
                &actor,
                client.id,
                ClientPatch {
                    alias: Some(Some(p.full_name())),
                    employee_email: Some(Some(p.email.clone())),
                },
            )
            .await?;
        let entry = team_members.entry(p.team_name()).or_default();
        entry.0.push(client.id);
        entry.1.push(computer.id);
    }
    let mut group_ids = HashMap::new();
    let mut teams: Vec<&str> = team_members.keys().copied().collect();
    teams.sort_unstable();
    for team in teams {
        let (clients, computers) = team_members[team].clone();
        let id = store
            .create_group(account_id, &actor, team.to_string(), clients, computers)
            .await?;
        group_ids.insert(team, id);
    }
    summary.groups = group_ids.len();

    // IT watches training videos: productive for them only.
    let mut classes = workforce::classifications();
    if let Some(&it) = group_ids.get("IT") {
        classes.group_overrides.push(GroupOverride {
            group_id: it,
            domain: Some("youtube.com".into()),
            executable: None,
            productivity: 1,
        });
    }
    let problems = classes.normalize();
    if !problems.is_empty() {
        return Err(DemoError::Inconsistent(format!("{problems:?}")));
    }
    store
        .put_classifications(account_id, &actor, classes)
        .await?;

    summary.web_users = web_users(
        store, account_id, &actor, owner_id, &company, &group_ids, &app_ids,
    )
    .await?;
    Ok(summary)
}

/// Web users a company would add (a team lead who sees their team, finance, an
/// IT admin), a credential for a nightly sync, and one revoked.
async fn web_users(
    store: &dyn Store,
    account_id: i64,
    actor: &Actor,
    owner_id: i64,
    company: &company::Company,
    group_ids: &HashMap<&str, i64>,
    app_ids: &HashMap<&str, String>,
) -> Result<usize, DemoError> {
    let head = |team: &str| {
        company
            .people
            .iter()
            .find(|p| p.team_name() == team)
            .ok_or_else(|| DemoError::Inconsistent(format!("team {team} has nobody")))
    };
    let email = |p: &company::Person| {
        Email::parse(&p.email).map_err(|e| DemoError::Inconsistent(e.to_string()))
    };
    let cs = head("Customer Success")?;
    let cs_apps = ["Helpdesk", "DealFlow CRM", "Mailwise", "Chatter"]
        .iter()
        .filter_map(|n| app_ids.get(n).cloned())
        .collect();
    let mut added = 0;
    store
        .create_consumer(
            account_id,
            actor,
            NewConsumer {
                email: email(cs)?,
                name: cs.full_name(),
                role: Role::Viewer,
                password_hash: None,
                viewable_groups: group_ids
                    .get("Customer Success")
                    .map(|&g| vec![g])
                    .unwrap_or_default(),
                allowed_apps: Some(cs_apps),
                logins: Vec::new(),
            },
        )
        .await?;
    added += 1;
    let finance = head("Finance")?;
    let finance_id = store
        .create_consumer(
            account_id,
            actor,
            NewConsumer {
                email: email(finance)?,
                name: finance.full_name(),
                role: Role::Viewer,
                password_hash: None,
                viewable_groups: vec![-1],
                allowed_apps: None,
                logins: Vec::new(),
            },
        )
        .await?;
    added += 1;
    let it = head("IT")?;
    let it_id = store
        .create_consumer(
            account_id,
            actor,
            NewConsumer {
                email: email(it)?,
                name: it.full_name(),
                role: Role::Viewer,
                password_hash: None,
                viewable_groups: vec![-1],
                allowed_apps: None,
                logins: Vec::new(),
            },
        )
        .await?;
    added += 1;
    // Promoted once they took over the agent roll-out.
    store
        .update_consumer(
            account_id,
            actor,
            it_id,
            ConsumerPatch {
                role: Some(Role::Admin),
                ..Default::default()
            },
        )
        .await?;
    // Credentials whose secrets nobody will ever see: the demo only needs their history.
    let scopes = ScopeSet::parse_names(["connector.write"]).map_err(DemoError::Inconsistent)?;
    store
        .create_credential(
            account_id,
            actor,
            NewCredential {
                kind: CredentialKind::OAuthClient,
                name: "HRIS nightly org-chart sync".into(),
                consumer_id: None,
                client_id: Some(format!("rc_{}", secret::random_hex(12))),
                secret_hash: secret::hash(&secret::generate("rs_")),
                scopes,
                owner_id: Some(owner_id),
                app_id: None,
            },
        )
        .await?;
    let old = store
        .create_credential(
            account_id,
            actor,
            NewCredential {
                kind: CredentialKind::ApiKey,
                name: "spend export (old laptop)".into(),
                consumer_id: Some(finance_id),
                client_id: None,
                secret_hash: secret::hash(&secret::generate("rk_")),
                scopes: ScopeSet::default(),
                owner_id: Some(owner_id),
                app_id: None,
            },
        )
        .await?;
    store.revoke_credential(account_id, actor, old).await?;
    Ok(added)
}
