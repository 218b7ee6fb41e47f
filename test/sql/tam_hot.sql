-- heliosdb_encrypted: HOT updates happen exactly when heap would allow
-- them (no indexed column changed), and key-column updates take the
-- stronger tuple lock (tested in the isolation spec tam_locks).
\set VERBOSITY terse
CREATE TABLE tam_hot (id int PRIMARY KEY, idx int, free text)
	USING heliosdb_encrypted WITH (fillfactor = 50);
CREATE INDEX tam_hot_idx ON tam_hot (idx);
INSERT INTO tam_hot SELECT g, g, 'f' FROM generate_series(1, 20) g;
SELECT pg_stat_force_next_flush();

CREATE FUNCTION pg_temp.hot_counts(OUT upd bigint, OUT hot bigint)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	SELECT n_tup_upd, n_tup_hot_upd INTO upd, hot
	FROM pg_stat_user_tables WHERE relname = 'tam_hot';
END $$;

-- A column in no index: every update is HOT.
UPDATE tam_hot SET free = 'g' WHERE id <= 10;
SELECT pg_stat_force_next_flush();
SELECT * FROM pg_temp.hot_counts();
-- An indexed column: no update is HOT.
UPDATE tam_hot SET idx = idx + 100 WHERE id <= 10;
SELECT pg_stat_force_next_flush();
SELECT * FROM pg_temp.hot_counts();
-- The primary key: not HOT either.
UPDATE tam_hot SET id = id + 100 WHERE id BETWEEN 11 AND 15;
SELECT pg_stat_force_next_flush();
SELECT * FROM pg_temp.hot_counts();
-- Setting an indexed column to the value it has is still HOT, as on heap.
UPDATE tam_hot SET idx = idx, free = 'h' WHERE id BETWEEN 16 AND 20;
SELECT pg_stat_force_next_flush();
SELECT * FROM pg_temp.hot_counts();

-- Every index still finds every row.
SET enable_seqscan = off;
SELECT count(*) FROM tam_hot WHERE idx > 100;
SELECT id, idx, free FROM tam_hot WHERE id = 18;
SELECT id FROM tam_hot WHERE id > 100 ORDER BY id;
RESET enable_seqscan;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS amcheck;
RESET client_min_messages;
SELECT bt_index_check('tam_hot_pkey', true), bt_index_check('tam_hot_idx', true);

DROP TABLE tam_hot;
