/* mcugen validation firmware, bare-metal port for the emulated boards (mg_bm: Arm MPS2 CMSDK UART,
 * RISC-V virt NS16550): polls the UART, counts with the board's instruction counter, reboots by
 * restarting the startup code (so the .mg_noinit boot counter survives the RESET command). */
#include <stdint.h>

#include "mg_bm.h"
#include "mg_validate.h"

void mg_v_port_poll_rx(void) {
    int c;
    while (mg_validate_rx_space() != 0u && (c = mg_bm_getc_nonblock()) >= 0) { /* the rest waits in the UART */
        mg_validate_rx((uint8_t)c);
    }
}

void mg_v_port_write(const uint8_t *data, uint32_t n) {
    while (n--) {
        mg_bm_putc((char)*data++);
    }
}

void mg_v_port_counter_start(void) { mg_bm_counter_restart(); }

uint32_t mg_v_port_counter(void) { return mg_bm_counter(); }

void mg_v_port_reboot(void) { mg_bm_reboot(); }

int main(void) {
    mg_bm_init();
    mg_validate_init();
    for (;;) {
        mg_validate_poll();
    }
}
