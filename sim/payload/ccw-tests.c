/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A guest program that drives its IPL device, a simulated 3390 behind
 * -device vfio-ccw, with the channel I/O instructions, and checks what
 * comes back: the device as the guest sees it, whichever QEMU device
 * implementation (stock ccw.c or the qemu-vfio-ccw library) is in
 * between.
 *
 * The firmware IPLs it like the demo payload, in z/Architecture mode with
 * the IPL subchannel's id at 184 (0xb8). It ends in a disabled wait whose
 * address says how it went: 0xc0ffee when every check passed, else
 * 0xbad000 + 16 * test + check for the first that failed (scripts/e2e-guest
 * decodes it). Every channel program reads the program's own records, so
 * what a read must return is this program's image in storage.
 *
 * Built freestanding (scripts/build-payload): no libc, no interrupts; I/O
 * completion is awaited by TEST SUBCHANNEL, which clears the pending
 * interruption it reports.
 */
#include "css.h"

#define SENSE0_CMD_REJECT 0x80
#define SENSE7_INVALID_COMMAND 0x01

static uint32_t schid;

/* Channel programs, their arguments and buffers, all below 2 GiB. */
static struct ccw1 ccws[8];
static uint8_t seek_arg[6];
static uint8_t search_arg[5];
static uint8_t buffer[2 * RECORD] __attribute__((aligned(4096)));
static uint8_t far_block[RECORD] __attribute__((aligned(4096)));
static uint64_t idal[2] __attribute__((aligned(8)));
static uint8_t sense[32];
static struct orb orb;
static struct irb irb;
static struct schib schib;

/* Makes the program long enough for a two-record read of its own image. */
static const volatile uint8_t bulk[2 * RECORD] __attribute__((used)) = { 1 };

/*
 * An I/O instruction for the subchannel in r1, with its operand at @addr
 * (the "memory" clobber covers what it reads and stores there); the
 * condition code.
 */
#define IO_INSN(mnemonic, addr) ({                                          \
    register uint32_t r1 __asm__("1") = schid;                              \
    int cc;                                                                 \
    __asm__ volatile(mnemonic " 0(%[a])\n\tipm %[cc]\n\tsrl %[cc],28"         \
                     : [cc] "=d"(cc) : "d"(r1), [a] "a"(addr) : "cc", "memory"); \
    cc;                                                                     \
})

/* The same for HSCH and CSCH, which have no operand. */
#define IO_INSN_NO_OPERAND(mnemonic) ({                                     \
    register uint32_t r1 __asm__("1") = schid;                              \
    int cc;                                                                 \
    __asm__ volatile(mnemonic "\n\tipm %[cc]\n\tsrl %[cc],28"                 \
                     : [cc] "=d"(cc) : "d"(r1) : "cc", "memory");           \
    cc;                                                                     \
})

static int ssch(const struct orb *o)
{
    return IO_INSN("ssch", o);
}

static int tsch(struct irb *i)
{
    return IO_INSN("tsch", i);
}

static int stsch(struct schib *s)
{
    return IO_INSN("stsch", s);
}

static int hsch(void)
{
    return IO_INSN_NO_OPERAND("hsch");
}

static int csch(void)
{
    return IO_INSN_NO_OPERAND("csch");
}

/* Waits for the subchannel's status; 0 once TSCH stored it. */
static int wait_status(void)
{
    for (unsigned long spins = 0; spins < 100000000UL; spins++) {
        int cc = tsch(&irb);

        if (cc == 0) {
            return 0;
        }
        if (cc == 3) {
            return -1;
        }
    }
    return -1;
}

static unsigned fctl(void)
{
    return (irb.scsw.ctrl >> 12) & 7;
}

static void set_ccw(int i, uint8_t cmd, uint8_t flags, uint16_t count,
                    const void *data)
{
    ccws[i].cmd = cmd;
    ccws[i].flags = flags;
    ccws[i].count = count;
    ccws[i].cda = (uint32_t)(uintptr_t)data;
}

/*
 * Seek cylinder 0 head 0 and search for record @record; the CCW after the
 * search's TIC (ccws[3]) is the caller's.
 */
