// SPDX-License-Identifier: Apache-2.0
/*
 * TLS on the client port: ClientX509Util's keys (with and without the
 * "zookeeper." prefix), their defaults, and what cfg_finalize refuses
 * (a missing key store, Java-only store formats, TLS with the dpdk
 * backend, secureClientPortAddress without secureClientPort).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "config/config.h"
#include "helpers.h"

#define TLS BASE "secureClientPort=2281\nssl.keyStore.location=/etc/tls/server.pem\n"

/* Parses text that must fail with a message containing msg. */
static void fails_with(const char *text, const char *msg)
{
	struct cfg_error err;
	struct cfg c;
	int ret = parse(&c, text, &err);

	cr_assert_eq(ret, -EINVAL, "expected -EINVAL for:\n%s\ngot %d", text, ret);
	cr_assert_not_null(strstr(err.msg, msg), "\"%s\" lacks \"%s\"", err.msg, msg);
	cfg_free(&c);
}

Test(tls_keys, defaults_as_zookeeper)
{
	struct cfg c;

	parse_ok(&c, TLS);
	cr_assert_eq(c.tls.secure_client_port, 2281);
	cr_assert_str_eq(c.tls.secure_client_port_address, "0.0.0.0");
	cr_assert_eq(c.tls.client_auth, CFG_CLIENT_AUTH_NEED);
	cr_assert_eq(c.tls.keystore_type, CFG_STORE_PEM);
	cr_assert_null(c.tls.truststore);
	cr_assert_null(c.tls.protocol);
	cr_assert(c.tls.hostname_verification);
	cr_assert_not(c.tls.port_unification);
	cr_assert_not(c.tls.cert_reload);
	cr_assert(c.tls.x509_provider, "TLS registers the x509 provider (configureSSLAuth)");
	cr_assert_eq(c.n_extras, 0);
	cfg_free(&c);
}

