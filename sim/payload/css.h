/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What the freestanding guest programs (ccw-tests.c, bench-io.c) share:
 * the channel subsystem's control blocks as the architecture lays them
 * out (z/Architecture Principles of Operation, chapters 13 to 16), the
 * bits of them the programs use, where their own image sits on an IPL
 * volume made by vfio-ccw-mkvol ipl, and the one byte comparison both
 * need.
 */
#ifndef PAYLOAD_CSS_H
#define PAYLOAD_CSS_H

#include <stdint.h>

#define LOAD_ADDRESS 0x20000UL   /* vfio-ccw-mkvol ipl --load-address */
#define RECORD 4096              /* the program's records on the volume */
#define FIRST_RECORD 4           /* after IPL1, IPL2 and VOL1 on track 0 */

#define CCW_WRITE 0x01
#define CCW_SENSE 0x04
#define CCW_READ_DATA 0x06
#define CCW_SEEK 0x07
#define CCW_TIC 0x08
#define CCW_SEARCH_ID_EQ 0x31
#define CCW_INVALID 0xe7         /* Prefix: no command of a 3990 without it */

#define CCW_CC 0x40              /* command chaining */
#define CCW_SLI 0x20             /* suppress incorrect length */
#define CCW_IDA 0x04             /* the address is that of an IDAL */

#define ORB_FMT1 (1U << 23)      /* format-1 CCWs */
#define ORB_PFCH (1U << 22)      /* the program may be prefetched */
#define ORB_C64 (1U << 17)       /* format-2 (64-bit) IDAWs */
#define ORB_LPM_ALL (0xffU << 8)

#define DSTAT_CE 0x08
#define DSTAT_DE 0x04
#define DSTAT_UC 0x02
#define FCTL_START 0x4
#define FCTL_HALT 0x2
#define FCTL_CLEAR 0x1

#define PMCW_ENABLED 0x0080
#define PMCW_DNV 0x0001
#define PMCW_TYPE_MASK 0x0700    /* subchannel type; 0 is I/O */

struct ccw1 {
    uint8_t cmd;
    uint8_t flags;
    uint16_t count;
    uint32_t cda;
} __attribute__((packed, aligned(8)));

struct orb {
    uint32_t intparm;
    uint32_t ctrl;               /* key, flags, LPM, ... */
    uint32_t cpa;
    uint32_t reserved[5];
} __attribute__((aligned(4)));

struct scsw {
    uint32_t ctrl;               /* flags, FC (bits 17-19), AC, SC */
    uint32_t cpa;
    uint8_t dstat;
    uint8_t cstat;
    uint16_t count;
};

struct irb {
    struct scsw scsw;
    uint32_t esw[5];
    uint32_t ecw[8];
    uint32_t emw[8];
} __attribute__((aligned(4)));

struct schib {
    uint32_t intparm;
    uint16_t flags;
    uint16_t devno;
    uint8_t lpm, pnom, lpum, pim;
    uint16_t mbi;
    uint8_t pom, pam;
    uint8_t chpid[8];
    uint32_t chars;
    struct scsw scsw;
    uint8_t model[12];
} __attribute__((aligned(4)));

/* No libc: the programs compare what they read with what they expect. */
static inline int memeq(const void *a, const void *b, unsigned long n)
{
    const uint8_t *x = a, *y = b;

    for (unsigned long i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            return 0;
        }
    }
    return 1;
}

#endif
