//! Foundation: credentials, administration, errors, audit, rate limits, TLS.
