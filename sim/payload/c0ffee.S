/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The demo's IPL payload. The firmware enters it through a "load normal"
 * of the IPL PSW, so it runs in ESA/390 mode: it loads a disabled-wait
 * PSW whose address is 0xc0ffee, which QEMU reports as
 * "disabled-wait PSW: 0x0002000000000000 0x0000000000c0ffee".
 */
    .text
    .globl _start
_start:
    basr    %r1, 0
base:
    lpsw    wait - base(%r1)
    .balign 8
wait:
    .long   0x000a0000      /* ESA/390 format, wait state, I/O disabled */
    .long   0x00c0ffee
