/*
 * test-matmul.c: every kernel family the CPU has vs an independent reference computed here.
 * Named tolerances:
 *   TOL_INT_EXACT   integer matmuls (ternary, Q8, Q8K mode): the integer sums are exact and the float
 *                   epilogue is the same expression, so y must be bit-identical (0 ulp).
 *   TOL_FLOAT_SUM   float heads: |y - y_double| <= k * FLT_EPSILON * sum_k |x_k w_k| (the worst-case
 *                   bound of float summation in any order).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test-util.h"

typedef struct ternary_case {
    int64_t rows, cols;
    int8_t *w;        /* [rows][cols] */
    tern_matrix *m;
    float scale;
} ternary_case;

static ternary_case make_ternary(tu_rng *rng, int64_t rows, int64_t cols, int fill) {
    ternary_case tc = {rows, cols, malloc((size_t)(rows * cols)), NULL, 0.0371f};
    for (int64_t i = 0; i < rows * cols; i++) tc.w[i] = fill == 2 ? tu_ternary(rng) : (int8_t)fill;
    if (fill == 2 && rows > 2) memset(tc.w + (rows / 2) * cols, 0, (size_t)cols); /* an all-zero row */
    if (tern_matrix_init(NULL, TERN_FMT_TERNARY_I8, tc.w, (uint64_t)(rows * cols), rows, cols, 0, &tc.m) == TERN_OK) {
        tern_matrix_set_scale(tc.m, tc.scale);
    }
    return tc;
}

static void free_ternary(ternary_case *tc) {
    tern_matrix_free(tc->m);
    free(tc->w);
}

static float *random_x(tu_rng *rng, int32_t T, int64_t cols, float amp) {
    float *x = malloc((size_t)(T * cols) * sizeof(float));
    for (int64_t i = 0; i < T * cols; i++) x[i] = tu_uniform(rng) * amp;
    return x;
}

/* y[t][r] = (float)(sum w*a) / act_scale * w_scale: the TOKEN-mode definition. */
static void ref_token(const int8_t *w, const float *row_scale, float scale, int64_t rows, int64_t cols,
                      const tern_acts *a, int32_t T, float *y) {
    int8_t *q = malloc((size_t)cols);
    for (int32_t t = 0; t < T; t++) {
        float s;
        tern_acts_get(a, t, q, &s);
        for (int64_t r = 0; r < rows; r++) {
            int32_t dot = 0;
            for (int64_t c = 0; c < cols; c++) dot += w[r * cols + c] * q[c];
            y[t * rows + r] = (float)dot / s * (row_scale ? row_scale[r] : scale);
        }
    }
    free(q);
}

static int64_t count_diff(const float *a, const float *b, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += memcmp(&a[i], &b[i], 4) != 0;
    return bad;
}

static tern_pool *pool_for(int32_t family, int32_t threads) {
    tern_pool *pool = NULL;
    int32_t st = tern_pool_init(threads, family, &pool);
    CHECK(st == TERN_OK, "pool %s x%d: %s", tern_kernels_name(family), threads, tern_last_error());
    return pool;
}

/* Runs one ternary case on a pool and checks TOL_INT_EXACT against the reference. */
static void check_ternary(tern_pool *pool, const ternary_case *tc, const float *x, int32_t T, int32_t mode) {
    tern_acts *a = NULL;
    CHECK_OK(tern_acts_init(T, tc->cols, &a));
    CHECK_OK(tern_acts_quantize(pool, a, x, T, mode));
    float *y = malloc((size_t)(T * tc->rows) * sizeof(float));
    float *want = malloc((size_t)(T * tc->rows) * sizeof(float));
    memset(y, 0xff, (size_t)(T * tc->rows) * sizeof(float));
    CHECK_OK(tern_matmul(pool, tc->m, a, y));
    if (mode == TERN_ACT_TOKEN) {
        ref_token(tc->w, NULL, tc->scale, tc->rows, tc->cols, a, T, want);
    } else {
        /* Q8K: y = sum over 256-blocks b, in order, of (float)(sum_b w*a) * (d_b * w_scale) */
        const int64_t nb = tc->cols / 256;
        int8_t *q = malloc((size_t)tc->cols);
        float *d = malloc((size_t)nb * sizeof(float));
        for (int32_t t = 0; t < T; t++) {
            tern_acts_get(a, t, q, d);
            for (int64_t r = 0; r < tc->rows; r++) {
                float acc = 0;
                for (int64_t b = 0; b < nb; b++) {
                    int32_t dot = 0;
                    for (int c = 0; c < 256; c++) dot += tc->w[r * tc->cols + b * 256 + c] * q[b * 256 + c];
                    const float v = (float)dot * (d[b] * tc->scale);
                    acc = b == 0 ? v : acc + v;
                }
                want[t * tc->rows + r] = acc;
            }
        }
        free(q);
        free(d);
    }
    const int64_t bad = count_diff(y, want, T * tc->rows);
    CHECK(bad == 0, "%s x%d %s: %lldx%lld T=%d: %lld of %lld outputs differ (TOL_INT_EXACT) e.g. %g vs %g",
          tern_kernels_name(tern_pool_kernels(pool)), tern_pool_threads(pool), mode ? "q8k" : "token",
          (long long)tc->rows, (long long)tc->cols, T, (long long)bad, (long long)(T * tc->rows), (double)y[0],
          (double)want[0]);
    free(y);
    free(want);
    tern_acts_free(a);
}

