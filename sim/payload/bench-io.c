/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * scripts/bench's guest workload (a): back-to-back 4 KiB reads through
 * -device vfio-ccw, timed by the guest itself with the TOD clock, so that
 * what is measured is the device path as the guest sees it: SSCH, the
 * host's work, the I/O interrupt, TSCH.
 *
 * The firmware IPLs it like ccw-tests (ccw-tests-start.S is its entry:
 * a stack, then run_tests, then a disabled wait at the address it
 * returns). It reads record 4 of cylinder 0 head 0 (the first 4096-byte
 * record of the program's own image on an IPL volume made by
 * vfio-ccw-mkvol ipl) over and over:
 *
 * - on its IPL subchannel only (params.all_subchannels == 0), or
 * - on every I/O subchannel STORE SUBCHANNEL finds in subchannel set 0
 *   (params.all_subchannels == 1), one read in flight on each, all at
 *   once: the aggregate rate with every device busy.
 *
 * Each device does params.ios reads. Every read is one SSCH, then an
 * enabled wait until the I/O interrupt, then TSCH; its latency is the TOD
 * clock (STCKF) from just before the SSCH to just after the TSCH. The
 * program waits with interrupts enabled, not by polling TSCH, so QEMU's
 * interrupt delivery is part of what is measured, as for a real guest.
 *
 * The results go to a fixed block of guest memory (struct results at
 * RESULTS_ADDRESS, documented in docs/performance.md), which the host
 * reads over QMP after the program stopped in its disabled wait: at
 * 0xc0ffee when every read ended cleanly, at 0xbad000 + 1 when any did
 * not (the block then says how many and the first one's details).
 *
 * The host sets the parameters by patching struct params in the flat
 * image before it writes the volume: it finds the block by its magic.
 */
#include "css.h"

#define BENCH_RECORD FIRST_RECORD   /* the program's first own record */

/* Below the program (0x20000) and above the lowcore (8 KiB). */
#define RESULTS_ADDRESS 0x10000UL
/* The read buffers, one page per device, above the stack (1 MiB). */
#define BUFFERS_ADDRESS 0x200000UL
/* Every read's latency, in TOD units, for the percentiles. */
#define LATENCIES_ADDRESS 0x400000UL
#define MAX_LATENCIES (1UL << 21)   /* 16 MiB of the guest's RAM */
#define MAX_DEVICES 256

/* Lowcore: what an I/O interruption stores, and its new PSW. */
#define LC_SUBCHANNEL_ID 0xb8
#define LC_INTPARM 0xbc
#define LC_IO_NEW_PSW 0x1f0

/* Where a failure happened (results.first_error bits 16-23). */
#define AT_SSCH 1
#define AT_TSCH 2
#define AT_STATUS 3
#define AT_DATA 4
#define AT_MSCH 5
#define AT_NO_DEVICE 6
#define AT_TOO_MANY 7

/*
 * Set by the host in the image (scripts/benchlib/program.py finds the
 * magic). Volatile: the compiler must read what the volume brought.
 */
struct params {
    char magic[8];                  /* "BENCHPRM" */
    uint64_t ios;                   /* reads per device */
    uint64_t all_subchannels;       /* 0: the IPL subchannel; 1: every one */
};

static volatile const struct params params __attribute__((used, aligned(8))) = {
    { 'B', 'E', 'N', 'C', 'H', 'P', 'R', 'M' }, 1000, 0,
};

/*
 * What the host reads back, big-endian 64-bit words at RESULTS_ADDRESS;
 * TOD units are 1/4096 microsecond (bit 51 of the clock is 1 us).
 */
struct results {
    char magic[8];                  /* "BENCHRES" once the run ended */
    uint64_t devices;               /* subchannels driven */
    uint64_t ios_per_device;        /* params.ios */
    uint64_t ios;                   /* reads that ended cleanly */
    uint64_t errors;                /* reads that did not, and data mismatches */
    uint64_t first_error;           /* subchannel << 32 | where << 16 | detail */
    uint64_t elapsed;               /* TOD from the first SSCH to the last TSCH */
    uint64_t min, p50, p99, max;    /* per-read latency, TOD */
    uint64_t stray;                 /* interrupts for no read of ours */
};

struct device {
    uint32_t schid;
    uint64_t started;               /* TOD just before this read's SSCH */
    uint64_t done;                  /* reads ended */
    int busy;
    struct orb orb;
    struct ccw1 ccws[4];
};

/*
 * Keeps the image's first 4096 bytes (the record every read brings back,
 * checked against storage after each device's last read) code and
 * constants only, never data the program changes.
 */
static const volatile uint8_t bulk[RECORD] __attribute__((used)) = { 1 };

static uint8_t seek_arg[6];
static uint8_t search_arg[5] = { 0, 0, 0, 0, BENCH_RECORD };
static struct device devices[MAX_DEVICES];
static unsigned ndevices;
static struct irb irb;
static struct schib schib;

/*
 * The enabled wait: I/O interrupts on, 31-bit addressing, the mode the
 * firmware enters the program in (its IPL PSW's), so that the addresses
 * BRASL leaves in r14 (bit 32 set) stay valid after an interruption.
 */
static const struct {
    uint64_t mask, addr;
} wait_psw __attribute__((aligned(16))) = { 0x0202000080000000ULL, 0 };

#define RESULTS ((volatile struct results *)RESULTS_ADDRESS)
#define LATENCIES ((uint64_t *)LATENCIES_ADDRESS)

/*
 * Lowcore words, read and written by instruction: to the compiler a
 * constant address near 0 is a null pointer's neighbour.
 */
#define LOWCORE_32(offset) ({                                               \
    uint32_t v;                                                             \
    __asm__ volatile("l %0,%1" : "=d"(v) : "n"(offset) : "memory");        \
    v;                                                                      \
})
#define SET_LOWCORE_64(offset, value)                                       \
    __asm__ volatile("stg %0,%1" : : "d"((uint64_t)(value)), "n"(offset) : "memory")

