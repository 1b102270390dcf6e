/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The generated header compiles on its own, and its structs have QEMU's
 * layouts (include/hw/s390x/ioinst.h), which the shim relies on.
 */
#include "qemu_vfio_ccw.h"

#include <stddef.h>
#include <stdio.h>

_Static_assert(sizeof(QvcOrb) == 12, "ORB");
_Static_assert(sizeof(QvcScsw) == 12, "SCSW");
_Static_assert(sizeof(QvcPmcw) == 28, "PMCW");
_Static_assert(sizeof(QvcSchib) == 52, "SCHIB is packed");
_Static_assert(sizeof(QvcEsw) == 20, "ESW is packed");
_Static_assert(sizeof(QvcCrw) == 4, "CRW");
_Static_assert(offsetof(QvcOrb, cpa) == 8, "ORB cpa");
_Static_assert(offsetof(QvcScsw, count) == 10, "SCSW count");
_Static_assert(offsetof(QvcPmcw, chpid) == 16, "PMCW chpid");
_Static_assert(offsetof(QvcPmcw, chars) == 24, "PMCW chars");
_Static_assert(offsetof(QvcSchib, scsw) == 28, "SCHIB scsw");
_Static_assert(offsetof(QvcSchib, mba) == 40, "SCHIB mba");
_Static_assert(offsetof(QvcEsw, word2) == 8, "ESW word2");
_Static_assert(sizeof(QvcStatus) == 4 && sizeof(QvcIrq) == 4, "enums are 32-bit");

int main(void)
{
    printf("test-header: layouts agree\n");
    return 0;
}
