-- How far back the inbox is complete. Retention deletes inbox rows older than a cut-off and records it here; a
-- replay that would redeliver events older than the cut-off could apply them twice, so it is refused.
CREATE TABLE sagakit_retention (
    name           text PRIMARY KEY,
    purged_before  timestamptz NOT NULL
);
