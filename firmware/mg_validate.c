/* mcugen validation firmware, portable core: serves the model over a byte stream with the protocol in
 * mcugen/validate/protocol.py (frames: A5 5A | len u16 | type u8 | payload | CRC32). No UART or board
 * code (that is the port's, see mg_validate.h), no malloc. The model and its sizes come from the
 * generated mg_validate_config.h (mcugen.validate.firmware.config_header()).
 *
 * Exactly-once: each (pid, seq) runs at most once. The results of the last MG_V_WINDOW unacknowledged
 * seqs are kept; a retried RUN is answered from its saved result, a RUN at or below the last ACK gets
 * STALE, a RUN for a pid this boot did not hand out gets UNKNOWN_PID. Streaming (STREAM/RESEND/STOP)
 * produces results from mg_v_stream_input() into the same slots, one per mg_validate_poll() call, and
 * waits while every slot holds an unacknowledged result. run_count counts inferences per seq in this
 * boot, so STATS can prove that no seq ran twice.
 *
 * Received bytes go into a power-of-two ring (single producer mg_validate_rx(), single consumer: the
 * core). Frames are parsed in place in the ring, so a frame whose CRC fails is rescanned from one
 * byte after its magic, like the host's parser. A RUN frame larger than the ring (big inputs) is
 * received straight into the model's input tensors instead, so the ring never exceeds 8 KiB. All mutable state is in `st` (+ `persist`, which lives
 * in a section the startup code neither loads nor zeroes when MG_V_NOINIT is defined), so
 * mg_v_ram_bytes is exact. */
#include <stdint.h>
#include <string.h>

#include "mg_validate.h"
#include "mg_validate_config.h"

#if !defined(MG_V_IN_BYTES) || !defined(MG_V_OUT_BYTES) || !defined(MG_V_NUM_IN) || !defined(MG_V_NUM_OUT) || \
    !defined(MG_V_RX_RING)
#error "mg_validate_config.h must define MG_V_NUM_IN/OUT, MG_V_IN/OUT_SIZES, MG_V_IN/OUT_BYTES, MG_V_RX_RING"
#endif

#ifndef MG_V_MAX_SEQ
#define MG_V_MAX_SEQ 256u /* run counters: entry seq % MG_V_MAX_SEQ remembers the seq it counts */
#endif

#define MG_V_MAGIC0 0xA5u
#define MG_V_MAGIC1 0x5Au
#define MG_V_OVERHEAD 9u /* magic, length, type, CRC */
#define MG_V_RUN_HEAD 8u
#define MG_V_RESULT_HEAD 17u
#define MG_V_MAX2(a, b) ((a) > (b) ? (a) : (b))
#define MG_V_MIN2(a, b) ((a) < (b) ? (a) : (b))
/* The host computes the same numbers (mcugen/validate/firmware.py). */
#define MG_V_RUN_FRAME (9u + MG_V_RUN_HEAD + (uint32_t)(MG_V_IN_BYTES) + 4u)
#define MG_V_WINDOW MG_V_MIN2(5u, MG_V_MAX2(1u, ((uint32_t)(MG_V_RX_RING)-64u) / MG_V_RUN_FRAME))
/* Longer frames cannot be for this board: they are skipped without waiting for their bytes. */
#define MG_V_RX_MAX MG_V_MIN2(MG_V_MAX2(MG_V_RUN_HEAD + (uint32_t)(MG_V_IN_BYTES), 32u), (uint32_t)(MG_V_RX_RING)-MG_V_OVERHEAD)
#define MG_V_MASK ((uint32_t)(MG_V_RX_RING)-1u)
/* A RUN frame larger than the ring is received straight into the model's inputs (see direct_step). */
#define MG_V_DIRECT_RUN (MG_V_RUN_HEAD + (uint32_t)(MG_V_IN_BYTES) > MG_V_RX_MAX)

typedef char mg_v_ring_is_power_of_two[((MG_V_RX_RING) & ((MG_V_RX_RING)-1u)) == 0u && (MG_V_RX_RING) >= 64u ? 1 : -1];

