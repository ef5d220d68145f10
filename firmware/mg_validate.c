/* mcugen validation firmware: serves the model (C prefix `model`) over the board's UART with the
 * protocol in mcugen/validate/protocol.py (frames: A5 5A | len u16 | type u8 | payload | CRC32).
 * Built instead of mg_harness.c for `mcugen validate`. C99, no malloc, fixed RAM (MG_V_RAM_BYTES).
 *
 * Exactly-once: each (pid, seq) runs at most once. The responses of the last MG_V_WINDOW
 * unacknowledged requests are kept; a retried RUN is answered from its saved response, a RUN at or
 * below the last ACK gets STALE, a RUN for a pid this boot did not hand out gets UNKNOWN_PID.
 * run_count[seq % MG_V_MAX_SEQ] counts inferences per seq in this boot, to prove that no seq ran
 * twice (STATS reports the largest count and how many runs found a count already non-zero).
 * Totals and the boot epoch live in .mg_noinit, which the startup code neither copies nor zeroes,
 * so they survive the RESET command (a jump to the reset handler). mps2 (CMSDK UART) only.
 *
 * Sizes come from -D flags written by mcugen: MG_V_NUM_IN, MG_V_NUM_OUT, MG_V_IN_SIZES,
 * MG_V_OUT_SIZES (brace lists), MG_V_IN_BYTES, MG_V_OUT_BYTES (their sums). */
#include <stdint.h>
#include <string.h>

#include "mg_bm.h"
#include "model.h"

#ifndef MG_BM_UART_BASE
#error "mg_validate.c needs MG_BM_UART_BASE (CMSDK APB UART)"
#endif
#if !defined(MG_V_IN_BYTES) || !defined(MG_V_OUT_BYTES) || !defined(MG_V_NUM_IN) || !defined(MG_V_NUM_OUT)
#error "define MG_V_NUM_IN, MG_V_NUM_OUT, MG_V_IN_SIZES, MG_V_OUT_SIZES, MG_V_IN_BYTES, MG_V_OUT_BYTES"
#endif

#define MG_V_WINDOW 5
#ifndef MG_V_MAX_SEQ
#define MG_V_MAX_SEQ 4096 /* run counters kept per boot: seq % MG_V_MAX_SEQ, tagged with seq / MG_V_MAX_SEQ */
#endif
#define MG_V_MAGIC0 0xA5u
#define MG_V_MAGIC1 0x5Au
#define MG_V_RUN_HEAD 8u
#define MG_V_RESULT_HEAD 17u
#define MG_V_MAX2(a, b) ((a) > (b) ? (a) : (b))
/* The largest frame either way: RUN, RESULT, or the 28-byte STATS_REPLY. */
#define MG_V_MAX_PAYLOAD MG_V_MAX2(MG_V_MAX2(MG_V_RUN_HEAD + MG_V_IN_BYTES, MG_V_RESULT_HEAD + MG_V_OUT_BYTES), 32u)

enum { T_HELLO = 1, T_HELLO_ACK, T_RUN, T_RESULT, T_ACK, T_STATS, T_STATS_REPLY, T_RESET };
enum { S_OK = 0, S_INVOKE_FAILED, S_STALE, S_UNKNOWN_PID, S_BUSY, S_BAD_SIZE };

#define UART_REG(off) (*(volatile uint32_t *)(uintptr_t)((MG_BM_UART_BASE) + (off)))

typedef struct {
    uint32_t used, seq, status, cycles;
    uint8_t out[MG_V_OUT_BYTES];
} slot_t;

typedef struct {
    uint32_t magic, epoch, runs, double_runs, replays, stale;
} persist_t;

static const uint32_t in_sizes[MG_V_NUM_IN] = MG_V_IN_SIZES;
static const uint32_t out_sizes[MG_V_NUM_OUT] = MG_V_OUT_SIZES;

static slot_t slots[MG_V_WINDOW];
static uint8_t run_count[MG_V_MAX_SEQ];
static uint16_t run_tag[MG_V_MAX_SEQ];
static uint8_t rx[MG_V_MAX_PAYLOAD + 1u]; /* type + payload */
static uint8_t tx[MG_V_MAX_PAYLOAD + 1u];
static uint32_t crc_table[256];
static persist_t persist __attribute__((section(".mg_noinit")));

/* Every byte of RAM the protocol uses (the model's arena is separate: MODEL_ARENA_SIZE). */
#define MG_V_RAM_BYTES (sizeof(slots) + sizeof(run_count) + sizeof(run_tag) + sizeof(rx) + sizeof(tx) + sizeof(crc_table) + sizeof(persist) + 64u)
const uint32_t mg_v_ram_bytes = MG_V_RAM_BYTES;

static uint32_t cur_pid, last_nonce, hellos, last_acked, empty_ticks, max_count;
/* Nonces of replaced sessions: a late duplicate of an old HELLO must not take the board over. */
static uint32_t old_nonces[4], old_next;

