-- Data keys of encrypted tables: one per table, created with the table,
-- wrapped by the master key; payloads name their key and use fresh nonces.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pageinspect;
RESET client_min_messages;
CREATE TABLE crypto_a (id int, secret text) USING heliosdb_encrypted;
CREATE TABLE crypto_b (id int, secret text) USING heliosdb_encrypted;
CREATE TABLE crypto_plain (id int, secret text);
-- The key is made with the table, before any write.
SELECT count(*) FROM heliosdb.table_key
WHERE relid IN ('crypto_a'::regclass, 'crypto_b'::regclass);
INSERT INTO crypto_a VALUES (1, 'attack at dawn'), (2, 'attack at dawn');
INSERT INTO crypto_b VALUES (1, 'attack at dawn');
INSERT INTO crypto_plain VALUES (1, 'attack at dawn');
SELECT relid::regclass, version, length(wrapped) AS wrapped_len,
	   master_key_check ~ '^[0-9a-f]{16}$' AS check_is_hex
FROM heliosdb.table_key
WHERE relid IN ('crypto_a'::regclass, 'crypto_b'::regclass) ORDER BY relid;
SELECT count(DISTINCT key_id) AS distinct_keys,
	   count(DISTINCT wrapped) AS distinct_wrapped,
	   count(DISTINCT master_key_check) AS one_master_key
FROM heliosdb.table_key
WHERE relid IN ('crypto_a'::regclass, 'crypto_b'::regclass);

-- On the page: the heap table holds the text, the encrypted ones do not.
SELECT position('attack at dawn'::bytea IN t_data) > 0 AS plaintext_on_page
FROM heap_page_items(get_raw_page('crypto_plain', 0));
SELECT lp, position('attack at dawn'::bytea IN t_data) > 0 AS plaintext_on_page,
	   t_attrs_natts
FROM (SELECT lp, t_data, t_infomask2 & 2047 AS t_attrs_natts
	  FROM heap_page_items(get_raw_page('crypto_a', 0))) p ORDER BY lp;
-- Payload after its 1-byte varlena header: format 2, the key id (7 bits
-- a byte, low group first, high bit on all but the last byte), a 12-byte
-- nonce; identical rows get distinct nonces and ciphertexts.
CREATE FUNCTION pg_temp.payload_key_id(d bytea) RETURNS int
LANGUAGE sql AS $$
	SELECT CASE WHEN get_byte(d, 2) < 128 THEN get_byte(d, 2)
		ELSE get_byte(d, 2) - 128 + 128 * get_byte(d, 3) END $$;
CREATE FUNCTION pg_temp.payload_nonce_at(d bytea) RETURNS int
LANGUAGE sql AS $$
	SELECT CASE WHEN get_byte(d, 2) < 128 THEN 4 ELSE 5 END $$;
SELECT lp, get_byte(t_data, 1) AS format,
	   pg_temp.payload_key_id(t_data) =
	   (SELECT key_id FROM heliosdb.table_key
		WHERE relid = 'crypto_a'::regclass) AS names_its_key
FROM heap_page_items(get_raw_page('crypto_a', 0)) ORDER BY lp;
SELECT count(DISTINCT substr(t_data, pg_temp.payload_nonce_at(t_data), 12))
		 AS distinct_nonces,
	   count(DISTINCT substr(t_data, pg_temp.payload_nonce_at(t_data) + 12))
		 AS distinct_ciphertexts
FROM heap_page_items(get_raw_page('crypto_a', 0));

-- Any role that may write a table gets its key made; nobody reads the
-- key table without being granted it.
CREATE ROLE regress_crypto_plain;
GRANT CREATE ON SCHEMA public TO regress_crypto_plain;
SET ROLE regress_crypto_plain;
CREATE TABLE crypto_owned (v text) USING heliosdb_encrypted;
INSERT INTO crypto_owned VALUES ('mine');
SELECT v FROM crypto_owned;
SELECT count(*) FROM heliosdb.table_key;
SELECT * FROM crypto_a;
RESET ROLE;
SELECT count(*) FROM heliosdb.table_key WHERE relid = 'crypto_owned'::regclass;

-- A key made in a transaction that rolls back is forgotten with it.
CREATE TABLE crypto_rollback (v text) USING heliosdb_encrypted;
BEGIN;
SELECT heliosdb.rotate_table_key('crypto_rollback');
INSERT INTO crypto_rollback VALUES ('gone');
ROLLBACK;
INSERT INTO crypto_rollback VALUES ('kept');
SELECT v FROM crypto_rollback;
SELECT version FROM heliosdb.table_key WHERE relid = 'crypto_rollback'::regclass;
CREATE TABLE crypto_sub (v text) USING heliosdb_encrypted;
BEGIN;
SAVEPOINT s;
SELECT heliosdb.rotate_table_key('crypto_sub');
INSERT INTO crypto_sub VALUES ('gone');
ROLLBACK TO s;
INSERT INTO crypto_sub VALUES ('kept');
COMMIT;
SELECT v FROM crypto_sub;
-- the surviving row names a key that was committed
SELECT p.lp, k.version
FROM heap_page_items(get_raw_page('crypto_sub', 0)) p
LEFT JOIN heliosdb.table_key k
	ON k.key_id = pg_temp.payload_key_id(p.t_data)
ORDER BY p.lp;

-- A wrapped key damaged in the key table fails with XX001 in a session that
-- has not unwrapped it yet, as damage rather than as a wrong master key.
CREATE TABLE crypto_damaged (v text) USING heliosdb_encrypted;
INSERT INTO crypto_damaged VALUES ('sealed');
UPDATE heliosdb.table_key
SET wrapped = set_byte(wrapped, 20, get_byte(wrapped, 20) # 1)
WHERE relid = 'crypto_damaged'::regclass;
\c
DO $$
BEGIN
	PERFORM v FROM crypto_damaged;
EXCEPTION WHEN data_corrupted THEN
	RAISE NOTICE '%: %', SQLSTATE, regexp_replace(SQLERRM, '\d+', 'N', 'g');
END
$$;
DROP TABLE crypto_damaged;

-- Dropping a table drops its keys (and a rolled-back drop keeps them).
SELECT 'crypto_a'::regclass::oid AS a_oid \gset
BEGIN;
DROP TABLE crypto_a;
ROLLBACK;
SELECT count(*) FROM heliosdb.table_key WHERE relid = :a_oid;
SET ROLE regress_crypto_plain;
DROP TABLE crypto_owned;
RESET ROLE;
DROP TABLE crypto_a, crypto_b, crypto_plain, crypto_rollback, crypto_sub;
SELECT count(*) FROM heliosdb.table_key WHERE relid = :a_oid;
REVOKE CREATE ON SCHEMA public FROM regress_crypto_plain;
DROP ROLE regress_crypto_plain;