static void locate(uint8_t record)
{
    for (int i = 0; i < 6; i++) {
        seek_arg[i] = 0;
    }
    for (int i = 0; i < 4; i++) {
        search_arg[i] = 0;
    }
    search_arg[4] = record;
    set_ccw(0, CCW_SEEK, CCW_CC, sizeof(seek_arg), seek_arg);
    set_ccw(1, CCW_SEARCH_ID_EQ, CCW_CC, sizeof(search_arg), search_arg);
    set_ccw(2, CCW_TIC, 0, 0, &ccws[1]);
}

static int start_orb(uint32_t ctrl);

/* Starts ccws with a format-1, all-paths ORB that allows prefetch. */
static int start(uint32_t extra)
{
    return start_orb(ORB_FMT1 | ORB_PFCH | ORB_LPM_ALL | extra);
}

/* Issues SSCH for ccws; returns its condition code. */
static int ssch_ccws(uint32_t ctrl)
{
    orb.intparm = 0x12345678;
    orb.ctrl = ctrl;
    orb.cpa = (uint32_t)(uintptr_t)ccws;
    return ssch(&orb);
}

static int start_orb(uint32_t ctrl)
{
    if (ssch_ccws(ctrl) != 0) {
        return -1;
    }
    return wait_status();
}

/*
 * Starts a record read that e2e-guest's fault rule holds in the simulated
 * kernel, and checks that it stays active without status for a while.
 */
static int start_held_read(void)
{
    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, 0, RECORD, buffer);
    if (ssch_ccws(ORB_FMT1 | ORB_PFCH | ORB_LPM_ALL) != 0) {
        return 1;
    }
    for (int i = 0; i < 20000; i++) {
        if (stsch(&schib) != 0) {
            return 2;
        }
        if (schib.scsw.ctrl & 1) {
            return 3;   /* it ended: no fault rule held it */
        }
    }
    return 0;
}

/* 1: HALT SUBCHANNEL ends an active program with halt status. */
static int test_halt_active(void)
{
    int check = start_held_read();

    if (check) {
        return check;
    }
    if (hsch() != 0) {
        return 4;
    }
    if (wait_status()) {
        return 5;
    }
    return (fctl() & FCTL_HALT) ? 0 : 6;
}

/* 2: CLEAR SUBCHANNEL ends an active program with clear status. */
static int test_clear_active(void)
{
    int check = start_held_read();

    if (check) {
        return check;
    }
    if (csch() != 0) {
        return 4;
    }
    if (wait_status()) {
        return 5;
    }
    return fctl() == FCTL_CLEAR ? 0 : 6;
}

static int clean_end(void)
{
    return fctl() == FCTL_START && irb.scsw.dstat == (DSTAT_CE | DSTAT_DE) &&
           irb.scsw.cstat == 0;
}

/* 3: a record read lands in storage and ends with channel and device end. */
static int test_read_one_record(void)
{
    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, 0, RECORD, buffer);
    if (start(0)) {
        return 1;
    }
    if (!clean_end()) {
        return 2;
    }
    if (irb.scsw.count != 0) {
        return 3;
    }
    return memeq(buffer, (void *)LOAD_ADDRESS, RECORD) ? 0 : 4;
}

/* 4: command chaining reads the next record after the first. */
static int test_chained_reads(void)
{
    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, CCW_CC, RECORD, buffer);
    set_ccw(4, CCW_READ_DATA, 0, RECORD, buffer + RECORD);
    if (start(0)) {
        return 1;
    }
    if (!clean_end()) {
        return 2;
    }
    return memeq(buffer, (void *)LOAD_ADDRESS, 2 * RECORD) ? 0 : 3;
}

/* 5: an IDAL of 64-bit IDAWs scatters one record over two blocks. */
static int test_idal_scatters(void)
{
    idal[0] = (uintptr_t)buffer + RECORD / 2;   /* up to the 4K boundary */
    idal[1] = (uintptr_t)far_block;
    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, CCW_IDA, RECORD, idal);
    if (start(ORB_C64)) {
        return 1;
    }
    if (!clean_end()) {
        return 2;
    }
    if (!memeq(buffer + RECORD / 2, (void *)LOAD_ADDRESS, RECORD / 2)) {
        return 3;
    }
    return memeq(far_block, (void *)(LOAD_ADDRESS + RECORD / 2), RECORD / 2)
           ? 0 : 4;
}