/* Keeps the compiler from moving ring accesses across the index updates (single core + ISR). */
#if defined(__GNUC__)
#define MG_V_BARRIER() __asm__ volatile("" : : : "memory")
#else
#define MG_V_BARRIER()
#endif

#if defined(__GNUC__)
#define MG_V_WEAK __attribute__((weak))
#else
#define MG_V_WEAK
#endif

enum { T_HELLO = 1, T_HELLO_ACK, T_RUN, T_RESULT, T_ACK, T_STATS, T_STATS_REPLY, T_RESET, T_STREAM, T_RESEND, T_STOP };
enum { S_OK = 0, S_INVOKE_FAILED, S_STALE, S_UNKNOWN_PID, S_BUSY, S_BAD_SIZE };
enum { STREAM_NONE = 0, STREAM_ACTIVE, STREAM_DONE };

typedef struct {
    uint32_t used, seq, status, cycles;
    uint8_t out[MG_V_OUT_BYTES];
} mg_v_slot_t;

typedef struct {
    uint32_t magic, epoch, runs, double_runs, replays, stale;
} mg_v_totals_t;

static const uint32_t in_sizes[MG_V_NUM_IN] = MG_V_IN_SIZES;
static const uint32_t out_sizes[MG_V_NUM_OUT] = MG_V_OUT_SIZES;
#ifdef MG_V_IN_FLOAT
static const uint8_t in_float[MG_V_NUM_IN] = MG_V_IN_FLOAT;
#endif

static struct {
    volatile uint32_t rx_head; /* written by mg_validate_rx() only */
    volatile uint32_t rx_tail; /* written by the core only: start of the frame being parsed */
    volatile uint32_t rx_dropped;
    uint8_t ring[MG_V_RX_RING];
    mg_v_slot_t slots[MG_V_WINDOW];
    uint32_t run_seq[MG_V_MAX_SEQ];
    uint8_t run_count[MG_V_MAX_SEQ];
    uint32_t pid, last_nonce, hellos, last_acked, empty_ticks, max_count;
    uint32_t max_run_seq; /* the highest seq this session ran: a STREAM never starts at or below it */
    uint32_t old_nonces[4], old_next; /* nonces of replaced sessions: their late HELLOs are ignored */
    uint32_t s_state, s_first, s_count, s_seed, s_next;
    /* a RUN being received into the model's inputs: 0 idle, 1 head (pid, seq), 2 inputs, 3 CRC */
    uint32_t d_phase, d_got, d_crc, d_pid, d_seq;
#ifndef MG_V_NOINIT
    mg_v_totals_t tot;
#endif
} st;

#ifdef MG_V_NOINIT
/* Survives the RESET command (a jump to the reset handler); the epoch counts boots. */
static mg_v_totals_t persist MG_V_NOINIT;
#define TOT persist
const uint32_t mg_v_ram_bytes = (uint32_t)(sizeof(st) + sizeof(persist));
#else
#define TOT st.tot
const uint32_t mg_v_ram_bytes = (uint32_t)sizeof(st);
#endif

#define MG_V_TOT_MAGIC 0x4D475632u

/* ---- CRC32 (zlib), four bits at a time: 64 bytes of table in flash instead of 1 KiB of RAM ---- */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

static uint32_t crc_byte(uint32_t crc, uint8_t b) {
    crc ^= b;
    crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
    return (crc >> 4) ^ crc_nibble[crc & 0xFu];
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint32_t n) {
    while (n--) {
        crc = crc_byte(crc, *p++);
    }
    return crc;
}

static void put_u32le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---- receive ring ---------------------------------------------------------------------------- */
void mg_validate_rx(uint8_t byte) {
    uint32_t h = st.rx_head;
    if (h - st.rx_tail >= (uint32_t)MG_V_RX_RING) {
        st.rx_dropped++; /* full: the host sent more than the advertised window */
        return;
    }
    st.ring[h & MG_V_MASK] = byte;
    MG_V_BARRIER();
    st.rx_head = h + 1u;
}

uint32_t mg_validate_rx_space(void) { return (uint32_t)MG_V_RX_RING - (st.rx_head - st.rx_tail); }

/* Byte `off` of the frame at the tail. */
static uint8_t rb(uint32_t off) { return st.ring[(st.rx_tail + off) & MG_V_MASK]; }

