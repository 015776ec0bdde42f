//! Custom-app usage through the HTTP API (issue: usage).
