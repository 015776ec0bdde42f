//! Creating an account with its superadmin and first credentials; used by
//! `rollcall admin init` and by the first start of `rollcall serve`.

use rollcall_core::{secret, Email, Role};
use rollcall_store::admin::{NewAccount, NewConsumer};
use rollcall_store::audit::Actor;
use rollcall_store::Store;
use serde::Serialize;

use crate::passwords;

/// The one-time credentials of a new account (SPEC §8), printed once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitCredentials {
    pub account_id: i64,
    pub email: String,
    pub password: String,
    pub api_key: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Creates a new account. `email` defaults to `admin@account-<n>.rollcall.local`.
pub async fn init_account(
    store: &dyn Store,
    email: Option<&str>,
) -> anyhow::Result<InitCredentials> {
    let email = match email {
        Some(e) => Email::parse(e).map_err(anyhow::Error::msg)?,
        None => {
            let n = store.account_count().await? + 1;
            Email::parse(&format!("admin@account-{n}.rollcall.local"))
                .map_err(anyhow::Error::msg)?
        }
    };
    let password = secret::generate("").chars().take(24).collect::<String>();
    let api_key = secret::generate("rk_");
    let client_id = format!("rc_{}", secret::random_hex(12));
    let client_secret = secret::generate("rs_");
    let password_hash = passwords::hash(password.clone())
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let (account_id, _) = store
        .create_account(NewAccount {
            name: format!("Account of {email}"),
            superadmin: NewConsumer {
                email: email.clone(),
                name: "Administrator".into(),
                role: Role::Superadmin,
                password_hash: Some(password_hash),
                viewable_groups: vec![-1],
                allowed_apps: None,
                logins: Vec::new(),
            },
            api_key_hash: secret::hash(&api_key),
            client_id: client_id.clone(),
            client_secret_hash: secret::hash(&client_secret),
        })
        .await?;
    Ok(InitCredentials {
        account_id,
        email: email.into_string(),
        password,
        api_key,
        client_id,
        client_secret,
    })
}

/// Why `rollcall admin reset-password` could not reset a password.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("'{0}' is not an email address")]
    BadEmail(String),
    #[error("no web user has the email {email}{}", in_account(*.account))]
    NoSuchUser { email: String, account: Option<i64> },
    #[error("{email} is a web user of accounts {accounts:?}; name one with --account")]
    Ambiguous { email: String, accounts: Vec<i64> },
    #[error("cannot hash the new password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] rollcall_store::StoreError),
}

fn in_account(account: Option<i64>) -> String {
    account
        .map(|a| format!(" in account {a}"))
        .unwrap_or_default()
}

/// A web user's new one-time password.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPassword {
    pub account_id: i64,
    pub consumer_id: i64,
    pub email: String,
    pub password: String,
}

/// Gives the web user `email` (of `account`, or of the only account that has
/// them) a new random password, for an operator with access to the data when
/// nobody can log in any more. Only the hash is stored.
pub async fn reset_password(
    store: &dyn Store,
    email: &str,
    account: Option<i64>,
) -> Result<ResetPassword, ResetError> {
    let email = Email::parse(email).map_err(|_| ResetError::BadEmail(email.to_string()))?;
    let accounts = match account {
        Some(a) => vec![a],
        None => store.account_ids().await?,
    };
    let mut found = Vec::new();
    for account_id in accounts {
        let consumers = match store.consumers(account_id).await {
            Ok(c) => c,
            Err(rollcall_store::StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        if let Some(c) = consumers
            .iter()
            .find(|c| c.email.eq_ignore_ascii_case(email.as_str()))
        {
            found.push((account_id, c.id));
        }
    }
    let (account_id, consumer_id) = match found.as_slice() {
        [] => {
            return Err(ResetError::NoSuchUser {
                email: email.into_string(),
                account,
            })
        }
        [one] => *one,
        many => {
            return Err(ResetError::Ambiguous {
                email: email.into_string(),
                accounts: many.iter().map(|(a, _)| *a).collect(),
            })
        }
    };
    let password = secret::generate("").chars().take(24).collect::<String>();
    let hash = passwords::hash(password.clone())
        .await
        .map_err(|e| ResetError::Hash(e.message))?;
    store
        .update_consumer(
            account_id,
            &Actor::new("rollcall admin reset-password", None),
            consumer_id,
            rollcall_store::admin::ConsumerPatch {
                password_hash: Some(hash),
                ..Default::default()
            },
        )
        .await?;
    Ok(ResetPassword {
        account_id,
        consumer_id,
        email: email.into_string(),
        password,
    })
}
