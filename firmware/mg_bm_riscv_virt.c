/* mcugen bare-metal support for QEMU's RISC-V `virt` machine (rv32imc, the ESP32-C3's instruction set):
 * NS16550 UART for text, the SiFive test device for the exit status, mcycle as the instruction counter,
 * a trap handler that reports the cause. Addresses come from -D flags (see mg_bm.h). */
#include "mg_bm.h"

#ifndef MG_BM_UART_BASE
#error "define MG_BM_UART_BASE"
#endif
#ifndef MG_BM_EXIT_BASE
#error "define MG_BM_EXIT_BASE"
#endif

#define UART_REG(off) (*(volatile uint8_t *)(uintptr_t)((MG_BM_UART_BASE) + (off)))
#define UART_THR 0u
#define UART_RBR 0u
#define UART_LSR 5u /* bit 0: data ready, bit 5: transmit holding register empty */
#define EXIT_REG (*(volatile uint32_t *)(uintptr_t)(MG_BM_EXIT_BASE))

#define MG_FAULT_STATUS 126

static uint64_t counter_start;

static uint64_t counter64(void) {
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile("csrr %0, mcycleh" : "=r"(hi));
        __asm__ volatile("csrr %0, mcycle" : "=r"(lo));
        __asm__ volatile("csrr %0, mcycleh" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

void mg_bm_init(void) {}

void mg_bm_counter_restart(void) { counter_start = counter64(); }

uint32_t mg_bm_counter_wrapped(void) { return (counter64() - counter_start) >> 32 != 0u; }

void mg_bm_putc(char c) {
    while (!(UART_REG(UART_LSR) & 0x20u)) {
    }
    UART_REG(UART_THR) = (uint8_t)c;
}

void mg_bm_puts(const char *s) {
    while (*s) {
        mg_bm_putc(*s++);
    }
}

int mg_bm_getc_nonblock(void) {
    if (!(UART_REG(UART_LSR) & 0x01u)) {
        return -1;
    }
    return (int)UART_REG(UART_RBR);
}

void mg_bm_reboot(void) {
    /* _start sets gp, tp, sp and mtvec itself, copies .data and zeroes .bss. */
    __asm__ volatile("j _start" : : : "memory");
    for (;;) {
    }
}

void mg_bm_exit(int status) {
    /* 0x5555: pass (exit 0); (code << 16) | 0x3333: fail with that exit code. */
    EXIT_REG = status == 0 ? 0x5555u : (((uint32_t)status & 0xFFFFu) << 16) | 0x3333u;
    for (;;) {
    }
}

static void put_hex32(uint32_t v) {
    int i;
    for (i = 28; i >= 0; i -= 4) {
        mg_bm_putc("0123456789abcdef"[(v >> i) & 0xFu]);
    }
}

void mg_trap_handler(void) __attribute__((noreturn));
void mg_trap_handler(void) {
    uint32_t cause, epc, tval;
    __asm__ volatile("csrr %0, mcause" : "=r"(cause));
    __asm__ volatile("csrr %0, mepc" : "=r"(epc));
    __asm__ volatile("csrr %0, mtval" : "=r"(tval));
    mg_bm_puts("\nMG-FAULT mcause ");
    put_hex32(cause);
    mg_bm_puts(" mepc ");
    put_hex32(epc);
    mg_bm_puts(" mtval ");
    put_hex32(tval);
    mg_bm_puts("\n");
    mg_bm_exit(MG_FAULT_STATUS);
}
