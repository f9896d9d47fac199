/*
 * eb_counters: a QEMU TCG plugin (plugin API v1, Debian 12's qemu-user 7.2) that counts, for every timed
 * iteration of the edgebench-runner, the guest instructions by class, the bytes loaded and stored, and the
 * misses of a set-associative LRU L1D / L1I / unified L2 model.
 *
 * Windows: the runner calls prctl(0x45424E43, phase, iteration, 0, 0) with phase 1 = begin, 2 = end,
 * 3 = timed section done. Only what runs between a begin and its end is counted; whole-process totals
 * change with argv/env, windows do not (cache misses only if the program pins its stack offset: README.md).
 * Each window is written to out=FILE as one JSON line as soon as it
 * closes (and flushed): the at-exit callback never runs when the guest dies by a signal.
 *
 * Build: gcc -shared -fPIC -O2 eb_counters.c -o eb_counters.so  (no QEMU header: Debian ships none, so the
 * few v1 types and functions used are declared below; the qemu-arm/qemu-aarch64 binaries export them).
 * Run:   qemu-arm -cpu cortex-a9 -plugin eb_counters.so,out=FILE[,l1d=BYTES:WAYS:LINE][,l1i=...][,l2=...]
 *        [,cache=off][,symbols=on] PROGRAM ...
 * symbols=on adds one record at the end: the windows' counts per guest function (ELF STT_FUNC symbols).
 * See README.md next to this file for the record format and the instruction classes.
 */
#include <elf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API, version 1 (QEMU 4.2 .. 7.2): only what this plugin uses ---- */

#ifndef EB_API_VERSION
#define EB_API_VERSION 1 /* a test rebuilds with another value to prove QEMU refuses a mismatch */
#endif
#define EB_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;

typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_simple_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num,
                                              uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                                              uint64_t a6, uint64_t a7, uint64_t a8);

void qemu_plugin_register_vcpu_init_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_simple_cb_t cb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                      void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn); /* v1: a pointer (v3 copies) */
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t info);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
const char *qemu_plugin_path_to_binary(void);
uint64_t qemu_plugin_entry_code(void);

EB_EXPORT int qemu_plugin_version = EB_API_VERSION;

/* ---- instruction classes ---- */

enum insn_class { C_SIMD_FP, C_INTEGER, C_LOAD, C_STORE, C_BRANCH, N_CLASSES };

#define BIT(w, n) (((w) >> (n)) & 1u)
#define BITS(w, hi, lo) (((w) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1u))

/* A32/T32 coprocessor space (cp10/cp11 = VFP/NEON): w holds bits[27:0] of the A32 view. */
static enum insn_class classify_coproc(uint32_t w)
{
    bool vfp = BITS(w, 11, 9) == 5;
    if (BITS(w, 27, 25) == 6) {         /* 110: loads/stores, or 64-bit core<->coproc transfers */
        if (BITS(w, 24, 21) == 2)       /* MCRR/MRRC = VMOV two core regs <-> d reg */
            return vfp ? C_SIMD_FP : C_INTEGER;
        return BIT(w, 20) ? C_LOAD : C_STORE; /* VLDR/VLDM/VPOP vs VSTR/VSTM/VPUSH (LDC/STC) */
    }
    if (BIT(w, 24))                     /* A32: SVC (T32 never gets here with bit24 set) */
        return C_INTEGER;
    return vfp ? C_SIMD_FP : C_INTEGER; /* VFP data processing and VMOV/VMRS, or MRC p15 etc. */
}

static enum insn_class classify_a32(uint32_t w)
{
    uint32_t op1 = BITS(w, 27, 25);
    if (BITS(w, 31, 28) == 0xF) {           /* unconditional space */
        if (BITS(w, 31, 25) == 0x79)        /* 1111 001x: Advanced SIMD data processing */
            return C_SIMD_FP;
        if (BITS(w, 31, 24) == 0xF4 && !BIT(w, 20)) /* Advanced SIMD element/structure load/store */
            return BIT(w, 21) ? C_LOAD : C_STORE;
        if (op1 == 5)                       /* BLX immediate */
            return C_BRANCH;
        return C_INTEGER;                   /* PLD/PLI hints, barriers, CLREX, CPS, SETEND */
    }
    switch (op1) {
    case 0:
    case 1:
        if ((w & 0x0FFFFFD0u) == 0x012FFF10u) /* BX / BLX register */
            return C_BRANCH;
        if (op1 == 0 && BIT(w, 7) && BIT(w, 4)) {
            uint32_t op2 = BITS(w, 6, 5);
            if (op2 == 0) {
                if (BITS(w, 27, 24) == 0)   /* multiplies */
                    return C_INTEGER;
                if (BITS(w, 27, 23) == 3)   /* LDREX/STREX family */
                    return BIT(w, 20) ? C_LOAD : C_STORE;
                return C_LOAD;              /* SWP: a load then a store */
            }
            if (BIT(w, 20))                 /* LDRH, LDRSB, LDRSH */
                return C_LOAD;
            return op2 == 2 ? C_LOAD : C_STORE; /* LDRD ; STRH, STRD */
        }
        if (BITS(w, 24, 23) == 2)           /* TST/TEQ/CMP/CMN, or misc (MRS, CLZ, MOVW/MOVT...) */
            return C_INTEGER;
        return BITS(w, 15, 12) == 15 ? C_BRANCH : C_INTEGER; /* data processing writing the PC */
    case 2:
    case 3:
        if (op1 == 3 && BIT(w, 4))          /* media instructions */
            return C_INTEGER;
        if (!BIT(w, 20))
            return C_STORE;
        return BITS(w, 15, 12) == 15 ? C_BRANCH : C_LOAD;
    case 4:                                 /* LDM / STM (POP / PUSH) */
        if (!BIT(w, 20))
            return C_STORE;
        return BIT(w, 15) ? C_BRANCH : C_LOAD;
    case 5:                                 /* B / BL */
        return C_BRANCH;
    default:
        return classify_coproc(w);
    }
}