void test_matmul_ternary_families(void) {
    static const int64_t rows_list[] = {1, 16, 17, 33, 100};
    static const int64_t cols_list[] = {64, 100, 256, 320, 2560};
    static const int32_t t_list[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33};
    int32_t fams[8];
    const int nf = tu_families(fams);
    tu_rng rng = tu_rng_seed(10);
    for (int fi = 0; fi < nf; fi++) {
        tern_pool *pool = pool_for(fams[fi], 2);
        if (!pool) continue;
        for (size_t ri = 0; ri < sizeof rows_list / sizeof *rows_list; ri++) {
            for (size_t ci = 0; ci < sizeof cols_list / sizeof *cols_list; ci++) {
                ternary_case tc = make_ternary(&rng, rows_list[ri], cols_list[ci], 2);
                CHECK(tc.m != NULL, "matrix %lldx%lld", (long long)tc.rows, (long long)tc.cols);
                for (size_t ti = 0; tc.m && ti < sizeof t_list / sizeof *t_list; ti++) {
                    if (cols_list[ci] == 2560 && t_list[ti] > 9 && fams[fi] == TERN_KERNELS_SCALAR) continue;
                    float *x = random_x(&rng, t_list[ti], tc.cols, 3.0f);
                    check_ternary(pool, &tc, x, t_list[ti], TERN_ACT_TOKEN);
                    free(x);
                }
                free_ternary(&tc);
            }
        }
        /* 2B-4T K/V shape, batches crossing the 64-token task boundary */
        ternary_case tc = make_ternary(&rng, 640, 2560, 2);
        for (int32_t T = 63; T <= 100; T += 37) {
            float *x = random_x(&rng, T, tc.cols, 1.0f);
            check_ternary(pool, &tc, x, T, TERN_ACT_TOKEN);
            free(x);
        }
        free_ternary(&tc);
        tern_pool_free(pool);
    }
}

