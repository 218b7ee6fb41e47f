/*-------------------------------------------------------------------------
 *
 * login.c
 *	  Authentication records of connection-time logins.
 *
 * ClientAuthentication_hook runs before the database is selected, when no
 * record can be queued yet (queues and their WAL messages belong to a
 * database).  A successful login is therefore remembered and recorded
 * just before the session's first statement, once the database and the
 * session user are known (a session that runs no statement leaves no
 * record).  A failed
 * login ends the connection at once: it is written to the server log only
 * (one JSON record, LOG_SERVER_ONLY).  Logins with tokens or API keys made
 * through SQL functions are reported by the auth module with
 * hdb_audit_event().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq-be.h"

#include "audit/audit_internal.h"

static ClientAuthentication_hook_type prev_ClientAuthentication = NULL;

/* A successful login waiting to be recorded, with its method. */
static bool login_pending = false;
static char login_action[64];

static void
audit_client_authentication(Port *port, int status)
{
	const char *method = port->hba ? hba_authname(port->hba->auth_method) :
		"unknown";

	if (prev_ClientAuthentication)
		prev_ClientAuthentication(port, status);

	if (status == STATUS_OK)
	{
		snprintf(login_action, sizeof(login_action), "LOGIN %s", method);
		login_pending = true;
	}
	else
	{
		char		detail[NAMEDATALEN * 2 + 64];

		snprintf(detail, sizeof(detail),
				 "authentication of user \"%s\" to database \"%s\" failed",
				 port->user_name ? port->user_name : "",
				 port->database_name ? port->database_name : "");
		snprintf(login_action, sizeof(login_action), "LOGIN %s", method);
		hdb_audit_event(HDB_AUDIT_AUTHENTICATION, login_action,
						HDB_AUDIT_FAILURE, NULL, "28000", detail);
	}
}

/*
 * Record the pending login; called by the capture hooks before the
 * session's first audited statement, when the database, the session user
 * and the settings are known.
 */
void
hdb_audit_login_emit(void)
{
	if (!login_pending)
		return;
	login_pending = false;
	hdb_audit_event_ext(HDB_AUDIT_AUTHENTICATION, login_action,
						HDB_AUDIT_SUCCESS, NULL, NULL, NULL, false);
}

void
hdb_audit_login_init(void)
{
	prev_ClientAuthentication = ClientAuthentication_hook;
	ClientAuthentication_hook = audit_client_authentication;
}