static enum insn_class classify_t16(uint32_t h)
{
    uint32_t op = BITS(h, 15, 10);
    if (op < 0x10 || op == 0x10)            /* shift/add/sub/mov/cmp immediate; data processing */
        return C_INTEGER;
    if (op == 0x11) {                       /* special data processing, BX/BLX */
        if (BITS(h, 9, 8) == 3)
            return C_BRANCH;
        if (BITS(h, 9, 8) != 1 && (BIT(h, 7) << 3 | BITS(h, 2, 0)) == 15) /* ADD/MOV to PC */
            return C_BRANCH;
        return C_INTEGER;
    }
    if (op == 0x12 || op == 0x13)           /* LDR literal */
        return C_LOAD;
    if (BITS(h, 15, 12) == 5)               /* load/store register offset: STR, STRH, STRB, then loads */
        return BITS(h, 11, 9) < 3 ? C_STORE : C_LOAD;
    if (BITS(h, 15, 13) == 3 || BITS(h, 15, 13) == 4) /* load/store immediate, SP-relative */
        return BIT(h, 11) ? C_LOAD : C_STORE;
    if (BITS(h, 15, 12) == 0xA)             /* ADR, ADD SP */
        return C_INTEGER;
    if (BITS(h, 15, 12) == 0xB) {           /* miscellaneous */
        if (BITS(h, 11, 9) == 2)            /* PUSH */
            return C_STORE;
        if (BITS(h, 11, 9) == 6)            /* POP, with the PC = a return */
            return BIT(h, 8) ? C_BRANCH : C_LOAD;
        if (BIT(h, 8) && !BIT(h, 10))       /* CBZ / CBNZ */
            return C_BRANCH;
        return C_INTEGER;                   /* IT, hints, extend, REV, CPS, BKPT */
    }
    if (BITS(h, 15, 12) == 0xC)             /* STM / LDM */
        return BIT(h, 11) ? C_LOAD : C_STORE;
    if (BITS(h, 15, 12) == 0xD)             /* B<c>, or UDF / SVC */
        return BITS(h, 11, 9) == 7 ? C_INTEGER : C_BRANCH;
    return C_BRANCH;                        /* 11100: unconditional B */
}

/* hw1 = first halfword, hw2 = second: the halfword order in memory. */
static enum insn_class classify_t32(uint32_t hw1, uint32_t hw2)
{
    uint32_t op1 = BITS(hw1, 12, 11), op2 = BITS(hw1, 10, 4);
    /* Coprocessor / Advanced SIMD / FP space, in either op1 = 01 or 11. */
    if (op1 != 2 && BIT(op2, 6)) {
        if (BITS(hw1, 9, 8) == 3)           /* 111x 1111: Advanced SIMD data processing */
            return C_SIMD_FP;
        return classify_coproc((hw1 & 0x0FFF) << 16 | hw2);
    }
    if (op1 == 1) {
        if (BITS(op2, 6, 5) == 0 && !BIT(op2, 2)) { /* load/store multiple (LDM, POP.W, STM, PUSH.W) */
            if (!BIT(hw1, 4))
                return C_STORE;
            return BIT(hw2, 15) ? C_BRANCH : C_LOAD;
        }
        if (BITS(op2, 6, 5) == 0) {         /* load/store dual, exclusive; table branch */
            if (BITS(hw1, 8, 4) == 0x0D && BITS(hw2, 7, 5) == 0)
                return C_BRANCH;            /* TBB / TBH */
            return BIT(hw1, 4) ? C_LOAD : C_STORE;
        }
        return C_INTEGER;                   /* data processing (shifted register) */
    }
    if (op1 == 2) {
        if (!BIT(hw2, 15))                  /* data processing (immediate) */
            return C_INTEGER;
        if (BIT(hw2, 12) || BIT(hw2, 14))   /* B.W, BL, BLX */
            return C_BRANCH;
        return BITS(hw1, 9, 7) != 7 ? C_BRANCH : C_INTEGER; /* B<c>.W ; MSR/MRS, hints, barriers */
    }
    /* op1 == 3 */
    if (BITS(hw1, 15, 8) == 0xF9 && !BIT(hw1, 4)) /* Advanced SIMD element/structure load/store */
        return BIT(hw1, 5) ? C_LOAD : C_STORE;
    if (BITS(hw1, 15, 9) == 0x7C) {         /* 1111 100x: load/store single */
        if (!BIT(hw1, 4))
            return C_STORE;
        if (BITS(hw2, 15, 12) != 15)
            return C_LOAD;
        return BITS(hw1, 6, 5) == 2 ? C_BRANCH : C_INTEGER; /* LDR PC ; PLD/PLI hints */
    }
    return C_INTEGER;                       /* data processing (register), multiplies, divides */
}

