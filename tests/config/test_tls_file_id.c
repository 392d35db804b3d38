// SPDX-License-Identifier: Apache-2.0
/*
 * Change detection for sslQuorumReloadCertFiles (tls_ctx.h,
 * tls_file_id_read / tls_file_id_same): the peer rebuilds its quorum
 * context only when a store file is reported changed, so a replaced file
 * (write + rename, the atomic way), a file rewritten in place, a removed
 * file and a file that comes back must each be seen, and an untouched one
 * must not.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/tls_ctx.h"

static char dir[] = "/tmp/cheetah-tlsfid-XXXXXX";
static char file[64], tmp[64];

static void write_file(const char *p, const char *data)
{
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f, "%s", p);
	cr_assert_eq(fputs(data, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/ks.pem", dir);
	snprintf(tmp, sizeof(tmp), "%s/ks.pem.tmp", dir);
	write_file(file, "first version\n");
}

static void teardown(void)
{
	unlink(file);
	unlink(tmp);
	rmdir(dir);
}

TestSuite(tls_file_id, .init = setup, .fini = teardown);

Test(tls_file_id, untouched_is_same)
{
	struct tls_file_id a, b;

	tls_file_id_read(file, &a);
	tls_file_id_read(file, &b);
	cr_assert(a.ok);
	cr_assert(tls_file_id_same(&a, &b));
}

Test(tls_file_id, rename_over_is_a_change)
{
	struct tls_file_id a, b;

	tls_file_id_read(file, &a);
	write_file(tmp, "first version\n"); /* same size and maybe the same mtime */
	cr_assert_eq(rename(tmp, file), 0);
	tls_file_id_read(file, &b);
	cr_assert(b.ok);
	cr_assert_neq(a.ino, b.ino);
	cr_assert_not(tls_file_id_same(&a, &b));
}

Test(tls_file_id, rewrite_in_place_is_a_change)
{
	struct tls_file_id a, b;

	tls_file_id_read(file, &a);
	write_file(file, "second, longer version\n");
	tls_file_id_read(file, &b);
	cr_assert_not(tls_file_id_same(&a, &b));
}

Test(tls_file_id, removed_and_back)
{
	struct tls_file_id a, gone, back, none;

	tls_file_id_read(file, &a);
	cr_assert_eq(unlink(file), 0);
	tls_file_id_read(file, &gone);
	cr_assert_not(gone.ok);
	cr_assert_not(tls_file_id_same(&a, &gone));
	write_file(file, "first version\n");
	tls_file_id_read(file, &back);
	cr_assert(back.ok);
	cr_assert_not(tls_file_id_same(&gone, &back));
	/* No path (no trust store configured): never a change. */
	tls_file_id_read(NULL, &none);
	tls_file_id_read(NULL, &gone);
	cr_assert_not(none.ok);
	cr_assert(tls_file_id_same(&none, &gone));
}
