/* mcugen bare-metal support for emulated boards: text output, exit status, instruction counter.
 *
 * One implementation per board family (mg_bm_mps2.c for the Arm MPS2 machines, mg_bm_riscv_virt.c for
 * the RISC-V virt machine). The board's addresses come from -D flags that mcugen takes from
 * boards/<board>.json:
 *   MG_BM_UART_BASE    text output and input (CMSDK APB UART or NS16550)
 *   MG_BM_TIMER_BASE   CMSDK APB timer used as the counter (Arm)
 *   MG_BM_EXIT_BASE    SiFive test device used for the exit status (RISC-V)
 */
#ifndef MG_BM_H
#define MG_BM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* UART on (TX and RX), counter running. Called once by main before anything else. */
void mg_bm_init(void);
void mg_bm_putc(char c);
void mg_bm_puts(const char *s);
/* The next received byte, or -1 if none arrived (never blocks). */
int mg_bm_getc_nonblock(void);
/* Software reset: restarts the startup code with a fresh stack (.data reloaded, .bss zeroed, the
 * .mg_noinit section left as it is). */
void mg_bm_reboot(void) __attribute__((noreturn));
/* Ends the emulation with `status` as the emulator's exit status. */
void mg_bm_exit(int status) __attribute__((noreturn));

/* mg_bm_counter(): a free-running up-counter. Under QEMU -icount it advances by a fixed number of
 * ticks per executed instruction, so differences of two reads count instructions exactly (mcugen
 * divides by the board's ticks per instruction and subtracts the empty-region overhead). Inline, so
 * that reading it adds the same few instructions to every measured region. */
#if defined(MG_BM_TIMER_BASE)
/* CMSDK APB timer: VALUE counts down from RELOAD (0xFFFFFFFF); its complement counts up. */
#define MG_BM_TIMER_REG(off) (*(volatile uint32_t *)(uintptr_t)((MG_BM_TIMER_BASE) + (off)))
static inline uint32_t mg_bm_counter(void) { return ~MG_BM_TIMER_REG(0x4u); }
/* Restarts the count at 0 (VALUE = RELOAD) and clears the wrap flag; mg_bm_counter_wrapped() is then
 * non-zero once 2^32 ticks passed, when differences of reads are no longer the elapsed ticks. */
static inline void mg_bm_counter_restart(void) {
    MG_BM_TIMER_REG(0x4u) = 0xFFFFFFFFu;
    MG_BM_TIMER_REG(0xCu) = 1u;
}
static inline uint32_t mg_bm_counter_wrapped(void) { return MG_BM_TIMER_REG(0xCu) & 1u; }
#elif defined(__riscv)
/* mcycle: under QEMU -icount it reads the virtual clock, which advances a fixed step per instruction. */
static inline uint32_t mg_bm_counter(void) {
    uint32_t v;
    __asm__ volatile("csrr %0, mcycle" : "=r"(v) : : "memory");
    return v;
}
void mg_bm_counter_restart(void);
uint32_t mg_bm_counter_wrapped(void);
#else
#error "mg_bm.h: define MG_BM_TIMER_BASE (Arm MPS2) or build for RISC-V"
#endif

#ifdef __cplusplus
}
#endif

#endif /* MG_BM_H */