Test(tls_keys, every_key_with_and_without_the_prefix)
{
	struct cfg c;

	parse_ok(&c, BASE "secureClientPort=2281\nsecureClientPortAddress=127.0.0.1\n"
			  "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
			  "zookeeper.ssl.keyStore.location=/k.p12\n"
			  "ssl.keyStore.password=pw\n"
			  "ssl.keyStore.type=pkcs12\n"
			  "zookeeper.ssl.trustStore.location=/t.pem\n"
			  "ssl.trustStore.passwordPath=/t.pw\n"
			  "ssl.clientAuth=WANT\n"
			  "ssl.protocol=TLSv1.3\n"
			  "ssl.enabledProtocols=TLSv1.2,TLSv1.3\n"
			  "ssl.ciphersuites=TLS_AES_128_GCM_SHA256\n"
			  "ssl.hostnameVerification=false\n"
			  "zookeeper.client.portUnification=true\n"
			  "client.certReload=true\n"
			  "ssl.authProvider=x509\n"
			  "zookeeper.X509AuthenticationProvider.superUser=CN=admin\n");
	cr_assert_str_eq(c.tls.secure_client_port_address, "127.0.0.1");
	cr_assert_str_eq(c.tls.keystore, "/k.p12");
	cr_assert_str_eq(c.tls.keystore_password, "pw");
	cr_assert_eq(c.tls.keystore_type, CFG_STORE_PKCS12);
	cr_assert_str_eq(c.tls.truststore, "/t.pem");
	cr_assert_eq(c.tls.truststore_type, CFG_STORE_PEM);
	cr_assert_str_eq(c.tls.truststore_password_path, "/t.pw");
	cr_assert_eq(c.tls.client_auth, CFG_CLIENT_AUTH_WANT);
	cr_assert_str_eq(c.tls.protocol, "TLSv1.3");
	cr_assert_str_eq(c.tls.enabled_protocols, "TLSv1.2,TLSv1.3");
	cr_assert_str_eq(c.tls.ciphersuites, "TLS_AES_128_GCM_SHA256");
	cr_assert_not(c.tls.hostname_verification);
	cr_assert(c.tls.port_unification);
	cr_assert(c.tls.cert_reload);
	cr_assert_str_eq(c.tls.x509_super_user, "CN=admin");
	cr_assert_eq(c.n_extras, 0);
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(tls_keys, store_type_from_the_file_name)
{
	struct cfg c;

	parse_ok(&c, BASE "secureClientPort=2281\nssl.keyStore.location=/k.P12\n"
			  "ssl.trustStore.location=/t.pfx\n");
	cr_assert_eq(c.tls.keystore_type, CFG_STORE_PKCS12);
	cr_assert_eq(c.tls.truststore_type, CFG_STORE_PKCS12);
	cfg_free(&c);
}

Test(tls_keys, refusals)
{
	fails_with(BASE "secureClientPort=2281\n", "secureClientPort needs ssl.keyStore.location");
	fails_with(BASE "client.portUnification=true\n",
		   "client.portUnification needs ssl.keyStore.location");
	fails_with(
	    TLS "ssl.trustStore.location=/etc/tls/trust.jks\n",
	    "/etc/tls/trust.jks is a JKS store, which cannot be read without Java; convert it "
	    "with keytool -importkeystore -srckeystore /etc/tls/trust.jks");
	fails_with(BASE
		   "secureClientPort=2281\nssl.keyStore.location=/k\nssl.keyStore.type=BCFKS\n",
		   "/k is a BCFKS store");
	fails_with(BASE "secureClientPort=2281\nssl.keyStore.location=/k.key\n",
		   "cannot tell the store type of /k.key");
	fails_with(TLS "cheetah.dataplane=dpdk\ncheetah.port.ip=10.0.0.1\n",
		   "secureClientPort: TLS is served by the sock backend only");
	fails_with(BASE "secureClientPortAddress=127.0.0.1\n",
		   "secureClientPortAddress is set but secureClientPort is not set");
	fails_with(BASE "secureClientPort=2181\nssl.keyStore.location=/k.pem\n",
		   "secureClientPort 2181 is also the clientPort");
	fails_with(TLS "ssl.clientAuth=maybe\n", "ssl.clientAuth must be need, want or none");
	fails_with(TLS "ssl.keyStore.type=JCEKS\n",
		   "ssl.keyStore.type must be PEM, PKCS12, JKS or BCFKS");
	fails_with(TLS "ssl.authProvider=sasl\n", "Cheetah serves only the x509 provider");
	fails_with(TLS "client.portUnification=yes\n",
		   "client.portUnification must be true or false");
}

Test(tls_keys, netty_factory_expected_and_other_providers_warned)
{
	struct cfg c;

	parse_ok(&c, TLS
		 "authProvider.1=org.example.MyProvider\n"
		 "authProvider.2=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n");
	cr_assert_eq(count_warnings(&c, "NettyServerCnxnFactory and would not start without it"), 1,
		     "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "authProvider.1: authentication provider org.example.MyProvider "
					"is not supported"),
		     1,
		     "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "authProvider.2"), 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(tls_keys, tls_keys_without_a_tls_port_are_kept_quietly)
{
	struct cfg c;

	parse_ok(&c, BASE "ssl.keyStore.location=/etc/keystore.jks\nssl.clientAuth=none\n");
	cr_assert_eq(c.tls.client_auth, CFG_CLIENT_AUTH_NONE);
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(tls_keys, secure_client_port_alone)
{
	struct cfg c;

	parse_ok(&c, "dataDir=/d\nsecureClientPort=2281\nssl.keyStore.location=/k.pem\n");
	cr_assert_eq(c.client_port, 0);
	cr_assert_null(c.client_port_address, "no plain listener (io/worker.c)");
	cr_assert_eq(c.tls.secure_client_port, 2281);
	cfg_free(&c);
	fails_with("dataDir=/d\n", "clientPort is not set");
}
