/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Principal names as ZooKeeper's server sees them (KerberosName and
 * SaslServerCallbackHandler.handleAuthorizeCallback): which "sasl" id a
 * SASL authentication gives, and which ids a "sasl" ACL may name.  Pure
 * functions; rules are parsed at start-up and read-only after, so any
 * thread may use them.
 */
#ifndef CHEETAH_DATAPLANE_SESSION_KRB_NAME_H
#define CHEETAH_DATAPLANE_SESSION_KRB_NAME_H

#include <stdbool.h>
#include <stddef.h>

struct dp_krb_rules; /* parsed zookeeper.security.auth_to_local */

/*
 * Parses auth_to_local rules ("DEFAULT", "RULE:[n:fmt](regex)s/from/to/g",
 * several separated by blanks; NULL means "DEFAULT").  The regexes are
 * POSIX extended ones where ZooKeeper's are java.util.regex: the same
 * for the usual .* [a-z] ( ) | forms.  default_realm is the realm the
 * DEFAULT rule strips (krb5.conf's, "" if none).  Returns 0 and *out,
 * -EINVAL with a message in err (errlen bytes), or -ENOMEM.
 */
int dp_krb_rules_parse(const char *text, const char *default_realm, struct dp_krb_rules **out,
		       char *err, size_t errlen);
void dp_krb_rules_free(struct dp_krb_rules *r);

/*
 * The authorized id of an authentication (handleAuthorizeCallback):
 * authcid's short name by the rules, then "/host" unless remove_host and
 * "@realm" unless remove_realm (when the name has them).  When no rule
 * applies, ZooKeeper keeps the authorization id: authzid (the client's,
 * or authcid when it gave none).  Writes a NUL-terminated id into
 * out[0..cap).  Returns 0; -EINVAL when authcid is not a Kerberos name
 * (has '@' but not the form name[/host]@realm: ZooKeeper's KerberosName
 * throws there and the authentication fails) or a rule's format is bad;
 * -ENOSPC when it does not fit.
 */
int dp_krb_authorized_id(const struct dp_krb_rules *r, const char *authcid, const char *authzid,
			 bool remove_host, bool remove_realm, char *out, size_t cap);

/* SASLAuthenticationProvider.isValid: whether a "sasl" ACL id parses as a KerberosName. */
bool dp_krb_name_valid(const char *id, size_t len);

#endif