static enum insn_class classify_a64(uint32_t w)
{
    uint32_t op0 = BITS(w, 28, 25);
    if ((op0 & 0xE) == 0xA) {               /* 101x: branches, exception generation, system */
        if (BITS(w, 31, 24) == 0xD4 || BITS(w, 31, 22) == 0x354)
            return C_INTEGER;               /* SVC/BRK..., and hints/barriers/MRS/MSR */
        return C_BRANCH;
    }
    if ((op0 & 0x5) == 0x4) {               /* x1x0: loads and stores */
        uint32_t v = BIT(w, 26), opc = BITS(w, 23, 22);
        if (BITS(w, 29, 27) == 7) {         /* load/store register (all addressing forms), atomics */
            if (!v && BITS(w, 31, 30) == 3 && opc == 2)
                return C_INTEGER;           /* PRFM */
            if (!v && !BIT(w, 24) && BIT(w, 21) && BITS(w, 11, 10) == 0)
                return C_LOAD;              /* LSE atomics: load, op, store */
            return (opc == 0 || (v && opc == 2)) ? C_STORE : C_LOAD;
        }
        if (BITS(w, 29, 27) == 3 && !BIT(w, 24)) /* load literal (PRFM literal: opc = 11, V = 0) */
            return (!v && BITS(w, 31, 30) == 3) ? C_INTEGER : C_LOAD;
        return BIT(w, 22) ? C_LOAD : C_STORE; /* pairs, exclusives, SIMD structures: L = bit 22 */
    }
    if ((op0 & 0x7) == 0x7)                 /* x111: scalar FP and Advanced SIMD */
        return C_SIMD_FP;
    return C_INTEGER;                       /* data processing immediate/register */
}

/* ---- cache model: set-associative, LRU, write-allocate, tags = full line numbers ---- */

struct cache {
    const char *name;
    uint64_t size, ways, line;
    unsigned line_shift;
    uint64_t set_mask;
    uint64_t *tags; /* sets x ways, most recent first; 0 = empty, else line number + 1 */
};

static bool is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

static const char *cache_init(struct cache *c)
{
    static char err[160];
    /* Sets and lines index by bit masks; ways need not be a power of two (the A72's L1I is 3-way). */
    if (!is_pow2(c->line) || !c->ways || c->size % (c->ways * c->line) ||
        !is_pow2(c->size / (c->ways * c->line))) {
        snprintf(err, sizeof err,
                 "%s=%" PRIu64 ":%" PRIu64 ":%" PRIu64 " is not BYTES:WAYS:LINE with a power-of-two line "
                 "and set count",
                 c->name, c->size, c->ways, c->line);
        return err;
    }
    uint64_t sets = c->size / (c->ways * c->line);
    c->line_shift = (unsigned)__builtin_ctzll(c->line);
    c->set_mask = sets - 1;
    c->tags = calloc(sets * c->ways, sizeof *c->tags);
    return c->tags ? NULL : "out of memory for the cache model";
}

/* Returns true on a miss (the line is then installed as most recent). */
static bool cache_miss(struct cache *c, uint64_t addr)
{
    uint64_t line = addr >> c->line_shift, tag = line + 1;
    uint64_t *set = c->tags + (line & c->set_mask) * c->ways;
    if (set[0] == tag) /* the common case: the most recent line again */
        return false;
    uint64_t i;
    for (i = 1; i < c->ways; i++) {
        if (set[i] == tag) {
            memmove(set + 1, set, i * sizeof *set);
            set[0] = tag;
            return false;
        }
    }
    memmove(set + 1, set, (c->ways - 1) * sizeof *set);
    set[0] = tag;
    return true;
}

/* ---- state (one guest thread: the runner is single-threaded when counted) ---- */

struct counts {
    uint64_t insns[N_CLASSES];
    uint64_t bytes_loaded, bytes_stored;
    uint64_t l1d_misses, l1i_misses, l2_misses;
};

static struct counts live;    /* insns[] grow always (inline ops); the rest only inside a window */
static struct counts at_begin;
/* Defaults: Cortex-A9 of the i.MX6 (32 KiB 4-way L1s, PL310 512 KiB 16-way L2, 32-byte lines). */
static struct cache l1d = {.name = "l1d", .size = 32768, .ways = 4, .line = 32};
static struct cache l1i = {.name = "l1i", .size = 32768, .ways = 4, .line = 32};
static struct cache l2 = {.name = "l2", .size = 524288, .ways = 16, .line = 32};
static bool cache_on = true;
static bool in_window;
static uint64_t window_iteration, windows_closed;
static bool is_aarch64;
static int64_t prctl_nr;
static FILE *out;

