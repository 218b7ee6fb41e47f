/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  Set-up of heliosdb's crypto module: AES-256-GCM, key wrapping,
 *	  keyring providers and data keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "utils/lsyscache.h"

#include "common/hdb_common.h"
#include "crypto/hdb_crypto.h"

/*
 * Called from _PG_init while the library is preloaded: defines the keyring
 * GUCs, registers the data-key cache's invalidation callbacks and readies
 * OpenSSL for the backends to come.  Nothing here reads a key: a missing
 * keyring only fails at first use.
 */
void
hdb_crypto_init(void)
{
	hdb_keyring_init();
	hdb_seal_budget_init();
	hdb_datakey_init();
	hdb_aead_preload();
}

/*
 * The OID of the extension's relation called name (table_key,
 * seal_block_seq) in this database.  When the extension is not installed:
 * InvalidOid if missing_ok, otherwise an error saying so.
 */
Oid
hdb_crypto_relid(const char *name, bool missing_ok)
{
	Oid			nsp = get_namespace_oid(HDB_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"heliosdb\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION heliosdb before using encrypted tables.")));
	return relid;
}
