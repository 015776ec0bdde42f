//! Workforce activity through the HTTP API (issue: workforce).
