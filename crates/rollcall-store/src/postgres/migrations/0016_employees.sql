-- Employees (SPEC §11): a web user of role `employee` is bound to their agent
-- logins (JSON array of lower-case `domain\name`); access records say who read
-- one person's individual data on which (UTC) day, once per viewer and day.
ALTER TABLE consumers ADD COLUMN logins TEXT NOT NULL DEFAULT '[]';

CREATE TABLE access_records (
    account_id BIGINT NOT NULL,
    subject TEXT NOT NULL,          -- email:<address> | client:<id>
    viewer TEXT NOT NULL,           -- the viewer's email
    day INTEGER NOT NULL,           -- UTC days since 1970-01-01
    first_ms BIGINT NOT NULL,
    kinds INTEGER NOT NULL,         -- bits: 1 working hours, 2 activity log, 4 usage
    PRIMARY KEY (account_id, subject, viewer, day)
);
