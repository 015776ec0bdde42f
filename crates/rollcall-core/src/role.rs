//! Roles of web users and the scopes their API keys carry.

use crate::scope::{Scope, ScopeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Superadmin,
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superadmin => "superadmin",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "superadmin" => Some(Role::Superadmin),
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
    /// Superadmins and admins may do everything; viewers only read.
    pub fn scopes(self) -> ScopeSet {
        match self {
            Role::Superadmin | Role::Admin => ScopeSet::all(),
            Role::Viewer => Scope::READ.into_iter().collect(),
        }
    }
    /// Whether this role sees everything (no group or app restriction).
    pub fn sees_everything(self) -> bool {
        !matches!(self, Role::Viewer)
    }
}