#define MARKER_MAGIC 0x45424E43u /* "EBNC" */

__attribute__((format(printf, 1, 2))) static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out); /* the record must survive a later death by signal */
}

static void emit_error(const char *msg) { emit("{\"kind\":\"error\",\"message\":\"%s\"}", msg); }

static void through_l2(struct cache *l1, uint64_t *l1_misses, uint64_t addr)
{
    if (cache_miss(l1, addr)) {
        (*l1_misses)++;
        if (cache_miss(&l2, addr))
            live.l2_misses++;
    }
}

/*
 * symbols=on: the same counts attributed to the guest function (ELF STT_FUNC symbol) holding the PC. The
 * function is looked up once per instruction at translation time; instructions are per-block inline adds
 * into fn_insns[function] (like the class counts), memory and fetch callbacks carry the function index in
 * their userdata. Index n_functions collects code no symbol covers (QEMU's kuser helpers, a stripped part).
 */
struct function {
    uint64_t start, end; /* [start, end) */
    const char *name;
};
struct function_counts {
    uint64_t instructions, bytes_loaded, bytes_stored, l1d_misses, l1i_misses, l2_misses;
};
static bool symbols_on;
static struct function *functions;
static size_t n_functions;
static uint64_t *fn_insns, *fn_insns_at_begin; /* n_functions + 1 each; fn_insns grow always (inline ops) */
static struct function_counts *fn_totals;        /* summed over closed windows */
static uint64_t fn_windows;

/* An L1I fetch site when attributing: the line (low bit = spills into the next line) and its function. */
struct fetch_site {
    uint64_t line;
    uint64_t function;
};

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)vcpu;
    if (!in_window)
        return;
    uint64_t size = 1ull << qemu_plugin_mem_size_shift(info);
    bool store = qemu_plugin_mem_is_store(info);
    if (store)
        live.bytes_stored += size;
    else
        live.bytes_loaded += size;
    uint64_t l1d_before = live.l1d_misses, l2_before = live.l2_misses;
    if (cache_on) {
        uint64_t first = vaddr >> l1d.line_shift, last = (vaddr + size - 1) >> l1d.line_shift;
        for (uint64_t line = first; line <= last; line++)
            through_l2(&l1d, &live.l1d_misses, line << l1d.line_shift);
    }
    if (symbols_on) {
        struct function_counts *f = &fn_totals[(uintptr_t)udata];
        *(store ? &f->bytes_stored : &f->bytes_loaded) += size;
        f->l1d_misses += live.l1d_misses - l1d_before;
        f->l2_misses += live.l2_misses - l2_before;
    }
}

/* v = the L1I line address fetched, low bit set when the instruction spills into the next line. */
static void fetch(uint64_t v)
{
    uint64_t addr = v & ~1ull;
    through_l2(&l1i, &live.l1i_misses, addr);
    if (v & 1)
        through_l2(&l1i, &live.l1i_misses, addr + l1i.line);
}

static void on_fetch(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (in_window)
        fetch((uint64_t)(uintptr_t)udata);
}

static void on_fetch_attributed(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (!in_window)
        return;
    const struct fetch_site *site = udata;
    uint64_t l1i_before = live.l1i_misses, l2_before = live.l2_misses;
    fetch(site->line);
    fn_totals[site->function].l1i_misses += live.l1i_misses - l1i_before;
    fn_totals[site->function].l2_misses += live.l2_misses - l2_before;
}

/*
 * A32 vs T32: the v1 API does not say which state a block was translated in. The ELF's own answer comes
 * first: the mapping symbols ($a = A32 code, $t = T32 code from here on) that every ARM toolchain emits
 * into the symbol table. For a stripped binary, or code outside it (QEMU's kuser helpers), the encoding
 * decides: a block is Thumb if it has a 2-byte instruction or a halfword-aligned one, ARM if a 4-byte
 * instruction's first halfword lacks the T32 32-bit prefix (0b11101/11110/11111); a block matching both
 * is read the way that makes its last instruction a branch, else as Thumb (README.md: how often it errs).
 */
struct mode_mark {
    uint64_t addr;
    char kind; /* 'a', 't' or 'd' */
};
static struct mode_mark *marks;
static size_t n_marks;
static const char *mode_source = "encoding"; /* or "elf-mapping-symbols" */

static int by_addr(const void *a, const void *b)
{
    uint64_t x = ((const struct mode_mark *)a)->addr, y = ((const struct mode_mark *)b)->addr;
    return x < y ? -1 : x > y;
}

static int by_start(const void *a, const void *b)
{
    const struct function *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end > y->end ? -1 : x->end < y->end; /* the widest first: it survives deduplication */
}

/* One symbol of either ELF class, as the collectors below need it. */
struct symbol {
    const char *name;
    uint64_t value, size;
    unsigned type, bind, shndx;
};

