/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The exported ABI through a device's whole life, as QEMU's shim drives
 * it: realize, SSCH, I/O interrupt, STSCH, HSCH, CSCH, reset, unrealize.
 */
/* MAP_ANONYMOUS and dladdr are not in strict C11. */
#define _GNU_SOURCE

#include <dlfcn.h>

#include "qemu_vfio_ccw.h"
#include "sim.h"

#define CPA 0x1000u
#define DATA 0x8000u
#define CCW_SENSE_ID 0xe4
#define CCW_FLAG_SLI 0x20

static int messages;

static void count_messages(void *opaque, QvcLogLevel level, const char *msg)
{
    (void)level;
    CHECK(opaque == &messages);
    CHECK(strncmp(msg, "vfio-ccw ", 9) == 0);
    messages++;
}

/* The subchannel as css hands it over: the given function pending. */
static QvcSchib schib_with(uint16_t ctrl)
{
    QvcSchib schib;

    memset(&schib, 0, sizeof(schib));
    schib.pmcw.devno = 0x0313;
    schib.pmcw.pim = 0x80;
    schib.pmcw.chars = 1; /* concurrent sense */
    schib.scsw.ctrl = ctrl;
    return schib;
}

/* Waits for the I/O interrupt and returns its outcome. */
static QvcOutcome interrupt(QvcHandle h, int io_fd, const QvcSchib *cur)
{
    QvcOutcome out = { .size = sizeof(out) };

    CHECK(wait_readable(io_fd));
    CHECK(qvc_device_io_interrupt(h, cur, &out) == QVC_STATUS_OK);
    CHECK(out.actions & QVC_ACTION_INJECT_IO_INTERRUPT);
    CHECK(out.actions & QVC_ACTION_SET_SCHIB);
    return out;
}

int main(void)
{
    SimDevice sim;
    QvcConfig config = { .size = sizeof(config), .force_orb_pfch = false };
    QvcHandle h = 0;
    QvcOutcome out = { .size = sizeof(out) };
    QvcOrb orb = { .intparm = 0x12345678, .ctrl0 = 0x0080 | 0x0040,
                   .lpm = 0xff, .cpa = CPA };
    QvcSchib start = schib_with(0x4000 | 0x0400);
    QvcSchib halt = schib_with(0x4000 | 0x2000 | 0x0200);
    QvcSchib clear = schib_with(0x1000 | 0x0100);
    char err[256] = "";
    int io_fd = -1, crw_fd = -1, req_fd = -1;
    bool unplug = true;

    if (sim_open(&sim) < 0) {
        return 1;
    }

    /*
     * The ABI under test is the library's, not a copy that a preloaded
     * simulator could shadow it with.
     */
    {
        Dl_info where;
        QvcStatus (*realize)(int, const char *, const QvcConfig *,
                             QvcHandle *, char *, size_t) = qvc_device_realize;
        void *addr;

        memcpy(&addr, &realize, sizeof(addr));
        CHECK(dladdr(addr, &where) && where.dli_fname &&
              strstr(where.dli_fname, "libqemu_vfio_ccw"));
    }
    CHECK(qvc_set_log_handler(count_messages, &messages) == QVC_STATUS_OK);

    CHECK(qvc_device_realize(sim.device, "0.0.0313", &config, &h, err,
                             sizeof(err)) == QVC_STATUS_OK);
    CHECK(h != 0);
    CHECK(qvc_device_irq_fd(h, QVC_IRQ_IO, &io_fd) == QVC_STATUS_OK);
    CHECK(qvc_device_irq_fd(h, QVC_IRQ_CRW, &crw_fd) == QVC_STATUS_OK);
    CHECK(qvc_device_irq_fd(h, QVC_IRQ_REQ, &req_fd) == QVC_STATUS_OK);
    CHECK(io_fd >= 0 && crw_fd >= 0 && req_fd >= 0);

    /* SSCH: Sense ID into guest memory, then its interrupt. */
    ccw1(sim.ram, CPA, CCW_SENSE_ID, CCW_FLAG_SLI, 256, DATA);
    CHECK(qvc_device_start(h, &orb, &start, CPA, &out) == QVC_STATUS_OK);
    CHECK(out.ret == 0 && out.actions == 0);
    out = interrupt(h, io_fd, &start);
    CHECK(out.schib.scsw.dstat == 0x0c); /* channel end, device end */
    CHECK(out.schib.scsw.cpa == CPA + 8);
    CHECK(out.schib.pmcw.devno == 0x0313);
    CHECK(sim.ram[DATA] == 0xff);

    /* STSCH refreshes the path masks. */
    CHECK(qvc_device_store(h, &start, &out) == QVC_STATUS_OK);
    CHECK(out.ret == 0 && out.actions == QVC_ACTION_SET_SCHIB);
    CHECK(out.schib.pmcw.pam != 0);

    /* HSCH and CSCH on the idle subchannel each end in an interrupt. */
    CHECK(qvc_device_halt(h, &halt, CPA, &out) == QVC_STATUS_OK);
    CHECK(out.ret == 0 && out.actions == 0);
    out = interrupt(h, io_fd, &halt);
    CHECK(out.schib.scsw.ctrl & 0x2000);
    CHECK(qvc_device_clear(h, &clear, CPA, &out) == QVC_STATUS_OK);
    CHECK(out.ret == 0 && out.actions == 0);
    out = interrupt(h, io_fd, &clear);
    CHECK(out.schib.scsw.ctrl & 0x1000);

    /* No request from the host. */
    CHECK(qvc_device_req_interrupt(h, &unplug) == QVC_STATUS_OK);
    CHECK(!unplug);

    CHECK(qvc_device_reset(h) == QVC_STATUS_OK);
    CHECK(qvc_device_unrealize(h) == QVC_STATUS_OK);
    CHECK(qvc_device_reset(h) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_unrealize(h) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_set_log_handler(NULL, NULL) == QVC_STATUS_OK);

    sim_close(&sim);
    return finish("test-lifecycle");
}