void test_matmul_ternary_edges(void) {
    int32_t fams[8];
    const int nf = tu_families(fams);
    tu_rng rng = tu_rng_seed(11);
    for (int fi = 0; fi < nf; fi++) {
        tern_pool *pool = pool_for(fams[fi], 2);
        if (!pool) continue;
        /* extreme sums: all +1 or all -1 weights against max-magnitude activations of one sign */
        for (int fill = -1; fill <= 1; fill++) {
            ternary_case tc = make_ternary(&rng, 33, 6912, fill);
            const int32_t T = 18;
            float *x = random_x(&rng, T, tc.cols, 1.0f);
            for (int64_t c = 0; c < tc.cols; c++) {
                x[0 * tc.cols + c] = 1e20f;          /* a = +127 everywhere */
                x[1 * tc.cols + c] = -3.0f;          /* a = -127 everywhere */
                x[2 * tc.cols + c] = 0.0f;           /* zero token */
            }
            check_ternary(pool, &tc, x, T, TERN_ACT_TOKEN);
            free(x);
            free_ternary(&tc);
        }
        /* 1 thread and 2 threads agree bit for bit; tern_matmul_f32 = quantise + tern_matmul */
        ternary_case tc = make_ternary(&rng, 200, 512, 2);
        const int32_t T = 40;
        float *x = random_x(&rng, T, tc.cols, 2.0f);
        tern_pool *one = pool_for(fams[fi], 1);
        tern_acts *a = NULL;
        CHECK_OK(tern_acts_init(T, tc.cols, &a));
        CHECK_OK(tern_acts_quantize(pool, a, x, T, TERN_ACT_TOKEN));
        float *y1 = malloc((size_t)(T * tc.rows) * 4), *y2 = malloc((size_t)(T * tc.rows) * 4), *y3 = malloc((size_t)(T * tc.rows) * 4);
        CHECK_OK(tern_matmul(one, tc.m, a, y1));
        CHECK_OK(tern_matmul(pool, tc.m, a, y2));
        CHECK_OK(tern_matmul_f32(pool, tc.m, x, T, y3));
        CHECK(count_diff(y1, y2, T * tc.rows) == 0, "1 vs 2 threads differ");
        CHECK(count_diff(y2, y3, T * tc.rows) == 0, "tern_matmul_f32 differs from quantise + matmul");
        /* errors */
        tern_acts *wrong = NULL;
        CHECK_OK(tern_acts_init(T, 256, &wrong));
        CHECK_STATUS(tern_matmul(pool, tc.m, wrong, y1), TERN_E_ARG); /* cols mismatch */
        tern_acts_free(wrong);
        CHECK_OK(tern_acts_init(T, tc.cols, &wrong));
        CHECK_STATUS(tern_matmul(pool, tc.m, wrong, y1), TERN_E_ARG); /* nothing quantised */
        tern_acts_free(wrong);
        CHECK_STATUS(tern_matmul(NULL, tc.m, a, y1), TERN_E_ARG);
        free(y1);
        free(y2);
        free(y3);
        free(x);
        tern_acts_free(a);
        tern_pool_free(one);
        free_ternary(&tc);
        tern_pool_free(pool);
    }
}

void test_matmul_q8k_mode(void) {
    int32_t fams[8];
    const int nf = tu_families(fams);
    tu_rng rng = tu_rng_seed(12);
    for (int fi = 0; fi < nf; fi++) {
        tern_pool *pool = pool_for(fams[fi], 2);
        if (!pool) continue;
        static const int64_t shapes[][2] = {{1, 256}, {17, 512}, {40, 2560}};
        for (int si = 0; si < 3; si++) {
            ternary_case tc = make_ternary(&rng, shapes[si][0], shapes[si][1], 2);
            for (int32_t T = 1; T <= 33; T += 8) {
                float *x = random_x(&rng, T, tc.cols, 5.0f);
                memset(x, 0, 256 * sizeof(float)); /* a zero block: d = 0 */
                check_ternary(pool, &tc, x, T, TERN_ACT_Q8K);
                free(x);
            }
            free_ternary(&tc);
        }
        tern_pool_free(pool);
    }
}

/* Q8 head: weights quantised by the test the way the header states (absmax per row). */
static void check_q8(tern_pool *pool, tu_rng *rng, int64_t rows, int64_t cols, int32_t T) {
    float *wf = malloc((size_t)(rows * cols) * 4);
    for (int64_t i = 0; i < rows * cols; i++) wf[i] = tu_uniform(rng) * 0.2f;
    if (rows > 3) memset(wf + 2 * cols, 0, (size_t)cols * 4);
    int8_t *q = malloc((size_t)(rows * cols));
    float *rs = malloc((size_t)rows * 4);
    for (int64_t r = 0; r < rows; r++) {
        float amax = 0;
        for (int64_t c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(wf[r * cols + c]));
        const float is = amax > 0 ? 127.0f / amax : 0.0f;
        for (int64_t c = 0; c < cols; c++) q[r * cols + c] = (int8_t)fminf(fmaxf(rintf(wf[r * cols + c] * is), -127), 127);
        rs[r] = amax / 127.0f;
    }
    tern_matrix *m = NULL;
    CHECK_OK(tern_matrix_init(pool, TERN_FMT_F32, wf, (uint64_t)(rows * cols * 4), rows, cols, TERN_MATRIX_FLAG_Q8, &m));
    float *x = random_x(rng, T, cols, 4.0f);
    tern_acts *a = NULL;
    CHECK_OK(tern_acts_init(T, cols, &a));
    CHECK_OK(tern_acts_quantize(pool, a, x, T, TERN_ACT_TOKEN));
    float *y = malloc((size_t)(T * rows) * 4), *want = malloc((size_t)(T * rows) * 4);
    CHECK_OK(tern_matmul(pool, m, a, y));
    ref_token(q, rs, 0, rows, cols, a, T, want);
    const int64_t bad = count_diff(y, want, T * rows);
    CHECK(bad == 0, "%s q8 %lldx%lld T=%d: %lld outputs differ (TOL_INT_EXACT)", tern_kernels_name(tern_pool_kernels(pool)),
          (long long)rows, (long long)cols, T, (long long)bad);
    free(y);
    free(want);
    free(x);
    tern_acts_free(a);
    tern_matrix_free(m);
    free(wf);
    free(q);
    free(rs);
}

