//! Password hashing with argon2id (slow on purpose; run off the async threads).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Each argon2 run holds ~19 MiB for tens of milliseconds; bounding how many run at
/// once keeps a burst of logins from exhausting memory (a process-wide resource,
/// hence process-wide).
static SLOTS: Semaphore = Semaphore::const_new(4);

pub async fn hash(password: String) -> Result<String, ApiError> {
    let _slot = SLOTS.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

pub async fn verify(password: String, stored: String) -> bool {
    let Ok(_slot) = SLOTS.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// 422 unless the password is at least 12 characters.
pub fn check_strength(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 12 {
        return Err(ApiError::unprocessable(
            "password must be at least 12 characters long",
        ));
    }
    Ok(())
}