/* 6: a short count without SLI is an incorrect length; with SLI it is not. */
static int test_incorrect_length(void)
{
    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, 0, 100, buffer);
    if (start(0)) {
        return 1;
    }
    if (!(irb.scsw.cstat & 0x40)) {     /* IL */
        return 2;
    }
    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, CCW_SLI, 100, buffer);
    if (start(0)) {
        return 3;
    }
    return clean_end() ? 0 : 4;
}

/* 7: a command the device rejects is a unit check; Sense says why. */
static int test_unit_check_then_sense(void)
{
    set_ccw(0, CCW_INVALID, 0, 16, buffer);
    if (start(0)) {
        return 1;
    }
    if (!(irb.scsw.dstat & DSTAT_UC)) {
        return 2;
    }
    set_ccw(0, CCW_SENSE, 0, sizeof(sense), sense);
    if (start(0)) {
        return 3;
    }
    if (!clean_end()) {
        return 4;
    }
    if (!(sense[0] & SENSE0_CMD_REJECT)) {
        return 5;
    }
    return sense[7] == SENSE7_INVALID_COMMAND ? 0 : 6;
}

/* 8: STORE SUBCHANNEL shows an enabled subchannel, its number and path. */
static int test_store_subchannel(void)
{
    if (stsch(&schib) != 0) {
        return 1;
    }
    if ((schib.flags & (PMCW_ENABLED | PMCW_DNV)) != (PMCW_ENABLED | PMCW_DNV)) {
        return 2;
    }
    if (schib.devno != 0x0001) {         /* -device ...,devno=fe.0.0001 */
        return 3;
    }
    if (schib.pim != 0x80 || schib.chpid[0] != 0x40) {
        return 4;
    }
    return schib.intparm == 0x12345678 ? 0 : 5;
}

/* 9: HALT SUBCHANNEL on an idle subchannel ends with halt status. */
static int test_halt_idle(void)
{
    if (hsch() != 0) {
        return 1;
    }
    if (wait_status()) {
        return 2;
    }
    return fctl() == FCTL_HALT ? 0 : 3;
}

/* 10: CLEAR SUBCHANNEL ends with clear status; then nothing is pending. */
static int test_clear(void)
{
    if (csch() != 0) {
        return 1;
    }
    if (wait_status()) {
        return 2;
    }
    if (fctl() != FCTL_CLEAR) {
        return 3;
    }
    return tsch(&irb) == 1 ? 0 : 4;
}

/*
 * 11: an ORB that does not allow prefetch still runs: kernels since 5.8
 * accept it (QEMU's force-orb-pfch is for older ones).
 */
static int test_read_without_prefetch(void)
{
    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, 0, RECORD, buffer);
    if (start_orb(ORB_FMT1 | ORB_LPM_ALL)) {
        return 1;
    }
    if (!clean_end()) {
        return 2;
    }
    return memeq(buffer, (void *)LOAD_ADDRESS, RECORD) ? 0 : 3;
}

/*
 * 12: while the ending status is pending, STSCH shows it and another SSCH
 * is refused with cc 1; TSCH then collects the first program's status.
 */
static int test_start_while_status_pending(void)
{
    unsigned long spins = 0;

    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, 0, RECORD, buffer);
    orb.intparm = 0x12345678;
    orb.ctrl = ORB_FMT1 | ORB_PFCH | ORB_LPM_ALL;
    orb.cpa = (uint32_t)(uintptr_t)ccws;
    if (ssch(&orb) != 0) {
        return 1;
    }
    do {
        if (stsch(&schib) != 0 || ++spins > 100000000UL) {
            return 2;
        }
    } while (!(schib.scsw.ctrl & 1));   /* status pending */
    if (ssch(&orb) != 1) {
        return 3;
    }
    if (tsch(&irb) != 0) {
        return 4;
    }
    return clean_end() ? 0 : 5;
}