void test_matmul_q8_head(void) {
    int32_t fams[8];
    const int nf = tu_families(fams);
    tu_rng rng = tu_rng_seed(13);
    static const int64_t shapes[][2] = {{1, 64}, {16, 128}, {33, 100}, {100, 640}, {50, 2560}};
    static const int32_t ts[] = {1, 2, 5, 16, 17, 33};
    for (int fi = 0; fi < nf; fi++) {
        tern_pool *pool = pool_for(fams[fi], 2);
        if (!pool) continue;
        for (int si = 0; si < 5; si++)
            for (int ti = 0; ti < 6; ti++) check_q8(pool, &rng, shapes[si][0], shapes[si][1], ts[ti]);
        tern_pool_free(pool);
    }
}

void test_matmul_float_head(void) {
    int32_t fams[8];
    const int nf = tu_families(fams);
    tu_rng rng = tu_rng_seed(14);
    static const int64_t shapes[][2] = {{1, 1}, {4, 7}, {5, 16}, {33, 17}, {70, 100}, {9, 2560}};
    static const int32_t ts[] = {1, 2, 3, 5, 8, 17};
    for (int fi = 0; fi < nf; fi++) {
        tern_pool *pool = pool_for(fams[fi], 2);
        if (!pool) continue;
        for (int si = 0; si < 6; si++) {
            const int64_t rows = shapes[si][0], cols = shapes[si][1];
            float *wf = malloc((size_t)(rows * cols) * 4);
            uint16_t *wh = malloc((size_t)(rows * cols) * 2);
            for (int64_t i = 0; i < rows * cols; i++) {
                wh[i] = tu_f32_to_f16(tu_uniform(&rng));
                wf[i] = tu_f16_to_f32(wh[i]);
            }
            for (int half = 0; half < 2; half++) {
                tern_matrix *m = NULL;
                CHECK_OK(half ? tern_matrix_init(pool, TERN_FMT_F16, wh, (uint64_t)(rows * cols * 2), rows, cols, 0, &m)
                              : tern_matrix_init(pool, TERN_FMT_F32, wf, (uint64_t)(rows * cols * 4), rows, cols,
                                                 TERN_MATRIX_FLAG_BORROW, &m));
                for (int ti = 0; m && ti < 6; ti++) {
                    const int32_t T = ts[ti];
                    float *x = random_x(&rng, T, cols, 2.0f);
                    float *y = malloc((size_t)(T * rows) * 4);
                    CHECK_OK(tern_matmul_f32(pool, m, x, T, y));
                    int64_t bad = 0;
                    for (int32_t t = 0; t < T; t++) {
                        for (int64_t r = 0; r < rows; r++) {
                            double s = 0, mag = 0;
                            for (int64_t c = 0; c < cols; c++) {
                                s += (double)x[t * cols + c] * wf[r * cols + c];
                                mag += fabs((double)x[t * cols + c] * wf[r * cols + c]);
                            }
                            bad += fabs(y[t * rows + r] - s) > cols * FLT_EPSILON * mag + 1e-30; /* TOL_FLOAT_SUM */
                        }
                    }
                    CHECK(bad == 0, "%s %s %lldx%lld T=%d: %lld outputs outside TOL_FLOAT_SUM",
                          tern_kernels_name(fams[fi]), half ? "f16" : "f32", (long long)rows, (long long)cols, T, (long long)bad);
                    free(x);
                    free(y);
                }
                if (m) {
                    tern_acts *a = NULL;
                    CHECK_OK(tern_acts_init(1, cols, &a));
                    float y1;
                    CHECK_STATUS(tern_matmul(pool, m, a, &y1), TERN_E_ARG); /* float matrices take floats */
                    tern_acts_free(a);
                }
                tern_matrix_free(m);
            }
            free(wf);
            free(wh);
        }
        tern_pool_free(pool);
    }
}

