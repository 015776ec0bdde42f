//! Money (finance, spend, contracts) through the HTTP API (issue: usage, part 5).