static uint32_t rget32(uint32_t off) {
    return (uint32_t)rb(off) | ((uint32_t)rb(off + 1u) << 8) | ((uint32_t)rb(off + 2u) << 16) | ((uint32_t)rb(off + 3u) << 24);
}

static void ring_copy(uint8_t *dst, uint32_t off, uint32_t n) {
    uint32_t at = (st.rx_tail + off) & MG_V_MASK;
    uint32_t first = MG_V_MIN2(n, (uint32_t)MG_V_RX_RING - at);
    memcpy(dst, &st.ring[at], first);
    memcpy(dst + first, &st.ring[0], n - first);
}

static void skip(uint32_t n) {
    MG_V_BARRIER();
    st.rx_tail = st.rx_tail + n;
}

/* 1 when a frame with a valid CRC starts at the tail (its payload length in *len); bytes that cannot
 * start one are consumed. 0 while the frame is incomplete. */
static int next_frame(uint32_t *len) {
    for (;;) {
        uint32_t avail = st.rx_head - st.rx_tail, n, crc, i;
        MG_V_BARRIER();
        if (avail < 1u) {
            return 0;
        }
        if (rb(0u) != MG_V_MAGIC0) {
            skip(1u);
            continue;
        }
        if (avail < 2u) {
            return 0;
        }
        if (rb(1u) != MG_V_MAGIC1) {
            skip(1u);
            continue;
        }
        if (avail < 4u) {
            return 0;
        }
        n = (uint32_t)rb(2u) | ((uint32_t)rb(3u) << 8);
        if (n > MG_V_RX_MAX) {
            if (MG_V_DIRECT_RUN && n == MG_V_RUN_HEAD + (uint32_t)MG_V_IN_BYTES) {
                if (avail < 5u) {
                    return 0;
                }
                if (rb(4u) == T_RUN) {
                    st.d_phase = 1u; /* direct_step() takes it from here */
                    return 0;
                }
            }
            skip(1u);
            continue;
        }
        if (avail < n + MG_V_OVERHEAD) {
            return 0;
        }
        crc = 0xFFFFFFFFu;
        for (i = 2u; i < n + 5u; ++i) {
            crc = crc_byte(crc, rb(i));
        }
        if ((crc ^ 0xFFFFFFFFu) != rget32(n + 5u)) {
            skip(1u);
            continue;
        }
        *len = n;
        return 1;
    }
}

/* ---- transmit -------------------------------------------------------------------------------- */
static void send_frame(uint8_t type, const uint8_t *head, uint32_t nhead, const uint8_t *body, uint32_t nbody) {
    uint8_t h[5];
    uint32_t n = nhead + nbody, crc;
    h[0] = MG_V_MAGIC0;
    h[1] = MG_V_MAGIC1;
    h[2] = (uint8_t)n;
    h[3] = (uint8_t)(n >> 8);
    h[4] = type;
    crc = crc_update(crc_update(crc_update(0xFFFFFFFFu, h + 2, 3u), head, nhead), body, nbody) ^ 0xFFFFFFFFu;
    mg_v_port_write(h, 5u);
    mg_v_port_write(head, nhead);
    if (nbody) {
        mg_v_port_write(body, nbody);
    }
    put_u32le(h, crc);
    mg_v_port_write(h, 4u);
}

static void send_result(uint32_t pid, uint32_t seq, uint32_t status, uint32_t cycles, const uint8_t *out) {
    uint8_t head[MG_V_RESULT_HEAD];
    put_u32le(head, TOT.epoch);
    put_u32le(head + 4, pid);
    put_u32le(head + 8, seq);
    head[12] = (uint8_t)status;
    put_u32le(head + 13, cycles);
    send_frame(T_RESULT, head, MG_V_RESULT_HEAD, out, out ? (uint32_t)MG_V_OUT_BYTES : 0u);
}

static void send_slot(const mg_v_slot_t *s) { send_result(st.pid, s->seq, s->status, s->cycles, s->out); }