static inline uint64_t tod(void)
{
    uint64_t t;

    __asm__ volatile("stckf %0" : "=Q"(t) : : "cc", "memory");
    return t;
}

/* An I/O instruction for subchannel @sid with its operand at @addr; its cc. */
#define IO_INSN(mnemonic, sid, addr) ({                                     \
    register uint32_t r1 __asm__("1") = (sid);                              \
    int cc;                                                                 \
    __asm__ volatile(mnemonic " 0(%[a])\n\tipm %[cc]\n\tsrl %[cc],28"         \
                     : [cc] "=d"(cc) : "d"(r1), [a] "a"(addr) : "cc", "memory"); \
    cc;                                                                     \
})

/*
 * Waits, enabled for I/O, until an I/O interruption; it returns through
 * the I/O new PSW to the label after the LPSWE. Registers survive an
 * interruption; only the PSW is swapped.
 */
static void __attribute__((noinline)) wait_for_io(void)
{
    __asm__ volatile("larl %%r1,0f\n\t"
                     "stg %%r1,%[newaddr]\n\t"
                     "lpswe %[psw]\n"
                     "0:"
                     : : [psw] "Q"(wait_psw), [newaddr] "n"(LC_IO_NEW_PSW + 8)
                     : "r1", "cc", "memory");
}

static void fail(const struct device *d, unsigned where, unsigned detail)
{
    if (RESULTS->errors++ == 0) {
        RESULTS->first_error = (uint64_t)(d ? d->schid : 0) << 32 |
                               (uint64_t)where << 16 | (detail & 0xffff);
    }
}

static int start_read(struct device *d, unsigned index)
{
    int cc;

    d->orb.intparm = index;
    d->orb.ctrl = ORB_FMT1 | ORB_PFCH | ORB_LPM_ALL;
    d->orb.cpa = (uint32_t)(uintptr_t)d->ccws;
    d->started = tod();
    cc = IO_INSN("ssch", d->schid, &d->orb);
    if (cc != 0) {
        fail(d, AT_SSCH, cc);
        return -1;
    }
    d->busy = 1;
    return 0;
}

static void set_ccw(struct ccw1 *c, uint8_t cmd, uint8_t flags, uint16_t count,
                    const void *data)
{
    c->cmd = cmd;
    c->flags = flags;
    c->count = count;
    c->cda = (uint32_t)(uintptr_t)data;
}

static uint8_t *buffer_of(unsigned index)
{
    return (uint8_t *)(BUFFERS_ADDRESS + (uintptr_t)index * RECORD);
}

/* Seek cylinder 0 head 0, search record 4, read its 4096 bytes. */
static void build_program(struct device *d, unsigned index)
{
    set_ccw(&d->ccws[0], CCW_SEEK, CCW_CC, sizeof(seek_arg), seek_arg);
    set_ccw(&d->ccws[1], CCW_SEARCH_ID_EQ, CCW_CC, sizeof(search_arg), search_arg);
    set_ccw(&d->ccws[2], CCW_TIC, 0, 0, &d->ccws[1]);
    set_ccw(&d->ccws[3], CCW_READ_DATA, 0, RECORD, buffer_of(index));
}

/* Enables @sid for I/O interruptions (ISC 0); 0 on success. */
static int enable(uint32_t sid)
{
    if (IO_INSN("stsch", sid, &schib) != 0) {
        return -1;
    }
    schib.flags |= PMCW_ENABLED;
    return IO_INSN("msch", sid, &schib) == 0 ? 0 : -1;
}

static void add_device(uint32_t sid)
{
    if (ndevices == MAX_DEVICES) {
        fail(0, AT_TOO_MANY, ndevices);
        return;
    }
    devices[ndevices].schid = sid;
    if (enable(sid) != 0) {
        fail(&devices[ndevices], AT_MSCH, 0);
        return;
    }
    build_program(&devices[ndevices], ndevices);
    ndevices++;
}

