/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Entry of the ccw-tests guest program (ccw-tests.c): a stack, the tests,
 * then a disabled wait at the address run_tests returned.
 */
    .section .text.start, "ax"
    .globl _start
_start:
    lgfi    %r15, 0x100000 - 160    /* 1 MiB, below nothing of ours */
    brasl   %r14, run_tests
    larl    %r1, wait_psw
    st      %r2, 4(%r1)             /* the short PSW's address word */
    lpsw    0(%r1)

    .balign 8
wait_psw:
    .long   0x000a0000              /* short PSW format, wait state */
    .long   0
    .section .note.GNU-stack, "", @progbits
