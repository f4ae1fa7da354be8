-- sagakit_lean_statistics(table, unsampled) gives a table what migration 0004 gave the outbox and the inbox: a
-- statistics target of 10 on every column it has now, and none (0) on the columns named in `unsampled`, which must
-- exist. The services' migrations call it for their own tables that grow with every saga (they run after these).
-- A column added to such a table later gets the default target, and ANALYZE samples 300 times the largest target
-- of a table's columns, so a migration that adds one calls this again; a column filtered by value can get a
-- higher target of its own after the call. Migrations already applied call this function: never drop it or change
-- its signature; add another instead.
CREATE FUNCTION sagakit_lean_statistics(target regclass, unsampled text[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    col name;
    missing text[];
BEGIN
    SELECT array_agg(u) INTO missing
    FROM unnest(unsampled) AS u
    WHERE NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = target AND attname = u AND attnum > 0 AND NOT attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'sagakit_lean_statistics: % has no column %', target, array_to_string(missing, ', ');
    END IF;
    FOR col IN SELECT attname FROM pg_attribute WHERE attrelid = target AND attnum > 0 AND NOT attisdropped LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s',
                       target, col, CASE WHEN col = ANY (unsampled) THEN 0 ELSE 10 END);
    END LOOP;
END
$$;