static void collect_mark(const struct symbol *sym, uint64_t bias)
{
    const char *name = sym->name;
    if (name[0] == '$' && (name[1] == 'a' || name[1] == 't' || name[1] == 'd') && (name[2] == 0 || name[2] == '.'))
        marks[n_marks++] = (struct mode_mark){sym->value + bias, name[1]};
}

static void collect_function(const struct symbol *sym, uint64_t bias, bool arm)
{
    if (sym->type != STT_FUNC || sym->shndx == SHN_UNDEF || !sym->name[0])
        return;
    uint64_t start = (arm ? sym->value & ~1ull : sym->value) + bias; /* bit 0 = Thumb on ARM */
    functions[n_functions++] = (struct function){start, start + sym->size, strdup(sym->name)};
}

/* Sorted by start, aliases (same start) reduced to the widest one. A size-0 symbol covers nothing (its
 * extent is unknown: `_init`'s would swallow the IPLT stubs after it), so its code counts as no symbol's. */
static void finish_functions(void)
{
    qsort(functions, n_functions, sizeof *functions, by_start);
    size_t kept = 0;
    for (size_t i = 0; i < n_functions; i++) {
        if (kept && functions[kept - 1].start == functions[i].start)
            continue;
        functions[kept++] = functions[i];
    }
    n_functions = kept;
    fn_insns = calloc(n_functions + 1, sizeof *fn_insns);
    fn_insns_at_begin = calloc(n_functions + 1, sizeof *fn_insns_at_begin);
    fn_totals = calloc(n_functions + 1, sizeof *fn_totals);
}

/* The guest binary's symbol table (ELF32 or ELF64): ARM mapping symbols for A32/T32, and with symbols=on
 * its functions. Called once, at the first translation (the binary's path is only known once a vCPU runs). */
static void load_guest_symbols(void)
{
    const char *path = qemu_plugin_path_to_binary();
    FILE *f = path ? fopen(path, "rb") : NULL;
    uint8_t *elf = NULL;
    long len = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        elf = len > (long)sizeof(Elf64_Ehdr) ? malloc((size_t)len) : NULL;
        if (elf && (fseek(f, 0, SEEK_SET) != 0 || fread(elf, 1, (size_t)len, f) != (size_t)len)) {
            free(elf);
            elf = NULL;
        }
        fclose(f);
    }
    const Elf32_Ehdr *e32 = (const Elf32_Ehdr *)elf;
    const Elf64_Ehdr *e64 = (const Elf64_Ehdr *)elf;
    bool wide = elf && e32->e_ident[EI_CLASS] == ELFCLASS64;
    uint64_t shoff = !elf ? 0 : wide ? e64->e_shoff : e32->e_shoff;
    unsigned shnum = !elf ? 0 : wide ? e64->e_shnum : e32->e_shnum;
    size_t shsize = wide ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr), symsize = wide ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
    if (!elf || memcmp(e32->e_ident, ELFMAG, SELFMAG) || shoff + (uint64_t)shnum * shsize > (uint64_t)len)
        shnum = 0;
    bool arm = elf && e32->e_machine == EM_ARM && !wide;
    uint64_t bias = shnum ? qemu_plugin_entry_code() - (wide ? e64->e_entry : e32->e_entry) : 0; /* 0 unless PIE */
    for (unsigned s = 0; s < shnum; s++) {
        const uint8_t *sh = elf + shoff + s * shsize;
        uint32_t type = wide ? ((const Elf64_Shdr *)sh)->sh_type : ((const Elf32_Shdr *)sh)->sh_type;
        uint32_t link = wide ? ((const Elf64_Shdr *)sh)->sh_link : ((const Elf32_Shdr *)sh)->sh_link;
        if (type != SHT_SYMTAB || link >= shnum)
            continue;
        const uint8_t *strsh = elf + shoff + link * shsize;
        uint64_t off = wide ? ((const Elf64_Shdr *)sh)->sh_offset : ((const Elf32_Shdr *)sh)->sh_offset;
        uint64_t size = wide ? ((const Elf64_Shdr *)sh)->sh_size : ((const Elf32_Shdr *)sh)->sh_size;
        uint64_t stroff = wide ? ((const Elf64_Shdr *)strsh)->sh_offset : ((const Elf32_Shdr *)strsh)->sh_offset;
        uint64_t strsize = wide ? ((const Elf64_Shdr *)strsh)->sh_size : ((const Elf32_Shdr *)strsh)->sh_size;
        if (off + size > (uint64_t)len || stroff + strsize > (uint64_t)len)
            continue;
        size_t n = size / symsize;
        if (arm)
            marks = realloc(marks, (n_marks + n) * sizeof *marks);
        if (symbols_on)
            functions = realloc(functions, (n_functions + n) * sizeof *functions);
        for (size_t i = 0; i < n; i++) {
            const uint8_t *raw = elf + off + i * symsize;
            struct symbol sym;
            uint32_t name;
            if (wide) {
                const Elf64_Sym *x = (const Elf64_Sym *)raw;
                name = x->st_name, sym.value = x->st_value, sym.size = x->st_size;
                sym.type = ELF64_ST_TYPE(x->st_info), sym.bind = ELF64_ST_BIND(x->st_info), sym.shndx = x->st_shndx;
            } else {
                const Elf32_Sym *x = (const Elf32_Sym *)raw;
                name = x->st_name, sym.value = x->st_value, sym.size = x->st_size;
                sym.type = ELF32_ST_TYPE(x->st_info), sym.bind = ELF32_ST_BIND(x->st_info), sym.shndx = x->st_shndx;
            }
            if (name >= strsize)
                continue;
            sym.name = (const char *)elf + stroff + name;
            if (arm)
                collect_mark(&sym, bias);
            if (symbols_on)
                collect_function(&sym, bias, arm);
        }
    }
    free(elf);
    /* $d (data) marks are kept: an address past one is not code the symbols can vouch for. */
    qsort(marks, n_marks, sizeof *marks, by_addr);
    if (n_marks)
        mode_source = "elf-mapping-symbols";
    if (symbols_on)
        finish_functions();
}

