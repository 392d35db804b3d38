/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leak assertions for tests.  Criterion records a test's result before its
 * worker exits, so LeakSanitizer's exit-time report would not fail it;
 * tests call test_assert_no_leaks() after releasing everything instead.
 * Outside sanitizer builds it checks nothing (and says so in the name of
 * the build that runs it: build-asan).
 */
#ifndef CHEETAH_TESTS_LEAKCHECK_H
#define CHEETAH_TESTS_LEAKCHECK_H

#include <criterion/criterion.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#define test_assert_no_leaks() \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see LeakSanitizer report)")
/* For .fini fixtures, where a failed assertion does not fail the test: crash it. */
#define test_fini_no_leaks()                                                   \
	do {                                                                   \
		if (__lsan_do_recoverable_leak_check()) {                      \
			fprintf(stderr, "memory leaked (see report above)\n"); \
			abort();                                               \
		}                                                              \
	} while (0)
#else
#define test_assert_no_leaks() ((void)0)
#define test_fini_no_leaks() ((void)0)
#endif

#endif