/* 13: after all that, the device still reads. */
static int test_reads_again(void)
{
    return test_read_one_record();
}

/*
 * The checks below need a host whose channel programs take time, as real
 * ones do (the simulated kernel's --latency, which e2e-guest passes): no
 * fault rule holds these programs.
 */

/*
 * Starts a record read and checks, with one STSCH, that it has not ended
 * yet: the next instruction meets it running. 0, or the failing check.
 */
static int start_running_read(void)
{
    locate(FIRST_RECORD);
    set_ccw(3, CCW_READ_DATA, 0, RECORD, buffer);
    if (ssch_ccws(ORB_FMT1 | ORB_PFCH | ORB_LPM_ALL) != 0) {
        return 1;
    }
    if (stsch(&schib) != 0) {
        return 2;
    }
    /* Status already pending: the host completed it at once (no latency). */
    return (schib.scsw.ctrl & 1) ? 3 : 0;
}

/* 14: HALT SUBCHANNEL of a program the device is running ends it halted. */
static int test_halt_running(void)
{
    int check = start_running_read();

    if (check) {
        return check;
    }
    if (hsch() != 0) {
        return 4;
    }
    if (wait_status()) {
        return 5;
    }
    return fctl() == (FCTL_START | FCTL_HALT) ? 0 : 6;
}

/* 15: CLEAR SUBCHANNEL of a program the device is running ends it cleared. */
static int test_clear_running(void)
{
    int check = start_running_read();

    if (check) {
        return check;
    }
    if (csch() != 0) {
        return 4;
    }
    if (wait_status()) {
        return 5;
    }
    if (fctl() != FCTL_CLEAR) {
        return 6;
    }
    return tsch(&irb) == 1 ? 0 : 7;
}

/*
 * 16: SSCH while the previous program is still running is refused with
 * cc 2 (busy); the first program then ends normally with its data.
 */
static int test_start_while_running(void)
{
    int check = start_running_read();

    if (check) {
        return check;
    }
    if (ssch(&orb) != 2) {
        return 4;
    }
    if (wait_status()) {
        return 5;
    }
    if (!clean_end()) {
        return 6;
    }
    return memeq(buffer, (void *)LOAD_ADDRESS, RECORD) ? 0 : 7;
}

/*
 * 17: TEST SUBCHANNEL before the interrupt has arrived finds nothing
 * pending (cc 1); polling it then collects the program's status.
 */
static int test_tsch_polls_before_the_interrupt(void)
{
    unsigned long empty = 0;
    int check;

    for (unsigned long i = 0; i < sizeof(buffer); i++) {
        buffer[i] = 0;
    }
    check = start_running_read();
    if (check) {
        return check;
    }
    for (;;) {
        int cc = tsch(&irb);

        if (cc == 0) {
            break;
        }
        if (cc != 1 || ++empty > 100000000UL) {
            return 4;
        }
    }
    if (empty == 0) {
        return 5;
    }
    if (!clean_end()) {
        return 6;
    }
    return memeq(buffer, (void *)LOAD_ADDRESS, RECORD) ? 0 : 7;
}

/* e2e-guest's fault rules hold the first two programs: keep these first. */
static int (*const tests[])(void) = {
    test_halt_active,
    test_clear_active,
    test_read_one_record,
    test_chained_reads,
    test_idal_scatters,
    test_incorrect_length,
    test_unit_check_then_sense,
    test_store_subchannel,
    test_halt_idle,
    test_clear,
    test_read_without_prefetch,
    test_start_while_status_pending,
    test_reads_again,
    test_halt_running,
    test_clear_running,
    test_start_while_running,
    test_tsch_polls_before_the_interrupt,
};

unsigned long run_tests(void)
{
    /* The subsystem-identification word the IPL left at 184. */
    __asm__ volatile("l %0,184" : "=d"(schid) : : "memory");
    for (unsigned i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        int check = tests[i]();

        if (check) {
            return 0xbad000 + 16 * (i + 1) + check;
        }
    }
    return 0xc0ffee;
}