/* ---- inference ------------------------------------------------------------------------------- */
static mg_v_slot_t *free_slot(void) {
    uint32_t i;
    for (i = 0; i < MG_V_WINDOW; ++i) {
        if (!st.slots[i].used) {
            return &st.slots[i];
        }
    }
    return 0;
}

static void free_slots_upto(uint32_t seq, int all) {
    uint32_t i;
    for (i = 0; i < MG_V_WINDOW; ++i) {
        if (all || (st.slots[i].used && st.slots[i].seq <= seq)) {
            st.slots[i].used = 0u;
        }
    }
}

/* The inputs are in place: invoke, time it, count it, keep the result in `slot`, send it. */
static void infer(uint32_t seq, mg_v_slot_t *slot) {
    uint32_t t0, t1, k, off, idx = seq % MG_V_MAX_SEQ;
    int status;
    /* A real reference, so --gc-sections keeps mg_v_ram_bytes in the ELF for size reports. */
    (void)*(volatile const uint32_t *)&mg_v_ram_bytes;
    mg_v_port_counter_start();
    t0 = mg_v_port_counter();
    status = MG_V_MODEL_INVOKE();
    t1 = mg_v_port_counter();
    TOT.runs++;
    if (st.run_seq[idx] != seq) { /* the entry counted another seq: start over for this one */
        st.run_seq[idx] = seq;
        st.run_count[idx] = 0u;
    }
    if (st.run_count[idx] != 0u) {
        TOT.double_runs++;
    }
    if (st.run_count[idx] < 255u) {
        st.run_count[idx]++;
    }
    if (st.run_count[idx] > st.max_count) {
        st.max_count = st.run_count[idx];
    }
    if (seq > st.max_run_seq) {
        st.max_run_seq = seq;
    }
    slot->used = 1u;
    slot->seq = seq;
    slot->status = status == 0 ? S_OK : S_INVOKE_FAILED;
    slot->cycles = (t1 - t0) - st.empty_ticks;
    for (k = 0, off = 0; k < MG_V_NUM_OUT; off += out_sizes[k], ++k) {
        memcpy(slot->out + off, MG_V_MODEL_OUTPUT((int)k), out_sizes[k]);
    }
    send_slot(slot);
}

static int pid_ok(uint32_t pid) { return st.pid != 0u && pid == st.pid; }

/* The slot a RUN (pid, seq) may run in, or 0 after answering it (UNKNOWN_PID, STALE, a replay, BUSY). */
static mg_v_slot_t *admit_run(uint32_t pid, uint32_t seq) {
    uint32_t i;
    mg_v_slot_t *slot;
    if (!pid_ok(pid)) {
        send_result(pid, seq, S_UNKNOWN_PID, 0u, 0);
        return 0;
    }
    if (seq <= st.last_acked) {
        TOT.stale++;
        send_result(pid, seq, S_STALE, 0u, 0);
        return 0;
    }
    for (i = 0; i < MG_V_WINDOW; ++i) {
        if (st.slots[i].used && st.slots[i].seq == seq) {
            TOT.replays++;
            send_slot(&st.slots[i]);
            return 0;
        }
    }
    slot = free_slot();
    if (!slot || st.s_state == STREAM_ACTIVE) { /* a running stream owns the seqs above its start */
        send_result(pid, seq, S_BUSY, 0u, 0);
        return 0;
    }
    return slot;
}

/* RUN at frame offset 5, whole in the ring; returns 1 if the model ran. */
static int handle_run(uint32_t len) {
    uint32_t pid, seq, k, off;
    mg_v_slot_t *slot;
    if (len < MG_V_RUN_HEAD) {
        return 0;
    }
    pid = rget32(5u);
    seq = rget32(9u);
    if (len != MG_V_RUN_HEAD + (uint32_t)MG_V_IN_BYTES) {
        send_result(pid, seq, S_BAD_SIZE, 0u, 0);
        return 0;
    }
    slot = admit_run(pid, seq);
    if (!slot) {
        return 0;
    }
    MG_V_MODEL_RESET(); /* requests are independent; it resets state tensors, not the inputs */
    for (k = 0, off = 5u + MG_V_RUN_HEAD; k < MG_V_NUM_IN; off += in_sizes[k], ++k) {
        ring_copy((uint8_t *)MG_V_MODEL_INPUT((int)k), off, in_sizes[k]);
    }
    infer(seq, slot);
    return 1;
}

