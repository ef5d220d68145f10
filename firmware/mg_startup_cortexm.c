/* mcugen startup for Cortex-M (M0+/M3/M4F/M7/M33): vector table, FPU enable, .data copy, .bss zero,
 * main(), exit status through mg_bm_exit(). Faults print one line and exit with status 126.
 * Symbols come from the linker script (mps2.ld / mps2_an505.ld through mg_sections_arm.ld). */
#include <stdint.h>

#include "mg_bm.h"

extern uint32_t __data_load__;
extern uint32_t __data_start__;
extern uint32_t __data_end__;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern uint32_t __stack_top__;

int main(void);
void mg_reset_handler(void) __attribute__((noreturn));
void mg_fault_handler(void) __attribute__((noreturn));

#define MG_FAULT_STATUS 126

void mg_reset_handler(void) {
    uint32_t *src;
    uint32_t *dst;
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 before the first floating-point instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" : : : "memory");
#endif
    src = &__data_load__;
    for (dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
    mg_bm_exit(main());
}

static void put_hex32(uint32_t v) {
    int i;
    for (i = 28; i >= 0; i -= 4) {
        mg_bm_putc("0123456789abcdef"[(v >> i) & 0xFu]);
    }
}

void mg_fault_handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    mg_bm_puts("\nMG-FAULT exception ");
    put_hex32(ipsr & 0x1FFu);
    mg_bm_puts(" CFSR ");
    put_hex32(*(volatile uint32_t *)0xE000ED28u);
    mg_bm_puts("\n");
    mg_bm_exit(MG_FAULT_STATUS);
}

/* 16 system entries, then external interrupts; none is enabled, so all but the first two only catch
 * faults. The table is placed first in flash by the linker script. */
#define MG_VECTORS (16 + 32)
__attribute__((section(".vectors"), used)) const uintptr_t mg_vector_table[MG_VECTORS] = {
    (uintptr_t)&__stack_top__,
    (uintptr_t)mg_reset_handler,
    [2 ... MG_VECTORS - 1] = (uintptr_t)mg_fault_handler,
};
