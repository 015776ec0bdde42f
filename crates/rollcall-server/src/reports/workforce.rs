//! Workforce reports (SPEC §5): working hours and the activity log.