void test_matmul_amx(void) {
    if (!(tern_kernels_available() & (1u << TERN_KERNELS_AMX))) {
        tern_pool *pool = NULL;
        const int32_t st = tern_pool_init(1, TERN_KERNELS_AMX, &pool);
        CHECK(st == TERN_E_UNSUPPORTED, "AMX pool should be refused");
        printf("    AMX NOT AVAILABLE on this CPU: the AMX kernels were NOT run (%s)\n", tern_last_error());
        return;
    }
    printf("    AMX available (%s): running the AMX kernels against the reference\n", tern_kernels_name(TERN_KERNELS_AMX));
    tu_rng rng = tu_rng_seed(15);
    tern_pool *pool = pool_for(TERN_KERNELS_AMX, 2);
    if (!pool) return;
    static const int64_t shapes[][2] = {{16, 64}, {17, 256}, {33, 320}, {100, 2560}, {640, 2560}};
    static const int32_t ts[] = {15, 16, 17, 31, 32, 33, 47, 64, 65, 100, 256, 300};
    for (int si = 0; si < 5; si++) {
        ternary_case tc = make_ternary(&rng, shapes[si][0], shapes[si][1], 2);
        for (int ti = 0; ti < 12; ti++) {
            float *x = random_x(&rng, ts[ti], tc.cols, 1.0f);
            check_ternary(pool, &tc, x, ts[ti], TERN_ACT_TOKEN);
            if (tc.cols % 256 == 0) check_ternary(pool, &tc, x, ts[ti], TERN_ACT_Q8K);
            free(x);
        }
        free_ternary(&tc);
        for (int ti = 0; ti < 12; ti += 3) check_q8(pool, &rng, shapes[si][0], shapes[si][1], ts[ti]);
    }
    tern_pool_free(pool);
}

/* tern_matmul3 (three matrices, one job) equals three tern_matmul calls bit for bit, in both activation
 * modes, at decode and prefill sizes; a missing output or a float matrix is refused. */
void test_matmul3(void) {
    tu_rng rng = tu_rng_seed(77);
    const int64_t cols = 512;
    ternary_case q = make_ternary(&rng, 96, cols, 2), k = make_ternary(&rng, 32, cols, 2), v = make_ternary(&rng, 40, cols, 2);
    int32_t fams[8];
    const int nf = tu_families(fams);
    for (int fi = 0; fi < nf; fi++) {
        tern_pool *pool = pool_for(fams[fi], 2);
        if (!pool) continue;
        for (int32_t T = 1; T <= 37; T += 36) {
            for (int32_t mode = TERN_ACT_TOKEN; mode <= TERN_ACT_Q8K; mode++) {
                float *x = random_x(&rng, T, cols, 3.0f);
                tern_acts *a = NULL;
                CHECK_OK(tern_acts_init(T, cols, &a));
                CHECK_OK(tern_acts_quantize(pool, a, x, T, mode));
                float *y[3], *z[3];
                const ternary_case *tcs[3] = {&q, &k, &v};
                for (int i = 0; i < 3; i++) {
                    y[i] = calloc((size_t)(T * tcs[i]->rows), 4);
                    z[i] = calloc((size_t)(T * tcs[i]->rows), 4);
                    CHECK_OK(tern_matmul(pool, tcs[i]->m, a, y[i]));
                }
                CHECK_OK(tern_matmul3(pool, a, q.m, z[0], k.m, z[1], v.m, z[2]));
                for (int i = 0; i < 3; i++) {
                    CHECK(count_diff(y[i], z[i], T * tcs[i]->rows) == 0, "%s matmul3 part %d T=%d mode %d differs",
                          tern_kernels_name(fams[fi]), i, T, mode);
                }
                memset(z[1], 0, (size_t)(T * k.rows) * 4);
                CHECK_OK(tern_matmul3(pool, a, k.m, z[1], NULL, NULL, NULL, NULL));
                CHECK(count_diff(y[1], z[1], T * k.rows) == 0, "matmul3 with one matrix differs");
                CHECK_STATUS(tern_matmul3(pool, a, q.m, z[0], k.m, NULL, NULL, NULL), TERN_E_ARG);
                CHECK_STATUS(tern_matmul3(pool, a, NULL, z[0], NULL, NULL, NULL, NULL), TERN_E_ARG);
                for (int i = 0; i < 3; i++) {
                    free(y[i]);
                    free(z[i]);
                }
                tern_acts_free(a);
                free(x);
            }
        }
        tern_pool_free(pool);
    }
    free_ternary(&q);
    free_ternary(&k);
    free_ternary(&v);
}
