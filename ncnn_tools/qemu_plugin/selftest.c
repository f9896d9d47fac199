/*
 * A tiny static guest program with known work per iteration, marked like the edgebench-runner marks its
 * timed iterations, so the counting plugin can be checked against numbers known in advance.
 *
 *   selftest kernel ITERS TRIPS   iteration i runs the asm kernel TRIPS*(i+1) times; one trip is exactly
 *                                 8 instructions: 1 vector load (16 B), 4 NEON multiply-adds, 1 word store
 *                                 (4 B), 1 integer subtract, 1 branch
 *   selftest sweep ITERS BYTES    iteration i reads one word per 32-byte line over BYTES of a buffer, 4 passes
 *   selftest work ITERS N         N rounds of NEON float multiply-adds over 1024 floats (a stack buffer)
 *   selftest nomarkers ITERS N    the same work, never marked
 *   selftest thread ITERS N       starts and joins a second thread, then marked work
 *   selftest die ITERS N          begins iteration 0 and kills itself with SIGKILL
 *   selftest exit ITERS N         begins iteration 0 and exits normally without ending it
 * Extra arguments are ignored (the tests pass padding to move the stack and show windows do not change).
 * Build: arm-linux-gnueabihf-gcc -static -O2 -marm -march=armv7-a -mfpu=neon -mfloat-abi=hard, or
 *        aarch64-linux-gnu-gcc -static -O2.
 */
#include <alloca.h>
#include <arm_neon.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MARKER 0x45424E43 /* "EBNC": see the runner contract */

static void mark(int phase, long iteration) { prctl(MARKER, phase, iteration, 0, 0); }

static float src[4] __attribute__((aligned(16))) = {1.0f, 2.0f, 3.0f, 4.0f};
static uint32_t sink;
uint32_t sweep_buf[(4 << 20) / 4]; /* not static: GCC would fold reads of a never-written static to 0 */

__attribute__((noinline)) static void kernel(uint32_t trips) /* its own symbol: the symbols=on test */
{
#if defined(__aarch64__)
    __asm__ volatile("1:\n"
                     "ld1 {v0.4s}, [%[src]]\n"
                     "fmla v1.4s, v0.4s, v0.4s\n"
                     "fmla v2.4s, v0.4s, v0.4s\n"
                     "fmla v3.4s, v0.4s, v0.4s\n"
                     "fmla v1.4s, v2.4s, v3.4s\n"
                     "str %w[n], [%[dst]]\n"
                     "subs %w[n], %w[n], #1\n"
                     "b.ne 1b\n"
                     : [n] "+r"(trips)
                     : [src] "r"(src), [dst] "r"(&sink)
                     : "v0", "v1", "v2", "v3", "memory", "cc");
#else
    __asm__ volatile("1:\n"
                     "vld1.32 {d0-d1}, [%[src]]\n"
                     "vmla.f32 q1, q0, q0\n"
                     "vmla.f32 q2, q0, q0\n"
                     "vmla.f32 q3, q0, q0\n"
                     "vmla.f32 q1, q2, q3\n"
                     "str %[n], [%[dst]]\n"
                     "subs %[n], %[n], #1\n"
                     "bne 1b\n"
                     : [n] "+r"(trips)
                     : [src] "r"(src), [dst] "r"(&sink)
                     : "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "memory", "cc");
#endif
}

static void sweep(size_t bytes)
{
    uint32_t sum = 0;
    for (int pass = 0; pass < 4; pass++)
        for (size_t i = 0; i < bytes / 4; i += 8)
            sum += sweep_buf[i];
    sink = sum;
}

static void work(long rounds)
{
    float a[1024] __attribute__((aligned(16)));
    for (int i = 0; i < 1024; i++)
        a[i] = (float)i * 0.001f;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < 1024; i += 4) {
            float32x4_t x = vld1q_f32(a + i);
            acc = vmlaq_f32(acc, x, x);
            vst1q_f32(a + i, vmulq_n_f32(x, 0.999f));
        }
    sink = (uint32_t)vgetq_lane_f32(acc, 0);
}

static void *idle_thread(void *arg) { return arg; }

__attribute__((noinline)) static int run(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: selftest kernel|sweep|work|nomarkers|thread|die|exit ITERS N [ignored...]\n");
        return 2;
    }
    const char *mode = argv[1];
    long iters = atol(argv[2]), n = atol(argv[3]);
    if (!strcmp(mode, "thread")) {
        pthread_t t;
        pthread_create(&t, NULL, idle_thread, NULL);
        pthread_join(t, NULL);
    }
    if (!strcmp(mode, "die") || !strcmp(mode, "exit")) {
        mark(1, 0);
        work(n);
        if (!strcmp(mode, "die"))
            kill(getpid(), SIGKILL);
        return 0;
    }
    bool marked = strcmp(mode, "nomarkers") != 0;
    for (long i = 0; i < iters; i++) {
        if (marked)
            mark(1, i);
        if (!strcmp(mode, "kernel"))
            kernel((uint32_t)(n * (i + 1)));
        else if (!strcmp(mode, "sweep"))
            sweep((size_t)n);
        else
            work(n);
        if (marked)
            mark(2, i);
    }
    if (marked)
        mark(3, iters);
    printf("sink=%u\n", sink);
    return 0;
}

/*
 * argv and the environment sit above main's frame, so their size moves every stack address, and with it
 * the cache sets stack data maps to: the modeled misses of a window would change with the environment.
 * Dropping the stack to the same offset within 64 KiB (more than any modeled cache way) before the real
 * work makes every window independent of them. The edgebench-runner needs the same.
 */
int main(int argc, char **argv)
{
    volatile char *pad = alloca(((uintptr_t)__builtin_frame_address(0) & 0xFFFF) + 16);
    pad[0] = 0;
    return run(argc, argv);
}
