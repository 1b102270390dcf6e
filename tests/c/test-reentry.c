/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A log handler that calls back into the library, as a careless shim
 * might: the call is refused with QVC_STATUS_REENTRANT, nothing
 * deadlocks, and the device goes on working.
 */
/* MAP_ANONYMOUS (sim.h) is not in strict C11. */
#define _GNU_SOURCE

#include "qemu_vfio_ccw.h"
#include "sim.h"

#define CPA 0x1000u
#define DATA 0x8000u
#define CCW_SENSE_ID 0xe4
#define CCW_FLAG_SLI 0x20

static QvcHandle handle;
static int callbacks;
static QvcStatus from_handler[2];

static void call_back(void *opaque, QvcLogLevel level, const char *msg)
{
    QvcOutcome out = { .size = sizeof(out) };
    QvcSchib schib;

    (void)opaque;
    (void)level;
    (void)msg;
    memset(&schib, 0, sizeof(schib));
    if (callbacks++ == 0) {
        from_handler[0] = qvc_device_store(handle, &schib, &out);
        from_handler[1] = qvc_device_unrealize(handle);
    }
}

int main(void)
{
    SimDevice sim;
    /* force-orb-pfch makes the library warn on an ORB without it. */
    QvcConfig config = { .size = sizeof(config), .force_orb_pfch = true };
    QvcOrb orb = { .ctrl0 = 0x0080, .lpm = 0xff, .cpa = CPA };
    QvcSchib start;
    QvcOutcome out = { .size = sizeof(out) };
    int io_fd = -1;

    if (sim_open(&sim) < 0) {
        return 1;
    }
    memset(&start, 0, sizeof(start));
    start.scsw.ctrl = 0x4000 | 0x0400;
    CHECK(qvc_device_realize(sim.device, "0.0.0313", &config, &handle, NULL,
                             0) == QVC_STATUS_OK);
    CHECK(qvc_device_irq_fd(handle, QVC_IRQ_IO, &io_fd) == QVC_STATUS_OK);
    CHECK(qvc_set_log_handler(call_back, NULL) == QVC_STATUS_OK);

    ccw1(sim.ram, CPA, CCW_SENSE_ID, CCW_FLAG_SLI, 256, DATA);
    CHECK(qvc_device_start(handle, &orb, &start, CPA, &out) == QVC_STATUS_OK);
    CHECK(callbacks == 1);
    CHECK(from_handler[0] == QVC_STATUS_REENTRANT);
    CHECK(from_handler[1] == QVC_STATUS_REENTRANT);
    CHECK(strstr(qvc_status_str(QVC_STATUS_REENTRANT), "log handler"));

    /* The start went through and the device still works. */
    CHECK(out.ret == 0);
    CHECK(wait_readable(io_fd));
    CHECK(qvc_device_io_interrupt(handle, &start, &out) == QVC_STATUS_OK);
    CHECK(out.schib.scsw.dstat == 0x0c);
    CHECK(sim.ram[DATA] == 0xff);

    CHECK(qvc_set_log_handler(NULL, NULL) == QVC_STATUS_OK);
    CHECK(qvc_device_unrealize(handle) == QVC_STATUS_OK);
    sim_close(&sim);
    return finish("test-reentry");
}