/* A RUN frame larger than the ring, received as its bytes arrive: the inputs go straight into the
 * model's input tensors (nothing else uses them between invokes) and the CRC is checked at the end.
 * A frame whose CRC fails is dropped whole; unlike in-ring frames its bytes cannot be rescanned for a
 * frame hidden inside, which the host's retry covers. Returns 1 if the model ran. */
static int direct_step(void) {
    uint32_t avail = st.rx_head - st.rx_tail, i, k, off, n;
    mg_v_slot_t *slot;
    MG_V_BARRIER();
    if (st.d_phase == 1u) { /* magic, length, type, pid, seq */
        if (avail < 5u + MG_V_RUN_HEAD) {
            return 0;
        }
        st.d_crc = 0xFFFFFFFFu;
        for (i = 2u; i < 5u + MG_V_RUN_HEAD; ++i) {
            st.d_crc = crc_byte(st.d_crc, rb(i));
        }
        st.d_pid = rget32(5u);
        st.d_seq = rget32(9u);
        skip(5u + MG_V_RUN_HEAD);
        st.d_got = 0u;
        st.d_phase = 2u;
        avail -= 5u + MG_V_RUN_HEAD;
    }
    while (st.d_phase == 2u && avail > 0u) {
        for (k = 0, off = 0; k < MG_V_NUM_IN && st.d_got >= off + in_sizes[k]; off += in_sizes[k], ++k) {
        }
        n = MG_V_MIN2(avail, off + in_sizes[k] - st.d_got); /* within input k */
        ring_copy((uint8_t *)MG_V_MODEL_INPUT((int)k) + (st.d_got - off), 0u, n);
        for (i = 0; i < n; ++i) {
            st.d_crc = crc_byte(st.d_crc, rb(i));
        }
        skip(n);
        avail -= n;
        st.d_got += n;
        if (st.d_got == (uint32_t)MG_V_IN_BYTES) {
            st.d_phase = 3u;
        }
    }
    if (st.d_phase != 3u || avail < 4u) {
        return 0;
    }
    st.d_phase = 0u;
    i = rget32(0u);
    skip(4u);
    if ((st.d_crc ^ 0xFFFFFFFFu) != i) {
        return 0;
    }
    slot = admit_run(st.d_pid, st.d_seq);
    if (!slot) {
        return 0;
    }
    MG_V_MODEL_RESET(); /* state tensors only: the inputs just received stay */
    infer(st.d_seq, slot);
    return 1;
}

/* One streamed result if the stream has one to produce and a slot is free; returns 1 if the model ran. */
static int stream_step(void) {
    mg_v_slot_t *slot;
    uint32_t k;
    if (st.s_state != STREAM_ACTIVE) {
        return 0;
    }
    if (st.s_count != 0u && st.s_next - st.s_first == st.s_count) {
        st.s_state = STREAM_DONE;
        return 0;
    }
    slot = free_slot();
    if (!slot) {
        return 0; /* backpressure: wait for the host's ACK */
    }
    MG_V_MODEL_RESET(); /* results are independent and reproducible */
    for (k = 0; k < MG_V_NUM_IN; ++k) {
        mg_v_stream_input(st.s_next, k, (uint8_t *)MG_V_MODEL_INPUT((int)k), in_sizes[k]);
    }
    infer(st.s_next, slot);
    st.s_next++;
    return 1;
}

/* Saved results with seq >= from, in seq order. */
static void resend(uint32_t from) {
    uint32_t i, sent = 0u, last = 0u;
    for (;;) {
        const mg_v_slot_t *best = 0;
        for (i = 0; i < MG_V_WINDOW; ++i) {
            const mg_v_slot_t *s = &st.slots[i];
            if (s->used && s->seq >= from && (!sent || s->seq > last) && (!best || s->seq < best->seq)) {
                best = s;
            }
        }
        if (!best) {
            return;
        }
        TOT.replays++;
        send_slot(best);
        last = best->seq;
        sent = 1u;
    }
}

