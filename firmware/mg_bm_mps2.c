/* mcugen bare-metal support for the Arm MPS2 / MPS2+ machines QEMU emulates (AN385, AN386, AN500,
 * AN505): CMSDK APB UART for text, CMSDK APB timer as the instruction counter, semihosting for the exit
 * status. Addresses come from -D flags (see mg_bm.h). */
#include "mg_bm.h"

#ifndef MG_BM_UART_BASE
#error "define MG_BM_UART_BASE"
#endif

#define UART_REG(off) (*(volatile uint32_t *)(uintptr_t)((MG_BM_UART_BASE) + (off)))
#define UART_DATA 0x0u
#define UART_STATE 0x4u /* bit 0: TX buffer full, bit 1: RX buffer full */
#define UART_CTRL 0x8u  /* bit 0: TX enable, bit 1: RX enable */
#define UART_BAUDDIV 0x10u

#define TIMER_CTRL 0x0u /* bit 0: enable, bit 3: interrupt enable (sets INTSTATUS on wrap) */
#define TIMER_VALUE 0x4u
#define TIMER_RELOAD 0x8u
#define TIMER_INTCLEAR 0xCu

void mg_bm_init(void) {
    UART_REG(UART_BAUDDIV) = 16u; /* the smallest divisor the UART accepts */
    UART_REG(UART_CTRL) = 3u;

    /* The timer's interrupt stays disabled in the NVIC: the enable bit only latches INTSTATUS when the
     * counter wraps, which mg_bm_counter_wrapped() reads. */
    MG_BM_TIMER_REG(TIMER_CTRL) = 0u;
    MG_BM_TIMER_REG(TIMER_RELOAD) = 0xFFFFFFFFu;
    MG_BM_TIMER_REG(TIMER_VALUE) = 0xFFFFFFFFu;
    MG_BM_TIMER_REG(TIMER_INTCLEAR) = 1u;
    MG_BM_TIMER_REG(TIMER_CTRL) = 1u | 8u;
}

void mg_bm_putc(char c) {
    while (UART_REG(UART_STATE) & 1u) {
    }
    UART_REG(UART_DATA) = (uint32_t)(unsigned char)c;
}

void mg_bm_puts(const char *s) {
    while (*s) {
        mg_bm_putc(*s++);
    }
}

int mg_bm_getc_nonblock(void) {
    if (!(UART_REG(UART_STATE) & 2u)) {
        return -1;
    }
    return (int)(UART_REG(UART_DATA) & 0xFFu);
}

extern void mg_reset_handler(void);
extern uint32_t __stack_top__;

void mg_bm_reboot(void) {
    /* What the core does on reset, without losing RAM: reload MSP from the vector table's value and
     * enter the reset handler. */
    __asm__ volatile("msr msp, %0\n\tdsb\n\tisb\n\tbx %1" : : "r"(&__stack_top__), "r"(mg_reset_handler) : "memory");
    for (;;) {
    }
}

/* Arm semihosting: operation in r0, argument in r1, BKPT 0xAB on M-profile. */
static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

#define SYS_EXIT 0x18u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

void mg_bm_exit(int status) {
    /* SYS_EXIT_EXTENDED carries the status; plain SYS_EXIT (exit 0 or 1) is the fallback. */
    uint32_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)status;
    semihost(SYS_EXIT_EXTENDED, block);
    semihost(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT : 0x20024u));
    for (;;) {
    }
}