/* The index of the function holding addr, or n_functions when no symbol covers it. */
static uint64_t function_at(uint64_t addr)
{
    size_t lo = 0, hi = n_functions;
    while (lo < hi) { /* first function starting above addr */
        size_t mid = (lo + hi) / 2;
        if (functions[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo && addr < functions[lo - 1].end ? lo - 1 : n_functions;
}

/* 1 = Thumb, 0 = ARM, -1 = unknown (no mapping symbol covers addr). */
static int mapped_mode(uint64_t addr)
{
    size_t lo = 0, hi = n_marks;
    while (lo < hi) { /* first mark above addr */
        size_t mid = (lo + hi) / 2;
        if (marks[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo || marks[lo - 1].kind == 'd')
        return -1;
    return marks[lo - 1].kind == 't';
}

static bool tb_is_thumb(struct qemu_plugin_tb *tb, size_t n)
{
    int mapped = mapped_mode(qemu_plugin_tb_vaddr(tb));
    if (mapped >= 0)
        return mapped;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (qemu_plugin_insn_size(insn) == 2 || (qemu_plugin_insn_vaddr(insn) & 2))
            return true;
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint8_t *b = qemu_plugin_insn_data(insn);
        if ((qemu_plugin_insn_vaddr(insn) & 0xFFF) != 0xFFC && BITS((uint32_t)b[1], 7, 3) < 0x1D)
            return false; /* (a page's last word may be a 16-bit Thumb instruction reported as 4 bytes) */
    }
    /* Still both: QEMU ends a block at a branch, so the reading in which the last instruction branches wins. */
    const uint8_t *b = qemu_plugin_insn_data(qemu_plugin_tb_get_insn(tb, n - 1));
    uint32_t lo = b[0] | (uint32_t)b[1] << 8, hi = b[2] | (uint32_t)b[3] << 8;
    return !(classify_a32(hi << 16 | lo) == C_BRANCH && classify_t32(lo, hi) != C_BRANCH);
}

static enum insn_class classify(const struct qemu_plugin_insn *insn, bool thumb)
{
    const uint8_t *b = qemu_plugin_insn_data(insn);
    uint32_t lo = b[0] | (uint32_t)b[1] << 8;
    /* QEMU 7.2 reports a 16-bit Thumb instruction in a page's last word as 4 bytes (it peeked at the next
     * halfword to see whether the instruction crosses the page): the first halfword decides the width. */
    if (qemu_plugin_insn_size(insn) == 2 || (thumb && !is_aarch64 && BITS(lo, 15, 11) < 0x1D))
        return classify_t16(lo);
    uint32_t hi = b[2] | (uint32_t)b[3] << 8;
    if (is_aarch64)
        return classify_a64(hi << 16 | lo);
    return thumb ? classify_t32(lo, hi) : classify_a32(hi << 16 | lo);
}

/* symbols=on: one inline add per run of consecutive instructions of one function (a block rarely spans two). */
static void attribute_instructions(struct qemu_plugin_tb *tb, const uint64_t *fn_of, size_t n)
{
    for (size_t i = 0, run = 1; i < n; i++, run++)
        if (i + 1 == n || fn_of[i + 1] != fn_of[i]) {
            qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &fn_insns[fn_of[i]], run);
            run = 0;
        }
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    static bool symbols_loaded;
    if (!symbols_loaded) { /* the binary's path is only known once a vCPU runs */
        symbols_loaded = true;
        load_guest_symbols();
    }
    size_t n = qemu_plugin_tb_n_insns(tb);
    uint64_t per_class[N_CLASSES] = {0};
    uint64_t *fn_of = symbols_on ? malloc(n * sizeof *fn_of) : NULL;
    bool thumb = !is_aarch64 && tb_is_thumb(tb, n);
    uint64_t last_line = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t va = qemu_plugin_insn_vaddr(insn);
        if (fn_of)
            fn_of[i] = function_at(va);
        per_class[classify(insn, thumb)]++;
        qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW,
                                         fn_of ? (void *)(uintptr_t)fn_of[i] : NULL);
        if (!cache_on)
            continue;
        /* One fetch per new L1I line: repeated fetches of the most recent line change no LRU state. */
        uint64_t first = va >> l1i.line_shift, end = (va + qemu_plugin_insn_size(insn) - 1) >> l1i.line_shift;
        if (first != last_line || end != last_line) {
            uint64_t start = first != last_line ? first : end;
            uintptr_t ud = (uintptr_t)(start << l1i.line_shift) | (end != start);
            if (fn_of) { /* kept for the life of the translation: QEMU 7.2 has no per-block free hook */
                struct fetch_site *site = malloc(sizeof *site);
                *site = (struct fetch_site){ud, fn_of[i]};
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_fetch_attributed, QEMU_PLUGIN_CB_NO_REGS, site);
            } else {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_fetch, QEMU_PLUGIN_CB_NO_REGS, (void *)ud);
            }
        }
        last_line = end;
    }
    /* Per-block inline adds: exact because a block in user mode only leaves early on a fatal fault. */
    for (int c = 0; c < N_CLASSES; c++)
        if (per_class[c])
            qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &live.insns[c], per_class[c]);
    if (fn_of)
        attribute_instructions(tb, fn_of, n);
    free(fn_of);
}