static void handle_hello(uint32_t len) {
    uint8_t p[21];
    uint32_t nonce, i;
    if (len != 4u) {
        return;
    }
    nonce = rget32(5u);
    if (st.pid != 0u && nonce != st.last_nonce) {
        for (i = 0; i < 4u && st.old_nonces[i] != nonce; ++i) {
        }
        if (i < 4u) {
            return; /* a late duplicate of a replaced session's HELLO */
        }
        st.old_nonces[st.old_next++ % 4u] = st.last_nonce;
    }
    if (st.pid == 0u || nonce != st.last_nonce) {
        st.hellos++;
        st.pid = nonce * 2654435761u ^ TOT.epoch * 40503u ^ st.hellos * 0x85EBCA6Bu;
        if (st.pid == 0u) {
            st.pid = 1u;
        }
        st.last_nonce = nonce;
        st.last_acked = 0u;
        st.s_state = STREAM_NONE;
        free_slots_upto(0u, 1);
        /* run counters are per (pid, seq): a new session starts at seq 1 again */
        memset(st.run_count, 0, sizeof(st.run_count));
        st.max_count = 0u;
        st.max_run_seq = 0u;
    }
    put_u32le(p, nonce);
    put_u32le(p + 4, st.pid);
    put_u32le(p + 8, TOT.epoch);
    p[12] = (uint8_t)MG_V_WINDOW;
    put_u32le(p + 13, (uint32_t)MG_V_IN_BYTES);
    put_u32le(p + 17, (uint32_t)MG_V_OUT_BYTES);
    send_frame(T_HELLO_ACK, p, 21u, 0, 0u);
}

static void handle_stream(uint32_t len) {
    uint32_t pid, first, count, seed;
    if (len != 16u) {
        return;
    }
    pid = rget32(5u);
    first = rget32(9u);
    count = rget32(13u);
    seed = rget32(17u);
    if (!pid_ok(pid)) {
        send_result(pid, first, S_UNKNOWN_PID, 0u, 0);
        return;
    }
    if (st.s_state != STREAM_NONE && first == st.s_first && count == st.s_count && seed == st.s_seed) {
        return; /* a duplicate of the current or finished stream */
    }
    if (first <= st.last_acked || first <= st.max_run_seq) {
        TOT.stale++; /* a late STREAM of an earlier stream of this session: it must not run a seq again */
        return;
    }
    st.s_state = STREAM_ACTIVE;
    st.s_first = first;
    st.s_count = count;
    st.s_seed = seed;
    st.s_next = first;
    st.last_acked = first - 1u;
    free_slots_upto(0u, 1);
}

static void handle_stats(uint32_t len) {
    uint8_t p[28];
    if (len != 4u) {
        return;
    }
    put_u32le(p, rget32(5u));
    put_u32le(p + 4, TOT.epoch);
    put_u32le(p + 8, TOT.runs);
    put_u32le(p + 12, st.max_count);
    put_u32le(p + 16, TOT.double_runs);
    put_u32le(p + 20, TOT.replays);
    put_u32le(p + 24, TOT.stale);
    send_frame(T_STATS_REPLY, p, 28u, 0, 0u);
}

/* The frame at the tail (payload length len); returns 1 if the model ran. */
static int handle_frame(uint32_t len) {
    uint32_t pid, seq;
    switch (rb(4u)) {
    case T_HELLO:
        handle_hello(len);
        break;
    case T_RUN:
        return handle_run(len);
    case T_ACK:
        if (len == 8u) {
            pid = rget32(5u);
            seq = rget32(9u);
            if (pid_ok(pid) && seq > st.last_acked) {
                st.last_acked = seq;
                free_slots_upto(seq, 0);
            }
        }
        break;
    case T_STATS:
        handle_stats(len);
        break;
    case T_RESET:
        if (len == 0u) {
            mg_v_port_reboot();
        }
        break;
    case T_STREAM:
        handle_stream(len);
        break;
    case T_RESEND:
        if (len == 8u) {
            pid = rget32(5u);
            seq = rget32(9u);
            if (!pid_ok(pid)) {
                send_result(pid, seq, S_UNKNOWN_PID, 0u, 0);
            } else {
                resend(seq);
            }
        }
        break;
    case T_STOP:
        if (len == 4u) {
            pid = rget32(5u);
            if (!pid_ok(pid)) {
                send_result(pid, 0u, S_UNKNOWN_PID, 0u, 0);
            } else if (st.s_state == STREAM_ACTIVE) {
                st.s_state = STREAM_DONE; /* its parameters stay: a late duplicate STREAM is ignored */
            }
        }
        break;
    default:
        break;
    }
    return 0;
}

