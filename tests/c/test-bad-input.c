/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Bad input to the exported ABI: an error status each, never a crash.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "qemu_vfio_ccw.h"

static QvcStatus realize_fd(int fd, char *err, size_t len)
{
    QvcHandle h = 0;
    QvcStatus s = qvc_device_realize(fd, "0.0.0313", NULL, &h, err, len);

    CHECK(s != QVC_STATUS_OK || h != 0);
    return s;
}

int main(void)
{
    QvcOrb orb;
    QvcSchib schib;
    QvcOutcome out;
    QvcCrw crws[4];
    size_t n = 7;
    char err[256];
    int fd, closed_fd;
    bool unplug;

    memset(&orb, 0, sizeof(orb));
    memset(&schib, 0, sizeof(schib));
    memset(&out, 0xa5, sizeof(out));

    /* A NULL handle (0) and one never issued. */
    CHECK(qvc_device_start(0, &orb, &schib, 0, &out) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_halt(0, &schib, 0, &out) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_clear(0, &schib, 0, &out) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_store(0xdead, &schib, &out) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_io_interrupt(0xdead, &schib, &out) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_crw_interrupt(0, crws, 4, &n) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_req_interrupt(0, &unplug) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_reset(0) == QVC_STATUS_INVALID_HANDLE);
    CHECK(qvc_device_unrealize(0) == QVC_STATUS_INVALID_HANDLE);
    CHECK(n == 7);

    /* NULL pointers. */
    CHECK(qvc_device_start(1, NULL, &schib, 0, &out) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_start(1, &orb, NULL, 0, &out) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_start(1, &orb, &schib, 0, NULL) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_store(1, NULL, &out) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_crw_interrupt(1, NULL, 4, &n) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_crw_interrupt(1, crws, 4, NULL) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_req_interrupt(1, NULL) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_irq_fd(1, QVC_IRQ_IO, NULL) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_realize(3, NULL, NULL, NULL, NULL, 0) == QVC_STATUS_NULL_ARGUMENT);
    CHECK(qvc_device_irq_fd(1, 42, NULL) == QVC_STATUS_NULL_ARGUMENT);

    /* An fd that is not a vfio device. */
    fd = open("/dev/null", O_RDWR);
    CHECK(fd >= 0);
    CHECK(realize_fd(fd, err, sizeof(err)) == QVC_STATUS_REALIZE_FAILED);
    CHECK(strstr(err, "vfio-ccw 0.0.0313: ") == err);
    CHECK(strstr(err, "not an open vfio device") != NULL);

    /* A closed fd. */
    closed_fd = dup(fd);
    close(closed_fd);
    CHECK(realize_fd(closed_fd, err, sizeof(err)) == QVC_STATUS_REALIZE_FAILED);
    CHECK(strstr(err, "not an open vfio device") != NULL);
    close(fd);

    /* A negative fd, and no room for the message. */
    CHECK(realize_fd(-1, NULL, 0) == QVC_STATUS_REALIZE_FAILED);

    /* A config whose bool holds neither 0 nor 1 (C can leave any byte). */
    {
        QvcConfig bad;
        QvcHandle h = 0;

        memset(&bad, 0x7f, sizeof(bad));
        bad.size = sizeof(bad);
        CHECK(qvc_device_realize(-1, "0.0.0313", &bad, &h, err, sizeof(err)) ==
              QVC_STATUS_INVALID_ARGUMENT);
        CHECK(strcmp(err, "vfio-ccw 0.0.0313: config force_orb_pfch holds "
                     "0x7f, not a bool (0 or 1)") == 0);
        CHECK(h == 0);
    }

    /* The ABI version is the header's; sizes below ABI 0.1's are refused. */
    CHECK(qvc_abi_version() == (QVC_ABI_MAJOR << 16 | QVC_ABI_MINOR));
    {
        QvcConfig small = { .size = QVC_CONFIG_SIZE_MIN - 4 };
        QvcOutcome tiny = { .size = 0 };
        QvcSchib cur;
        QvcHandle h = 0;

        memset(&cur, 0, sizeof(cur));
        CHECK(qvc_device_realize(-1, "0.0.0313", &small, &h, err, sizeof(err)) ==
              QVC_STATUS_INVALID_ARGUMENT);
        CHECK(strstr(err, "config size 4 is smaller than QvcConfig") != NULL);
        CHECK(qvc_device_store(1, &cur, &tiny) == QVC_STATUS_INVALID_ARGUMENT);
        CHECK(tiny.size == 0);
    }

    /* Status texts, known and unknown. */
    CHECK(strcmp(qvc_status_str(QVC_STATUS_OK), "success") == 0);
    CHECK(strcmp(qvc_status_str(9999), "unknown status") == 0);

    return finish("test-bad-input");
}
