//! Roles of web users and the scopes their API keys carry.

use crate::scope::{Scope, ScopeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Superadmin,
    Admin,
    Viewer,
    /// A person measured by Rollcall, bound to their email and agent logins,
    /// who reads only their own data under `/me/v1` and `/ui/me` (SPEC §11).
    Employee,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superadmin => "superadmin",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
            Role::Employee => "employee",
        }
    }
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "superadmin" => Some(Role::Superadmin),
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            "employee" => Some(Role::Employee),
            _ => None,
        }
    }
    /// Superadmins and admins may do everything; viewers only read; an
    /// employee only reads their own data (`me.read`).
    pub fn scopes(self) -> ScopeSet {
        match self {
            Role::Superadmin | Role::Admin => ScopeSet::all(),
            Role::Viewer => Scope::READ.into_iter().collect(),
            Role::Employee => [Scope::MeRead].into_iter().collect(),
        }
    }
    /// Whether this role sees everything (no group or app restriction).
    pub fn sees_everything(self) -> bool {
        matches!(self, Role::Superadmin | Role::Admin)
    }
    /// How much a role may see, for "does this change take access away":
    /// superadmin > admin > viewer > employee.
    pub fn rank(self) -> u8 {
        match self {
            Role::Superadmin => 3,
            Role::Admin => 2,
            Role::Viewer => 1,
            Role::Employee => 0,
        }
    }
    /// Every role, in the order the API names them.
    pub const ALL: [Role; 4] = [Role::Superadmin, Role::Admin, Role::Viewer, Role::Employee];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_employee_carries_only_me_read_and_sees_nothing_else() {
        let scopes = Role::Employee.scopes();
        assert!(scopes.contains(Scope::MeRead));
        assert_eq!(scopes.iter().count(), 1);
        assert!(!Role::Employee.sees_everything());
        assert!(!Role::Viewer.scopes().contains(Scope::MeRead));
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(Role::Employee.rank() < Role::Viewer.rank());
    }
}