/* ---- public ---------------------------------------------------------------------------------- */
void mg_validate_init(void) {
    uint32_t t0, t1;
#ifdef MG_V_NOINIT
    if (persist.magic != MG_V_TOT_MAGIC) {
        memset(&persist, 0, sizeof(persist));
        persist.magic = MG_V_TOT_MAGIC;
    }
    persist.epoch++;
    if (persist.epoch == 0u) {
        persist.epoch = 1u;
    }
#endif
    mg_v_port_counter_start();
    t0 = mg_v_port_counter();
    t1 = mg_v_port_counter();
    st.empty_ticks = t1 - t0;
}

void mg_validate_poll(void) {
    uint32_t len;
    int ran = 0;
    mg_v_port_poll_rx();
#ifndef MG_V_NOINIT
    if (TOT.epoch == 0u && st.rx_head != st.rx_tail) {
        /* No memory survives a reset here: the time until the first byte (host timing jitter) makes
         * the epoch differ between boots with high probability. */
        uint32_t x = mg_v_port_counter() ^ 0x9E3779B9u;
        x ^= x >> 16;
        x *= 0x85EBCA6Bu;
        x ^= x >> 13;
        x *= 0xC2B2AE35u;
        x ^= x >> 16;
        TOT.epoch = x ? x : 1u;
    }
#endif
    for (;;) {
        if (MG_V_DIRECT_RUN && st.d_phase != 0u) {
            ran = direct_step();
            if (ran || st.d_phase != 0u) {
                break; /* ran, or the frame is still arriving */
            }
        } else if (next_frame(&len)) {
            ran = handle_frame(len);
            skip(len + MG_V_OVERHEAD);
        } else if (!(MG_V_DIRECT_RUN && st.d_phase != 0u)) {
            break;
        }
        if (ran) {
            break;
        }
        mg_v_port_poll_rx();
    }
    if (!ran && st.d_phase == 0u) { /* never while a RUN's inputs are arriving: they share the buffers */
        (void)stream_step();
    }
}

/* Default stream input: xorshift32 seeded per seq; float32 inputs get values in [-1, 1), others
 * bytes. One generator runs across the inputs of a seq, so input k replays the steps of inputs
 * 0..k-1 (cheap next to an inference). protocol.stream_inputs() on the host gives the same bytes. */
MG_V_WEAK void mg_v_stream_input(uint32_t seq, uint32_t index, uint8_t *dst, uint32_t nbytes) {
    uint32_t x = st.s_seed ^ (seq * 0x9E3779B9u), steps = 0u, j, isf;
    for (j = 0; j < index && j < MG_V_NUM_IN; ++j) {
#ifdef MG_V_IN_FLOAT
        steps += in_float[j] ? in_sizes[j] / 4u : in_sizes[j];
#else
        steps += in_sizes[j];
#endif
    }
#ifdef MG_V_IN_FLOAT
    isf = index < MG_V_NUM_IN ? in_float[index] : 0u;
#else
    isf = 0u;
#endif
    if (x == 0u) {
        x = 0x6D2B79F5u;
    }
#define MG_V_NEXT() (x ^= x << 13, x ^= x >> 17, x ^= x << 5, x)
    while (steps--) {
        (void)MG_V_NEXT();
    }
    if (isf) {
        for (j = 0; j + 4u <= nbytes; j += 4u) {
            float f = (float)(MG_V_NEXT() >> 8) / 8388608.0f - 1.0f;
            memcpy(dst + j, &f, 4u);
        }
    } else {
        for (j = 0; j < nbytes; ++j) {
            dst[j] = (uint8_t)(MG_V_NEXT() >> 24);
        }
    }
#undef MG_V_NEXT
}
