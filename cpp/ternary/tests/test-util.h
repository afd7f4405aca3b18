/*
 * test-util.h: the C tests' small framework (named checks, per-test results, the closing
 * "N passed, N failed" line), a seeded RNG, and independent encoders for the ternary formats.
 */
#ifndef TERN_TEST_UTIL_H
#define TERN_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ternary.h"

/* ---- checks ------------------------------------------------------------------------------------ */
extern int tu_failures; /* failed checks in the running test */
#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            if (tu_failures < 8) {                                                    \
                printf("    FAIL %s:%d: ", __FILE__, __LINE__);                       \
                printf(__VA_ARGS__);                                                  \
                printf("\n");                                                         \
            }                                                                         \
            tu_failures++;                                                            \
        }                                                                             \
    } while (0)
#define CHECK_OK(expr)                                                                              \
    do {                                                                                            \
        int32_t st_ = (expr);                                                                       \
        CHECK(st_ == TERN_OK, "%s -> %s: %s", #expr, tern_status_name(st_), tern_last_error());     \
    } while (0)
#define CHECK_STATUS(expr, want)                                                                    \
    do {                                                                                            \
        int32_t st_ = (expr);                                                                       \
        CHECK(st_ == (want), "%s -> %s (want %s): %s", #expr, tern_status_name(st_),                \
              tern_status_name(want), tern_last_error());                                           \
    } while (0)

typedef void (*tu_test_fn)(void);
typedef struct tu_test {
    const char *name;
    tu_test_fn fn;
} tu_test;

/* ---- random numbers (xorshift64*, fixed seeds: reproducible) -------------------------------------- */
typedef struct tu_rng {
    uint64_t s;
} tu_rng;
tu_rng tu_rng_seed(uint64_t seed);
uint64_t tu_next(tu_rng *r);
float tu_uniform(tu_rng *r);          /* [-1, 1) */
int8_t tu_ternary(tu_rng *r);         /* -1, 0, 1 */
int tu_range(tu_rng *r, int lo, int hi); /* [lo, hi] */

/* ---- the kernel families this CPU can run ---------------------------------------------------------- */
int tu_families(int32_t *out); /* returns count; out[] = families in increasing order */

/* ---- half precision through the CPU's F16C (independent of the library's software conversion) ----- */
uint16_t tu_f32_to_f16(float f);
float tu_f16_to_f32(uint16_t h);

/* ---- encoders of the ternary formats (FACTS.md §2), written from the format text ------------------ */
/* w [rows*cols] in {-1,0,1}; out sized by the *_bytes functions. */
size_t tu_i2s_bytes(int64_t n);
void tu_i2s_encode(const int8_t *w, int64_t n, float scale, uint8_t *out);
size_t tu_tq2_bytes(int64_t n);
void tu_tq2_encode(const int8_t *w, int64_t n, uint16_t d, uint8_t *out);
size_t tu_tq1_bytes(int64_t n);
void tu_tq1_encode(const int8_t *w, int64_t n, uint16_t d, uint8_t *out);

double tu_now(void); /* seconds, monotonic */

#endif
