/* mcugen startup for RV32 bare metal (QEMU virt, -bios none): global and thread pointers (picolibc
 * keeps errno in thread-local storage), stack, trap vector, .data/.tdata copy, .bss/.tbss zero, main(),
 * exit status through mg_bm_exit(). Symbols come from riscv_virt.ld. */
    .section .text.mg_start, "ax", @progbits
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la tp, __tls_base
    la sp, __stack_top__
    la t0, mg_trap_entry
    csrw mtvec, t0

    la a0, __data_load__
    la a1, __data_start__
    la a2, __data_end__
1:  bgeu a1, a2, 2f
    lw t0, 0(a0)
    sw t0, 0(a1)
    addi a0, a0, 4
    addi a1, a1, 4
    j 1b
2:  la a1, __bss_start__
    la a2, __bss_end__
3:  bgeu a1, a2, 4f
    sw zero, 0(a1)
    addi a1, a1, 4
    j 3b
4:  call main
    tail mg_bm_exit

    .balign 4
mg_trap_entry:
    j mg_trap_handler