/* Every operational I/O subchannel of set 0 with a valid device number. */
static void discover(void)
{
    for (uint32_t n = 0; n <= 0xffff; n++) {
        uint32_t sid = 0x00010000U | n;

        if (IO_INSN("stsch", sid, &schib) != 0) {
            continue;
        }
        if ((schib.flags & PMCW_DNV) && !(schib.flags & PMCW_TYPE_MASK)) {
            add_device(sid);
        }
    }
}

static int clean_end(void)
{
    return ((irb.scsw.ctrl >> 12) & 7) == FCTL_START &&
           irb.scsw.dstat == (DSTAT_CE | DSTAT_DE) && irb.scsw.cstat == 0 &&
           irb.scsw.count == 0;
}

/* Heapsort: no allocation, no recursion, O(n log n) for any input. */
static void sift(uint64_t *a, unsigned long root, unsigned long n)
{
    for (;;) {
        unsigned long child = 2 * root + 1;
        uint64_t t;

        if (child >= n) {
            return;
        }
        if (child + 1 < n && a[child + 1] > a[child]) {
            child++;
        }
        if (a[root] >= a[child]) {
            return;
        }
        t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void sort(uint64_t *a, unsigned long n)
{
    for (unsigned long i = n / 2; i-- > 0;) {
        sift(a, i, n);
    }
    for (unsigned long end = n; end-- > 1;) {
        uint64_t t = a[0];

        a[0] = a[end];
        a[end] = t;
        sift(a, 0, end);
    }
}

/* The nearest-rank percentile @p of the sorted @a. */
static uint64_t percentile(const uint64_t *a, unsigned long n, unsigned p)
{
    unsigned long rank = (n * p + 99) / 100;

    return a[rank ? rank - 1 : 0];
}

/* One interruption: the read it ends is collected and the next started. */
static unsigned handle_interrupt(unsigned long *nlat)
{
    uint32_t sid = LOWCORE_32(LC_SUBCHANNEL_ID);
    uint32_t index = LOWCORE_32(LC_INTPARM);
    struct device *d;
    uint64_t now;
    int cc;

    if (index >= ndevices || devices[index].schid != sid || !devices[index].busy) {
        /* Not a read of ours (left from the IPL?): collect and go on. */
        IO_INSN("tsch", sid, &irb);
        RESULTS->stray++;
        return 0;
    }
    d = &devices[index];
    cc = IO_INSN("tsch", sid, &irb);
    now = tod();
    d->busy = 0;
    if (cc != 0) {
        fail(d, AT_TSCH, cc);
        return 1;
    }
    if (!clean_end()) {
        fail(d, AT_STATUS, (unsigned)irb.scsw.dstat << 8 | irb.scsw.cstat);
        return 1;
    }
    if (*nlat < MAX_LATENCIES) {
        LATENCIES[(*nlat)++] = now - d->started;
    }
    RESULTS->ios++;
    if (++d->done == params.ios) {
        /* The last read must have brought the record: the image's first. */
        if (!memeq(buffer_of(index), (void *)LOAD_ADDRESS, RECORD)) {
            fail(d, AT_DATA, 0);
        }
        return 1;
    }
    return start_read(d, index) == 0 ? 0 : 1;
}

unsigned long run_tests(void)
{
    volatile struct results *r = RESULTS;
    uint64_t cr6 = 0xff000000ULL;   /* every interruption subclass */
    unsigned long nlat = 0;
    unsigned active = 0;
    uint64_t begin;

    for (unsigned i = 0; i < sizeof(*r) / 8; i++) {
        ((volatile uint64_t *)r)[i] = 0;
    }
    r->ios_per_device = params.ios;
    if (params.all_subchannels) {
        discover();
    } else {
        /* The subsystem-identification word the IPL left at 184. */
        add_device(LOWCORE_32(184));
    }
    r->devices = ndevices;
    if (ndevices == 0 && r->errors == 0) {
        fail(0, AT_NO_DEVICE, 0);
    }
    /* The I/O new PSW: disabled, 31-bit; wait_for_io sets its address. */
    SET_LOWCORE_64(LC_IO_NEW_PSW, 0x0000000080000000ULL);
    __asm__ volatile("lctlg 6,6,%0" : : "Q"(cr6) : "memory");

    begin = tod();
    for (unsigned i = 0; i < ndevices && params.ios > 0; i++) {
        if (start_read(&devices[i], i) == 0) {
            active++;
        }
    }
    while (active > 0) {
        wait_for_io();
        active -= handle_interrupt(&nlat);
    }
    r->elapsed = tod() - begin;

    if (nlat > 0) {
        sort(LATENCIES, nlat);
        r->min = LATENCIES[0];
        r->p50 = percentile(LATENCIES, nlat, 50);
        r->p99 = percentile(LATENCIES, nlat, 99);
        r->max = LATENCIES[nlat - 1];
    }
    for (unsigned i = 0; i < 8; i++) {
        ((volatile char *)r->magic)[i] = "BENCHRES"[i];
    }
    return r->errors ? 0xbad001 : 0xc0ffee;
}