static void window_begin(uint64_t iteration)
{
    if (in_window) {
        char msg[120];
        snprintf(msg, sizeof msg, "iteration %" PRIu64 " began while iteration %" PRIu64 " was still open",
                 iteration, window_iteration);
        emit_error(msg);
    }
    in_window = true;
    window_iteration = iteration;
    /* Written now so that a death inside the window leaves a trace of which iteration never ended. */
    emit("{\"kind\":\"begin\",\"iteration\":%" PRIu64 "}", iteration);
    at_begin = live;
    if (symbols_on)
        memcpy(fn_insns_at_begin, fn_insns, (n_functions + 1) * sizeof *fn_insns);
}

static void window_end(uint64_t iteration)
{
    if (!in_window || iteration != window_iteration) {
        char msg[120];
        snprintf(msg, sizeof msg, "end marker for iteration %" PRIu64 " without its begin marker", iteration);
        emit_error(msg);
        in_window = false;
        return;
    }
    in_window = false;
    struct counts d;
    uint64_t total = 0;
    for (int c = 0; c < N_CLASSES; c++) {
        d.insns[c] = live.insns[c] - at_begin.insns[c];
        total += d.insns[c];
    }
    d.bytes_loaded = live.bytes_loaded - at_begin.bytes_loaded;
    d.bytes_stored = live.bytes_stored - at_begin.bytes_stored;
    char misses[160] = "\"l1d_misses\":null,\"l1i_misses\":null,\"l2_misses\":null";
    if (cache_on)
        snprintf(misses, sizeof misses, "\"l1d_misses\":%" PRIu64 ",\"l1i_misses\":%" PRIu64 ",\"l2_misses\":%" PRIu64,
                 live.l1d_misses - at_begin.l1d_misses, live.l1i_misses - at_begin.l1i_misses,
                 live.l2_misses - at_begin.l2_misses);
    emit("{\"kind\":\"window\",\"iteration\":%" PRIu64 ",\"instructions\":%" PRIu64 ",\"simd_fp\":%" PRIu64
         ",\"integer\":%" PRIu64 ",\"loads\":%" PRIu64 ",\"stores\":%" PRIu64 ",\"branches\":%" PRIu64
         ",\"bytes_loaded\":%" PRIu64 ",\"bytes_stored\":%" PRIu64 ",%s}",
         iteration, total, d.insns[C_SIMD_FP], d.insns[C_INTEGER], d.insns[C_LOAD], d.insns[C_STORE],
         d.insns[C_BRANCH], d.bytes_loaded, d.bytes_stored, misses);
    windows_closed++;
    if (symbols_on) {
        for (size_t i = 0; i <= n_functions; i++)
            fn_totals[i].instructions += fn_insns[i] - fn_insns_at_begin[i];
        fn_windows++;
    }
}

