-- References new activity records add to their strings, not yet folded into
-- wf_texts.refs (sqlite/workforce/texts.rs). A write of records appended one
-- `UPDATE wf_texts SET refs = refs + n` per distinct string it named (most of
-- a batch's titles and URLs, each on its own page of wf_texts); it now appends
-- its (string id, references) pairs as one compact row, and every 64th pending
-- row of an account folds them all into wf_texts in id order.
CREATE TABLE wf_text_refs_pending (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    refs BLOB NOT NULL
);
CREATE INDEX wf_text_refs_pending_account ON wf_text_refs_pending(account_id, id);

-- While an account has pending references, its stored counts may be too low,
-- so deleting or blanking records deletes no string then: whatever deletes or
-- blanks records folds the account's pending references first, and a string
-- left at zero by a path that did not is kept (never one still named).
DROP TRIGGER wf_records_unref;
DROP TRIGGER wf_records_reref;
CREATE TRIGGER wf_records_unref AFTER DELETE ON wf_records BEGIN
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.exe_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.title_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.url_id;
    DELETE FROM wf_texts WHERE id IN (old.exe_id, old.title_id, old.url_id) AND refs <= 0
        AND NOT EXISTS (SELECT 1 FROM wf_text_refs_pending p WHERE p.account_id = old.account_id);
END;
CREATE TRIGGER wf_records_reref AFTER UPDATE OF exe_id, title_id, url_id ON wf_records BEGIN
    UPDATE wf_texts SET refs = refs + 1 WHERE id = new.exe_id;
    UPDATE wf_texts SET refs = refs + 1 WHERE id = new.title_id;
    UPDATE wf_texts SET refs = refs + 1 WHERE id = new.url_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.exe_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.title_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.url_id;
    DELETE FROM wf_texts WHERE id IN (old.exe_id, old.title_id, old.url_id) AND refs <= 0
        AND NOT EXISTS (SELECT 1 FROM wf_text_refs_pending p WHERE p.account_id = old.account_id);
END;
