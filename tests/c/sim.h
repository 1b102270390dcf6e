/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Opens the simulated vfio-ccw device the way QEMU's VFIO code opens a
 * real one (container, group, device fd, guest RAM mapped for DMA). The
 * tests run with the simulator's interposer preloaded; the group number
 * and mdev UUID come from the environment the test runner sets.
 */
#ifndef QVC_TEST_SIM_H
#define QVC_TEST_SIM_H

#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

#define GUEST_RAM (1u << 20)

typedef struct SimDevice {
    int container;
    int group;
    int device;
    uint8_t *ram;
} SimDevice;

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* Returns 0, or -1 with a message on stderr. */
static int sim_open(SimDevice *sim)
{
    char path[64];
    struct vfio_group_status status = { .argsz = sizeof(status) };
    struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
    const char *group = env_or("VFIO_CCW_SIM_GROUP", "7");
    const char *uuid = env_or("VFIO_CCW_SIM_UUID",
                              "6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313");

    memset(sim, 0, sizeof(*sim));
    sim->container = open("/dev/vfio/vfio", O_RDWR);
    snprintf(path, sizeof(path), "/dev/vfio/%s", group);
    sim->group = open(path, O_RDWR);
    if (sim->container < 0 || sim->group < 0) {
        fprintf(stderr, "cannot open the simulated vfio nodes (%s): %s; "
                "is the interposer preloaded?\n", path, strerror(errno));
        return -1;
    }
    if (ioctl(sim->group, VFIO_GROUP_GET_STATUS, &status) < 0 ||
        !(status.flags & VFIO_GROUP_FLAGS_VIABLE) ||
        ioctl(sim->group, VFIO_GROUP_SET_CONTAINER, &sim->container) < 0 ||
        ioctl(sim->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
        fprintf(stderr, "group/container setup failed: %s\n", strerror(errno));
        return -1;
    }
    sim->ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sim->ram == MAP_FAILED) {
        return -1;
    }
    map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    map.vaddr = (uintptr_t)sim->ram;
    map.iova = 0;
    map.size = GUEST_RAM;
    if (ioctl(sim->container, VFIO_IOMMU_MAP_DMA, &map) < 0) {
        fprintf(stderr, "MAP_DMA failed: %s\n", strerror(errno));
        return -1;
    }
    sim->device = ioctl(sim->group, VFIO_GROUP_GET_DEVICE_FD, uuid);
    if (sim->device < 0) {
        fprintf(stderr, "GET_DEVICE_FD(%s) failed: %s\n", uuid, strerror(errno));
        return -1;
    }
    return 0;
}

static void sim_close(SimDevice *sim)
{
    struct vfio_iommu_type1_dma_unmap unmap = {
        .argsz = sizeof(unmap), .iova = 0, .size = GUEST_RAM,
    };

    close(sim->device);
    ioctl(sim->container, VFIO_IOMMU_UNMAP_DMA, &unmap);
    ioctl(sim->group, VFIO_GROUP_UNSET_CONTAINER, &sim->container);
    close(sim->group);
    close(sim->container);
    munmap(sim->ram, GUEST_RAM);
}

/* Writes a format-1 CCW (big-endian, as in guest memory). */
static void ccw1(uint8_t *ram, uint32_t at, uint8_t cmd, uint8_t flags,
                 uint16_t count, uint32_t cda)
{
    ram[at] = cmd;
    ram[at + 1] = flags;
    ram[at + 2] = count >> 8;
    ram[at + 3] = count;
    ram[at + 4] = cda >> 24;
    ram[at + 5] = cda >> 16;
    ram[at + 6] = cda >> 8;
    ram[at + 7] = cda;
}

/* Waits up to a second for `fd` to become readable. */
static int wait_readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 1000) == 1 && (p.revents & POLLIN);
}

#endif