static void crc_init(void) {
    uint32_t i, k, c;
    for (i = 0; i < 256u; ++i) {
        c = i;
        for (k = 0; k < 8u; ++k) {
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[i] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint32_t n) {
    while (n--) {
        crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    }
    return crc;
}

static int uart_getc(void) {
    while (!(UART_REG(0x4u) & 2u)) {
    }
    return (int)(UART_REG(0x0u) & 0xFFu);
}

static void put_u32le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* tx[0] = type, tx[1..n] = payload. */
static void send_frame(uint32_t n) {
    uint8_t head[4];
    uint32_t crc, i;
    head[0] = MG_V_MAGIC0;
    head[1] = MG_V_MAGIC1;
    head[2] = (uint8_t)n;
    head[3] = (uint8_t)(n >> 8);
    crc = crc_update(0xFFFFFFFFu, head + 2, 2u);
    crc = crc_update(crc, tx, n + 1u) ^ 0xFFFFFFFFu;
    for (i = 0; i < 4u; ++i) {
        mg_bm_putc((char)head[i]);
    }
    for (i = 0; i < n + 1u; ++i) {
        mg_bm_putc((char)tx[i]);
    }
    put_u32le(head, crc);
    for (i = 0; i < 4u; ++i) {
        mg_bm_putc((char)head[i]);
    }
}

/* Receives one frame with a valid CRC into rx; returns its payload length. Bad frames are dropped
 * and the hunt for the magic restarts after the bytes already read (simpler than the host's parser,
 * which rescans them: a good frame hidden inside a corrupt one's bytes is lost and retried). */
static uint32_t recv_frame(void) {
    for (;;) {
        uint32_t len, i, crc;
        uint8_t b[4];
        int c = uart_getc();
        if (c != (int)MG_V_MAGIC0) {
            continue;
        }
        c = uart_getc();
        while (c == (int)MG_V_MAGIC0) {
            c = uart_getc();
        }
        if (c != (int)MG_V_MAGIC1) {
            continue;
        }
        b[0] = (uint8_t)uart_getc();
        b[1] = (uint8_t)uart_getc();
        len = (uint32_t)b[0] | ((uint32_t)b[1] << 8);
        if (len > MG_V_MAX_PAYLOAD) {
            continue;
        }
        for (i = 0; i < len + 1u; ++i) {
            rx[i] = (uint8_t)uart_getc();
        }
        crc = crc_update(crc_update(0xFFFFFFFFu, b, 2u), rx, len + 1u) ^ 0xFFFFFFFFu;
        for (i = 0; i < 4u; ++i) {
            b[i] = (uint8_t)uart_getc();
        }
        if (crc == get_u32le(b)) {
            return len;
        }
    }
}

static void send_result(uint32_t pid, uint32_t seq, uint32_t status, uint32_t cycles, const uint8_t *out) {
    uint32_t n = MG_V_RESULT_HEAD + (out ? MG_V_OUT_BYTES : 0u);
    tx[0] = T_RESULT;
    put_u32le(tx + 1, persist.epoch);
    put_u32le(tx + 5, pid);
    put_u32le(tx + 9, seq);
    tx[13] = (uint8_t)status;
    put_u32le(tx + 14, cycles);
    if (out) {
        memcpy(tx + 1 + MG_V_RESULT_HEAD, out, MG_V_OUT_BYTES);
    }
    send_frame(n);
}

static void handle_run(const uint8_t *p, uint32_t len) {
    uint32_t pid, seq, i, k, t0, t1, off;
    slot_t *free_slot = 0;
    int status;
    if (len < MG_V_RUN_HEAD) {
        return;
    }
    pid = get_u32le(p);
    seq = get_u32le(p + 4);
    if (len != MG_V_RUN_HEAD + MG_V_IN_BYTES) {
        send_result(pid, seq, S_BAD_SIZE, 0u, 0);
        return;
    }
    if (cur_pid == 0u || pid != cur_pid) {
        send_result(pid, seq, S_UNKNOWN_PID, 0u, 0);
        return;
    }
    if (seq <= last_acked) {
        persist.stale++;
        send_result(pid, seq, S_STALE, 0u, 0);
        return;
    }
    for (i = 0; i < MG_V_WINDOW; ++i) {
        if (slots[i].used && slots[i].seq == seq) {
            persist.replays++;
            send_result(pid, seq, slots[i].status, slots[i].cycles, slots[i].out);
            return;
        }
        if (!slots[i].used && !free_slot) {
            free_slot = &slots[i];
        }
    }
    if (!free_slot) {
        send_result(pid, seq, S_BUSY, 0u, 0);
        return;
    }
    model_reset(); /* requests are independent */
    for (k = 0, off = MG_V_RUN_HEAD; k < MG_V_NUM_IN; off += in_sizes[k], ++k) {
        memcpy(model_input((int)k), p + off, in_sizes[k]);
    }
    mg_bm_counter_restart();
    t0 = mg_bm_counter();
    status = model_invoke();
    t1 = mg_bm_counter();
    persist.runs++;
    if (run_tag[seq % MG_V_MAX_SEQ] != (uint16_t)(seq / MG_V_MAX_SEQ)) { /* another seq used this counter */
        run_tag[seq % MG_V_MAX_SEQ] = (uint16_t)(seq / MG_V_MAX_SEQ);
        run_count[seq % MG_V_MAX_SEQ] = 0u;
    }
    if (run_count[seq % MG_V_MAX_SEQ] != 0u) {
        persist.double_runs++;
    }
    if (run_count[seq % MG_V_MAX_SEQ] < 255u) {
        run_count[seq % MG_V_MAX_SEQ]++;
    }
    if (run_count[seq % MG_V_MAX_SEQ] > max_count) {
        max_count = run_count[seq % MG_V_MAX_SEQ];
    }
    free_slot->used = 1u;
    free_slot->seq = seq;
    free_slot->status = status == 0 ? S_OK : S_INVOKE_FAILED;
    free_slot->cycles = (t1 - t0) - empty_ticks;
    for (k = 0, off = 0; k < MG_V_NUM_OUT; off += out_sizes[k], ++k) {
        memcpy(free_slot->out + off, model_output((int)k), out_sizes[k]);
    }
    send_result(pid, seq, free_slot->status, free_slot->cycles, free_slot->out);
}

extern void mg_reset_handler(void);
extern uint32_t __stack_top__;

static void jump_to_reset(void) {
    __asm__ volatile("msr msp, %0\n\tdsb\n\tisb\n\tbx %1" : : "r"(&__stack_top__), "r"(mg_reset_handler) : "memory");
    for (;;) {
    }
}

int main(void) {
    uint32_t t0, t1, len, i, nonce, pid, seq;
    mg_bm_init();
    UART_REG(0x8u) = 3u; /* TX and RX enable */
    crc_init();
    if (persist.magic != 0x4D475631u) {
        memset(&persist, 0, sizeof(persist));
        persist.magic = 0x4D475631u;
    }
    persist.epoch++;
    t0 = mg_bm_counter();
    t1 = mg_bm_counter();
    empty_ticks = t1 - t0;
    for (;;) {
        len = recv_frame();
        switch (rx[0]) {
        case T_HELLO:
            if (len != 4u) {
                break;
            }
            nonce = get_u32le(rx + 1);
            if (cur_pid != 0u && nonce != last_nonce) {
                for (i = 0; i < 4u && old_nonces[i] != nonce; ++i) {
                }
                if (i < 4u) {
                    break; /* a stale HELLO: ignored */
                }
                old_nonces[old_next++ % 4u] = last_nonce;
            }
            if (cur_pid == 0u || nonce != last_nonce) {
                hellos++;
                cur_pid = nonce * 2654435761u ^ persist.epoch * 40503u ^ hellos * 0x85EBCA6Bu;
                if (cur_pid == 0u) {
                    cur_pid = 1u;
                }
                last_nonce = nonce;
                last_acked = 0u;
                for (i = 0; i < MG_V_WINDOW; ++i) {
                    slots[i].used = 0u;
                }
            }
            tx[0] = T_HELLO_ACK;
            put_u32le(tx + 1, nonce);
            put_u32le(tx + 5, cur_pid);
            put_u32le(tx + 9, persist.epoch);
            tx[13] = MG_V_WINDOW;
            put_u32le(tx + 14, MG_V_IN_BYTES);
            put_u32le(tx + 18, MG_V_OUT_BYTES);
            send_frame(21u);
            break;
        case T_RUN:
            handle_run(rx + 1, len);
            break;
        case T_ACK:
            if (len != 8u) {
                break;
            }
            pid = get_u32le(rx + 1);
            seq = get_u32le(rx + 5);
            if (pid == cur_pid && cur_pid != 0u && seq > last_acked) {
                last_acked = seq;
                for (i = 0; i < MG_V_WINDOW; ++i) {
                    if (slots[i].used && slots[i].seq <= seq) {
                        slots[i].used = 0u;
                    }
                }
            }
            break;
        case T_STATS:
            if (len != 4u) {
                break;
            }
            tx[0] = T_STATS_REPLY;
            put_u32le(tx + 1, get_u32le(rx + 1));
            put_u32le(tx + 5, persist.epoch);
            put_u32le(tx + 9, persist.runs);
            put_u32le(tx + 13, max_count);
            put_u32le(tx + 17, persist.double_runs);
            put_u32le(tx + 21, persist.replays);
            put_u32le(tx + 25, persist.stale);
            send_frame(28u);
            break;
        case T_RESET:
            if (len == 0u) {
                jump_to_reset();
            }
            break;
        default:
            break;
        }
    }
    return 0;
}
