/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The C tests' checks: a failed CHECK reports and counts but does not
 * stop the test, so one run shows every check that fails.
 */
#ifndef QVC_TEST_CHECK_H
#define QVC_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            failures++;                                                      \
        }                                                                    \
    } while (0)

/* The exit status of test `name`, with a summary of its checks. */
static int finish(const char *name)
{
    if (failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
