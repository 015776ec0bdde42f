//! Creating an account with its superadmin and first credentials; used by
//! `rollcall admin init` and by the first start of `rollcall serve`.

use rollcall_core::{secret, Email, Role};
use rollcall_store::admin::{NewAccount, NewConsumer};
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