/* JSON string body: symbol names are plain identifiers, but nothing in a binary is trusted to be. */
static void put_json_string(const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\')
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* symbols=on, at the end of the timed section: per-function totals over all closed windows, one record. */
static void emit_functions(void)
{
    fprintf(out, "{\"kind\":\"functions\",\"iterations\":%" PRIu64 ",\"symbols\":%zu,\"functions\":[", fn_windows,
            n_functions);
    bool first = true;
    for (size_t i = 0; i <= n_functions; i++) {
        const struct function_counts *c = &fn_totals[i];
        if (!(c->instructions | c->bytes_loaded | c->bytes_stored | c->l1d_misses | c->l1i_misses | c->l2_misses))
            continue;
        fputs(first ? "{\"name\":" : ",{\"name\":", out);
        first = false;
        if (i < n_functions) {
            put_json_string(functions[i].name);
            fprintf(out, ",\"address\":%" PRIu64, functions[i].start);
        } else {
            fputs("null,\"address\":null", out); /* code no symbol covers */
        }
        fprintf(out, ",\"instructions\":%" PRIu64 ",\"bytes_loaded\":%" PRIu64 ",\"bytes_stored\":%" PRIu64,
                c->instructions, c->bytes_loaded, c->bytes_stored);
        if (cache_on)
            fprintf(out, ",\"l1d_misses\":%" PRIu64 ",\"l1i_misses\":%" PRIu64 ",\"l2_misses\":%" PRIu64 "}",
                    c->l1d_misses, c->l1i_misses, c->l2_misses);
        else
            fputs(",\"l1d_misses\":null,\"l1i_misses\":null,\"l2_misses\":null}", out);
    }
    fputs("]}\n", out);
    fflush(out);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8)
{
    (void)id, (void)vcpu, (void)a4, (void)a5, (void)a6, (void)a7, (void)a8;
    if (num != prctl_nr || (uint32_t)a1 != MARKER_MAGIC)
        return;
    if (a2 == 1)
        window_begin(a3);
    else if (a2 == 2)
        window_end(a3);
    else if (a2 == 3 && in_window)
        emit_error("the timed section ended while an iteration was still open");
    else if (a2 == 3) {
        if (symbols_on)
            emit_functions();
        emit("{\"kind\":\"done\",\"windows\":%" PRIu64 ",\"arm_state_from\":\"%s\"}", windows_closed,
             is_aarch64 ? "a64" : mode_source);
    }
}

static void on_vcpu_init(qemu_plugin_id_t id, unsigned int vcpu)
{
    (void)id;
    if (vcpu > 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "the guest started a second thread (vCPU %u): counts are only exact with one "
                 "thread; run the runner with --threads 1", vcpu);
        emit_error(msg);
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id, (void)udata;
    if (in_window) {
        char msg[120];
        snprintf(msg, sizeof msg, "iteration %" PRIu64 " began but never ended before the program exited",
                 window_iteration);
        emit_error(msg);
    }
    fclose(out);
}

static bool parse_geometry(const char *value, struct cache *c)
{
    char tail;
    return sscanf(value, "%" SCNu64 ":%" SCNu64 ":%" SCNu64 "%c", &c->size, &c->ways, &c->line, &tail) == 3;
}

static int fail(const char *msg)
{
    fprintf(stderr, "eb_counters: %s\n", msg);
    return -1;
}

EB_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    char msg[200];
    if (info->version.cur < EB_API_VERSION || info->version.min > EB_API_VERSION) {
        snprintf(msg, sizeof msg, "built for QEMU plugin API v%d, this QEMU supports v%d..v%d; rebuild the plugin "
                 "(edgebench rebuilds it when the QEMU version changes)", EB_API_VERSION, info->version.min,
                 info->version.cur);
        return fail(msg);
    }
    if (info->system_emulation)
        return fail("only user-mode emulation (qemu-arm, qemu-aarch64) is supported");
    if (!strcmp(info->target_name, "arm")) {
        prctl_nr = 172;
    } else if (!strcmp(info->target_name, "aarch64")) {
        prctl_nr = 167;
        is_aarch64 = true;
    } else {
        snprintf(msg, sizeof msg, "unsupported guest architecture '%s' (arm and aarch64 only)", info->target_name);
        return fail(msg);
    }
    const char *out_path = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strncmp(a, "out=", 4))
            out_path = a + 4;
        else if (!strncmp(a, "l1d=", 4))
            ok = parse_geometry(a + 4, &l1d);
        else if (!strncmp(a, "l1i=", 4))
            ok = parse_geometry(a + 4, &l1i);
        else if (!strncmp(a, "l2=", 3))
            ok = parse_geometry(a + 3, &l2);
        else if (!strcmp(a, "cache=on") || !strcmp(a, "cache=off"))
            cache_on = !strcmp(a, "cache=on");
        else if (!strcmp(a, "symbols=on") || !strcmp(a, "symbols=off"))
            symbols_on = !strcmp(a, "symbols=on");
        else
            ok = false;
        if (!ok) {
            snprintf(msg, sizeof msg, "bad argument '%s' (expected out=FILE, l1d|l1i|l2=BYTES:WAYS:LINE, "
                     "cache=on|off, symbols=on|off)", a);
            return fail(msg);
        }
    }
    if (!out_path)
        return fail("missing out=FILE: where to write the per-iteration counts");
    if (cache_on) {
        const char *err;
        if ((err = cache_init(&l1d)) || (err = cache_init(&l1i)) || (err = cache_init(&l2)))
            return fail(err);
    }
    out = fopen(out_path, "w");
    if (!out) {
        snprintf(msg, sizeof msg, "cannot write %s", out_path);
        return fail(msg);
    }
    char cache_desc[200] = "null";
    if (cache_on)
        snprintf(cache_desc, sizeof cache_desc,
                 "{\"l1d\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "],\"l1i\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64
                 "],\"l2\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]}",
                 l1d.size, l1d.ways, l1d.line, l1i.size, l1i.ways, l1i.line, l2.size, l2.ways, l2.line);
    emit("{\"kind\":\"start\",\"schema\":\"edgebench-counts/1\",\"target\":\"%s\",\"api\":%d,\"cache\":%s}",
         info->target_name, EB_API_VERSION, cache_desc);

    qemu_plugin_register_vcpu_init_cb(id, on_vcpu_init);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
