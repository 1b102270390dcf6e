/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Prints the vfio-ccw uAPI as the system's kernel headers define it, one
 * "name value" per line; tests/uapi_layout.rs compares it with src/uapi.rs.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/vfio.h>
#include <linux/vfio_ccw.h>

#define SHOW(name, value) printf("%s %lu\n", name, (unsigned long)(value))

int main(void)
{
    SHOW("io_region_size", sizeof(struct ccw_io_region));
    SHOW("io_orb_offset", offsetof(struct ccw_io_region, orb_area));
    SHOW("io_scsw_offset", offsetof(struct ccw_io_region, scsw_area));
    SHOW("io_irb_offset", offsetof(struct ccw_io_region, irb_area));
    SHOW("io_ret_code_offset", offsetof(struct ccw_io_region, ret_code));
    SHOW("cmd_region_size", sizeof(struct ccw_cmd_region));
    SHOW("cmd_ret_code_offset", offsetof(struct ccw_cmd_region, ret_code));
    SHOW("schib_region_size", sizeof(struct ccw_schib_region));
    SHOW("crw_region_size", sizeof(struct ccw_crw_region));
    SHOW("async_cmd_hsch", VFIO_CCW_ASYNC_CMD_HSCH);
    SHOW("async_cmd_csch", VFIO_CCW_ASYNC_CMD_CSCH);
    SHOW("subtype_async_cmd", VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD);
    SHOW("subtype_schib", VFIO_REGION_SUBTYPE_CCW_SCHIB);
    SHOW("subtype_crw", VFIO_REGION_SUBTYPE_CCW_CRW);
    SHOW("region_type_ccw", VFIO_REGION_TYPE_CCW);
    SHOW("config_region_index", VFIO_CCW_CONFIG_REGION_INDEX);
    SHOW("io_irq_index", VFIO_CCW_IO_IRQ_INDEX);
    SHOW("crw_irq_index", VFIO_CCW_CRW_IRQ_INDEX);
    SHOW("req_irq_index", VFIO_CCW_REQ_IRQ_INDEX);
    SHOW("device_flags_ccw", VFIO_DEVICE_FLAGS_CCW);
    SHOW("region_info_size", sizeof(struct vfio_region_info));
    SHOW("irq_set_size", sizeof(struct vfio_irq_set));
    SHOW("get_api_version", VFIO_GET_API_VERSION);
    SHOW("group_get_device_fd", VFIO_GROUP_GET_DEVICE_FD);
    SHOW("device_get_info", VFIO_DEVICE_GET_INFO);
    SHOW("device_get_region_info", VFIO_DEVICE_GET_REGION_INFO);
    SHOW("device_get_irq_info", VFIO_DEVICE_GET_IRQ_INFO);
    SHOW("device_set_irqs", VFIO_DEVICE_SET_IRQS);
    SHOW("device_reset", VFIO_DEVICE_RESET);
    SHOW("iommu_map_dma", VFIO_IOMMU_MAP_DMA);
    SHOW("iommu_unmap_dma", VFIO_IOMMU_UNMAP_DMA);
    return 0;
}
