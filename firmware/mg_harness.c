/* mcugen test harness for emulated boards: runs the generated model (C prefix `model`) on input sets
 * embedded at build time and prints, on the board's UART, one parseable line per fact:
 *
 *   MG-BEGIN
 *   MG-CAL <empty-region ticks> <256-nop-region ticks>
 *   MG-SET <set> <invoke status> <invoke ticks> <counter wrapped 0|1>
 *   MG-OUT <set> <output> <bytes as lowercase hex>
 *   MG-END
 *
 * The exit status is 0 if every invoke returned 0, else 3. mcugen turns ticks into instructions with
 * the board's ticks per instruction (under QEMU -icount) after subtracting the empty region. */
#include <stdint.h>
#include <string.h>

#include "mg_bm.h"
#include "model.h"

/* Written by mcugen for each build (mg_inputs.c). */
extern const uint32_t mg_h_num_sets;
extern const uint32_t mg_h_num_inputs;
extern const uint32_t mg_h_num_outputs;
extern const uint8_t *const mg_h_inputs[]; /* [set * num_inputs + input] */
extern const uint32_t mg_h_input_bytes[];
extern const uint32_t mg_h_output_bytes[];

static void put_u32(uint32_t v) {
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        mg_bm_putc(buf[--n]);
    }
}

static void put_hex(const uint8_t *p, uint32_t n) {
    static const char digits[] = "0123456789abcdef";
    uint32_t i;
    for (i = 0; i < n; ++i) {
        mg_bm_putc(digits[p[i] >> 4]);
        mg_bm_putc(digits[p[i] & 0xFu]);
    }
}

/* Few enough NOPs that literal pools stay within reach of the loads around them. */
#define MG_CAL_NOPS 256
#define MG_STR_(x) #x
#define MG_STR(x) MG_STR_(x)

static __attribute__((noinline)) uint32_t nop_region(void) {
    uint32_t t0 = mg_bm_counter();
    __asm__ volatile(".rept " MG_STR(MG_CAL_NOPS) "\n\tnop\n\t.endr" : : : "memory");
    return mg_bm_counter() - t0;
}

int main(void) {
    uint32_t t0, t1, empty, nops, set, k;
    int status, failed = 0;

    mg_bm_init();
    mg_bm_puts("MG-BEGIN\n");

    /* Calibration: the counter reads alone, then MG_CAL_NOPS single-instruction NOPs. */
    t0 = mg_bm_counter();
    t1 = mg_bm_counter();
    empty = t1 - t0;
    nops = nop_region();
    mg_bm_puts("MG-CAL ");
    put_u32(empty);
    mg_bm_putc(' ');
    put_u32(nops);
    mg_bm_putc('\n');

    for (set = 0; set < mg_h_num_sets; ++set) {
        model_reset(); /* input sets are independent */
        for (k = 0; k < mg_h_num_inputs; ++k) {
            memcpy(model_input((int)k), mg_h_inputs[set * mg_h_num_inputs + k], mg_h_input_bytes[k]);
        }
        mg_bm_counter_restart();
        t0 = mg_bm_counter();
        status = model_invoke();
        t1 = mg_bm_counter();
        mg_bm_puts("MG-SET ");
        put_u32(set);
        mg_bm_putc(' ');
        put_u32((uint32_t)status);
        mg_bm_putc(' ');
        put_u32(t1 - t0);
        mg_bm_putc(' ');
        put_u32(mg_bm_counter_wrapped() ? 1u : 0u);
        mg_bm_putc('\n');
        failed |= status != 0;
        for (k = 0; k < mg_h_num_outputs; ++k) {
            mg_bm_puts("MG-OUT ");
            put_u32(set);
            mg_bm_putc(' ');
            put_u32(k);
            mg_bm_putc(' ');
            put_hex((const uint8_t *)model_output((int)k), mg_h_output_bytes[k]);
            mg_bm_putc('\n');
        }
    }
    mg_bm_puts("MG-END\n");
    return failed ? 3 : 0;
}
