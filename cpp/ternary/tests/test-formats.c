/*
 * test-formats.c: ABI and dispatch facts, repack round trips from every input format, refusal of bad
 * input, float/Q8 matrices, and activation quantisation against independent references.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test-util.h"

void test_abi_and_dispatch(void) {
    CHECK(tern_abi_version() == TERN_ABI_VERSION, "abi %u", tern_abi_version());
    const uint32_t f = tern_cpu_features(), avail = tern_kernels_available();
    printf("    cpu: avx2=%d fma=%d f16c=%d avx512f=%d bw=%d vl=%d vnni=%d amx-tile=%d amx-int8=%d os-amx=%d\n",
           !!(f & TERN_CPU_AVX2), !!(f & TERN_CPU_FMA), !!(f & TERN_CPU_F16C), !!(f & TERN_CPU_AVX512F),
           !!(f & TERN_CPU_AVX512BW), !!(f & TERN_CPU_AVX512VL), !!(f & TERN_CPU_AVX512VNNI), !!(f & TERN_CPU_AMX_TILE),
           !!(f & TERN_CPU_AMX_INT8), !!(f & TERN_CPU_OS_AMX));
    printf("    kernel families available:");
    for (int32_t k = TERN_KERNELS_SCALAR; k <= TERN_KERNELS_AMX; k++) {
        if (avail & (1u << k)) printf(" %s", tern_kernels_name(k));
    }
    printf("\n");
    CHECK(avail & (1u << TERN_KERNELS_SCALAR), "scalar family missing");
    CHECK(!strcmp(tern_status_name(TERN_E_FORMAT), "TERN_E_FORMAT"), "status name");

    /* every family: available ones start, missing ones are refused with a reason */
    for (int32_t k = TERN_KERNELS_SCALAR; k <= TERN_KERNELS_AMX; k++) {
        tern_pool *pool = NULL;
        const int32_t st = tern_pool_init(1, k, &pool);
        if (avail & (1u << k)) {
            CHECK(st == TERN_OK && tern_pool_kernels(pool) == k, "family %s: %s", tern_kernels_name(k), tern_last_error());
        } else {
            CHECK(st == TERN_E_UNSUPPORTED && pool == NULL && strlen(tern_last_error()) > 0, "family %s should be refused",
                  tern_kernels_name(k));
            printf("    %s refused as expected: %s\n", tern_kernels_name(k), tern_last_error());
        }
        tern_pool_free(pool);
    }
    /* AUTO picks the best; the env override forces or refuses */
    tern_pool *pool = NULL;
    CHECK_OK(tern_pool_init(2, TERN_KERNELS_AUTO, &pool));
    if (pool) {
        int32_t best = TERN_KERNELS_SCALAR;
        for (int32_t k = TERN_KERNELS_AVX2; k <= TERN_KERNELS_AMX; k++) best = (avail & (1u << k)) ? k : best;
        CHECK(tern_pool_kernels(pool) == best && tern_pool_threads(pool) == 2, "auto chose %s",
              tern_kernels_name(tern_pool_kernels(pool)));
    }
    tern_pool_free(pool);
    setenv("TERNARY_KERNELS", "scalar", 1);
    pool = NULL;
    CHECK_OK(tern_pool_init(1, TERN_KERNELS_AUTO, &pool));
    CHECK(pool && tern_pool_kernels(pool) == TERN_KERNELS_SCALAR, "env did not force scalar");
    tern_pool_free(pool);
    setenv("TERNARY_KERNELS", "sse9", 1);
    pool = NULL;
    CHECK_STATUS(tern_pool_init(1, TERN_KERNELS_AUTO, &pool), TERN_E_ARG);
    unsetenv("TERNARY_KERNELS");
    CHECK_STATUS(tern_pool_init(1, 77, &pool), TERN_E_ARG);
    tern_pool_free(NULL);
    tern_matrix_free(NULL);
    tern_acts_free(NULL);
    tern_kv_free(NULL);
    tern_rope_free(NULL);
}

/* Builds a random ternary matrix with some all-zero rows and encodes it in `fmt`. */
static uint8_t *encode(int32_t fmt, const int8_t *w, int64_t rows, int64_t cols, float scale, size_t *nbytes) {
    const int64_t n = rows * cols;
    uint8_t *buf = NULL;
    switch (fmt) {
    case TERN_FMT_I2_S:
        *nbytes = tu_i2s_bytes(n);
        buf = malloc(*nbytes);
        tu_i2s_encode(w, n, scale, buf);
        break;
    case TERN_FMT_TQ2_0:
        *nbytes = tu_tq2_bytes(n);
        buf = malloc(*nbytes);
        tu_tq2_encode(w, n, tu_f32_to_f16(scale), buf);
        break;
    case TERN_FMT_TQ1_0:
        *nbytes = tu_tq1_bytes(n);
        buf = malloc(*nbytes);
        tu_tq1_encode(w, n, tu_f32_to_f16(scale), buf);
        break;
    default:
        *nbytes = (size_t)n;
        buf = malloc(*nbytes);
        memcpy(buf, w, (size_t)n);
        break;
    }
    return buf;
}

static void random_ternary(tu_rng *rng, int8_t *w, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows * cols; i++) w[i] = tu_ternary(rng);
    for (int64_t r = 0; r < rows; r += 7) memset(w + r * cols, 0, (size_t)cols); /* all-zero rows */
}

void test_formats_round_trip(void) {
    static const int32_t fmts[] = {TERN_FMT_I2_S, TERN_FMT_TQ2_0, TERN_FMT_TQ1_0, TERN_FMT_TERNARY_I8};
    static const int64_t shapes[][2] = {{1, 256}, {16, 256}, {17, 512}, {33, 768}, {5, 2560}, {40, 256}};
    static const int64_t odd_shapes[][2] = {{3, 128}, {1, 384}, {2, 64}, {16, 200}, {7, 100}};
    tu_rng rng = tu_rng_seed(1);
    tern_pool *pool = NULL;
    CHECK_OK(tern_pool_init(2, TERN_KERNELS_AUTO, &pool));
    for (size_t fi = 0; fi < 4; fi++) {
        const int32_t fmt = fmts[fi];
        const int n_shapes = fmt == TERN_FMT_TERNARY_I8 || fmt == TERN_FMT_I2_S ? 11 : 6;
        for (int si = 0; si < n_shapes; si++) {
            const int64_t rows = si < 6 ? shapes[si][0] : odd_shapes[si - 6][0];
            const int64_t cols = si < 6 ? shapes[si][1] : odd_shapes[si - 6][1];
            if (fmt == TERN_FMT_I2_S && (rows * cols) % 128) continue;
            int8_t *w = malloc((size_t)(rows * cols));
            random_ternary(&rng, w, rows, cols);
            const float scale = fmt == TERN_FMT_TERNARY_I8 ? 1.0f : fmt == TERN_FMT_I2_S ? 0.0123f : tu_f16_to_f32(tu_f32_to_f16(0.75f));
            size_t nbytes = 0;
            uint8_t *data = encode(fmt, w, rows, cols, scale, &nbytes);
            for (int use_pool = 0; use_pool < 2; use_pool++) {
                tern_matrix *m = NULL;
                CHECK_OK(tern_matrix_init(use_pool ? pool : NULL, fmt, data, nbytes, rows, cols, 0, &m));
                if (!m) continue;
                CHECK(tern_matrix_kind(m) == TERN_MATRIX_TERNARY && tern_matrix_rows(m) == rows && tern_matrix_cols(m) == cols,
                      "shape");
                CHECK(tern_matrix_scale(m) == scale, "fmt %d scale %g want %g", fmt, (double)tern_matrix_scale(m), (double)scale);
                float *back = malloc((size_t)(rows * cols) * sizeof(float));
                int32_t *ids = malloc((size_t)rows * sizeof(int32_t));
                for (int64_t r = 0; r < rows; r++) ids[r] = (int32_t)r;
                CHECK_OK(tern_matrix_get_rows(m, ids, (int32_t)rows, back));
                int64_t bad = 0;
                for (int64_t i = 0; i < rows * cols; i++) bad += back[i] != (float)w[i] * scale;
                CHECK(bad == 0, "fmt %d %lldx%lld pool=%d: %lld weights differ after the round trip", fmt, (long long)rows,
                      (long long)cols, use_pool, (long long)bad);
                free(back);
                free(ids);
                tern_matrix_free(m);
            }
            free(data);
            free(w);
        }
    }
    /* TQ blocks whose weights are all zero may carry any d */
    {
        const int64_t rows = 2, cols = 512;
        int8_t w[2 * 512];
        random_ternary(&rng, w, rows, cols);
        memset(w + 256, 0, 256);
        uint8_t data[4 * 66];
        tu_tq2_encode(w, rows * cols, tu_f32_to_f16(0.5f), data);
        data[1 * 66 + 64] = 0;
        data[1 * 66 + 65] = 0; /* block 1 is all zero: d = 0 as ggml writes it */
        tern_matrix *m = NULL;
        CHECK_OK(tern_matrix_init(NULL, TERN_FMT_TQ2_0, data, sizeof data, rows, cols, 0, &m));
        CHECK(m && tern_matrix_scale(m) == 0.5f, "scale from the first nonzero block");
        tern_matrix_free(m);
        /* ... and a matrix that starts with a zero block takes the scale of the first nonzero one */
        memset(w, 0, 256);
        tu_tq1_encode(w, rows * cols, tu_f32_to_f16(0.25f), data);
        data[52] = 0;
        data[53] = 0;
        CHECK_OK(tern_matrix_init(NULL, TERN_FMT_TQ1_0, data, 4 * 54, rows, cols, 0, &m));
        CHECK(m && tern_matrix_scale(m) == 0.25f, "scale skips leading zero blocks");
        CHECK_OK(tern_matrix_set_scale(m, 2.0f));
        CHECK(tern_matrix_scale(m) == 2.0f, "set_scale");
        tern_matrix_free(m);
    }
    /* a known TQ1_0 byte: 5 trits of +1 (v = 242) -> ceil(242 * 256 / 243) = 255 */
    {
        int8_t w[256];
        memset(w, 1, sizeof w);
        uint8_t data[54];
        tu_tq1_encode(w, 256, tu_f32_to_f16(1.0f), data);
        CHECK(data[0] == 255 && data[48] == 253, "TQ1_0 encoder: %u %u", data[0], data[48]);
    }
    tern_pool_free(pool);
}

void test_formats_reject_bad_input(void) {
    tu_rng rng = tu_rng_seed(2);
    const int64_t rows = 4, cols = 256, n = rows * cols;
    int8_t w[4 * 256];
    random_ternary(&rng, w, rows, cols);
    w[0] = 1; /* make block 0 nonzero */
    tern_matrix *m = NULL;
    uint8_t buf[4 * 66 + 64];

    tu_tq2_encode(w, n, tu_f32_to_f16(0.5f), buf);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TQ2_0, buf, tu_tq2_bytes(n) - 1, rows, cols, 0, &m), TERN_E_FORMAT);
    CHECK(m == NULL, "no handle on failure");
    buf[3 * 66 + 5] |= 0x0c; /* code 3 */
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TQ2_0, buf, tu_tq2_bytes(n), rows, cols, 0, &m), TERN_E_FORMAT);
    tu_tq2_encode(w, n, tu_f32_to_f16(0.5f), buf);
    buf[2 * 66 + 64] ^= 1; /* block 2 has another d */
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TQ2_0, buf, tu_tq2_bytes(n), rows, cols, 0, &m), TERN_E_FORMAT);
    CHECK(strstr(tern_last_error(), "per-block scales") != NULL, "message names the cause: %s", tern_last_error());
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TQ2_0, buf, tu_tq2_bytes(n), 2, 512 - 64, 0, &m), TERN_E_FORMAT);

    tu_tq1_encode(w, n, tu_f32_to_f16(0.5f), buf);
    buf[1 * 54 + 52] ^= 4;
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TQ1_0, buf, tu_tq1_bytes(n), rows, cols, 0, &m), TERN_E_FORMAT);

    tu_i2s_encode(w, n, 0.5f, buf);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_I2_S, buf, n / 4 + 3, rows, cols, 0, &m), TERN_E_FORMAT);
    buf[17] = 0xff; /* code 3 */
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_I2_S, buf, tu_i2s_bytes(n), rows, cols, 0, &m), TERN_E_FORMAT);
    tu_i2s_encode(w, n, NAN, buf);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_I2_S, buf, tu_i2s_bytes(n), rows, cols, 0, &m), TERN_E_FORMAT);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_I2_S, buf, tu_i2s_bytes(n), 3, 100, 0, &m), TERN_E_FORMAT);

    int8_t bad[16] = {0, 1, -1, 2};
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TERNARY_I8, bad, 16, 1, 16, 0, &m), TERN_E_FORMAT);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TERNARY_I8, bad, 16, 1, 16, TERN_MATRIX_FLAG_Q8, &m), TERN_E_ARG);
    CHECK_STATUS(tern_matrix_init(NULL, 99, bad, 16, 1, 16, 0, &m), TERN_E_ARG);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TERNARY_I8, bad, 16, 0, 16, 0, &m), TERN_E_ARG);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TERNARY_I8, NULL, 16, 1, 16, 0, &m), TERN_E_ARG);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TERNARY_I8, bad, 16, 1, 16, 0, NULL), TERN_E_ARG);
    float fl[4] = {1, 2, 3, 4};
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_F32, fl, 16, 1, 4, TERN_MATRIX_FLAG_BORROW | TERN_MATRIX_FLAG_Q8, &m),
                 TERN_E_ARG);
    fl[2] = INFINITY;
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_F32, fl, 16, 1, 4, TERN_MATRIX_FLAG_Q8, &m), TERN_E_FORMAT);
    CHECK_STATUS(tern_matrix_set_scale(NULL, 1.0f), TERN_E_ARG);
}

void test_float_and_q8_matrices(void) {
    tu_rng rng = tu_rng_seed(3);
    const int64_t rows = 37, cols = 200;
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    uint16_t *h = malloc((size_t)(rows * cols) * sizeof(uint16_t));
    for (int64_t i = 0; i < rows * cols; i++) {
        w[i] = tu_uniform(&rng) * 3.0f;
        h[i] = tu_f32_to_f16(w[i]);
    }
    memset(w + 5 * cols, 0, (size_t)cols * sizeof(float)); /* a zero row: Q8 scale 0 */
    int32_t ids[3] = {0, 5, 36};
    float out[3 * 200];
    tern_matrix *m = NULL;

    CHECK_OK(tern_matrix_init(NULL, TERN_FMT_F32, w, (uint64_t)(rows * cols * 4), rows, cols, 0, &m));
    CHECK(m && tern_matrix_kind(m) == TERN_MATRIX_F32 && tern_matrix_nbytes(m) == (uint64_t)(rows * cols * 4), "f32 kind");
    CHECK_OK(tern_matrix_get_rows(m, ids, 3, out));
    for (int i = 0; i < 3; i++) CHECK(!memcmp(out + i * cols, w + ids[i] * cols, (size_t)cols * 4), "f32 row %d", ids[i]);
    tern_matrix_free(m);

    CHECK_OK(tern_matrix_init(NULL, TERN_FMT_F16, h, (uint64_t)(rows * cols * 2), rows, cols, TERN_MATRIX_FLAG_BORROW, &m));
    CHECK(m && tern_matrix_kind(m) == TERN_MATRIX_F16 && tern_matrix_nbytes(m) == 0, "borrowed f16");
    CHECK_OK(tern_matrix_get_rows(m, ids, 3, out));
    int bad = 0;
    for (int i = 0; i < 3; i++)
        for (int64_t c = 0; c < cols; c++) bad += out[i * cols + c] != tu_f16_to_f32(h[ids[i] * cols + c]);
    CHECK(bad == 0, "f16 rows: %d values differ from F16C's conversion", bad);
    tern_matrix_free(m);

    /* the library's software half conversion agrees with F16C on every half value */
    {
        int32_t id = 0;
        uint16_t all[1];
        int mismatches = 0;
        for (uint32_t v = 0; v < 65536; v++) {
            all[0] = (uint16_t)v;
            tern_matrix *one = NULL;
            if (tern_matrix_init(NULL, TERN_FMT_F16, all, 2, 1, 1, TERN_MATRIX_FLAG_BORROW, &one) != TERN_OK) { mismatches++; continue; }
            float f;
            tern_matrix_get_rows(one, &id, 1, &f);
            const float want = tu_f16_to_f32((uint16_t)v);
            mismatches += !(f == want || (isnan(f) && isnan(want)));
            tern_matrix_free(one);
        }
        CHECK(mismatches == 0, "f16 -> f32: %d of 65536 values differ", mismatches);
    }

    CHECK_OK(tern_matrix_init(NULL, TERN_FMT_F32, w, (uint64_t)(rows * cols * 4), rows, cols, TERN_MATRIX_FLAG_Q8, &m));
    CHECK(m && tern_matrix_kind(m) == TERN_MATRIX_Q8, "q8 kind");
    int32_t all_ids[37];
    for (int i = 0; i < rows; i++) all_ids[i] = i;
    float *back = malloc((size_t)(rows * cols) * sizeof(float));
    CHECK_OK(tern_matrix_get_rows(m, all_ids, (int32_t)rows, back));
    for (int64_t r = 0; r < rows; r++) {
        float amax = 0;
        for (int64_t c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(w[r * cols + c]));
        const float step = amax / 127.0f;
        double worst = 0;
        for (int64_t c = 0; c < cols; c++) worst = fmax(worst, fabs((double)back[r * cols + c] - w[r * cols + c]));
        /* TOL_Q8_ROUND: round-to-nearest loses at most half a step (plus float rounding of the product) */
        CHECK(worst <= 0.5 * step * (1 + 1e-5) + 1e-30, "q8 row %lld: error %g > half step %g", (long long)r, worst, 0.5 * step);
    }
    free(back);
    tern_matrix_free(m);
    CHECK_OK(tern_matrix_init(NULL, TERN_FMT_F16, h, (uint64_t)(rows * cols * 2), rows, cols, TERN_MATRIX_FLAG_Q8, &m));
    CHECK(m && tern_matrix_kind(m) == TERN_MATRIX_Q8, "q8 from f16");
    int32_t oob = 37;
    CHECK_STATUS(tern_matrix_get_rows(m, &oob, 1, out), TERN_E_ARG);
    tern_matrix_free(m);
    free(w);
    free(h);
}

/* ---- activations ------------------------------------------------------------------------------------ */

void test_acts_token_mode(void) {
    tu_rng rng = tu_rng_seed(4);
    const int64_t cols = 300; /* not a multiple of 8 or 64: vector tails */
    const int32_t T = 6;
    float *x = malloc((size_t)(T * cols) * sizeof(float));
    for (int64_t i = 0; i < T * cols; i++) x[i] = tu_uniform(&rng) * 10.0f;
    memset(x + 1 * cols, 0, (size_t)cols * sizeof(float));     /* all-zero token */
    for (int64_t c = 0; c < cols; c++) x[2 * cols + c] = (c % 2 ? 1e30f : -1e30f); /* max magnitude */
    x[3 * cols + 7] = -50.0f;                                   /* a negative maximum */
    x[4 * cols + 299] = 99.0f;                                  /* the maximum in the scalar tail */
    tern_pool *pool = NULL;
    CHECK_OK(tern_pool_init(2, TERN_KERNELS_AUTO, &pool));
    tern_acts *a = NULL;
    CHECK_OK(tern_acts_init(8, cols, &a));
    CHECK_OK(tern_acts_quantize(pool, a, x, T, TERN_ACT_TOKEN));
    CHECK(tern_acts_tokens(a) == T, "tokens");
    int8_t q[300];
    for (int32_t t = 0; t < T; t++) {
        float s = 0;
        CHECK_OK(tern_acts_get(a, t, q, &s));
        float amax = 0;
        for (int64_t c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(x[t * cols + c]));
        const float want_s = amax > 0 ? 127.0f / amax : 1.0f;
        CHECK(s == want_s, "token %d scale %g want %g", t, (double)s, (double)want_s);
        int bad = 0;
        for (int64_t c = 0; c < cols; c++) {
            float v = rintf(x[t * cols + c] * want_s);
            v = fminf(fmaxf(v, -127.0f), 127.0f);
            bad += q[c] != (int8_t)v;
        }
        CHECK(bad == 0, "token %d: %d values differ (TOL exact)", t, bad);
    }
    CHECK_OK(tern_acts_get(a, 2, q, NULL));
    CHECK(q[0] == -127 && q[1] == 127, "max magnitude -> +-127");
    CHECK_STATUS(tern_acts_quantize(pool, a, x, 9, TERN_ACT_TOKEN), TERN_E_CAPACITY);
    CHECK_STATUS(tern_acts_quantize(pool, a, x, 0, TERN_ACT_TOKEN), TERN_E_ARG);
    CHECK_STATUS(tern_acts_quantize(pool, a, x, 2, TERN_ACT_Q8K), TERN_E_ARG); /* cols % 256 != 0 */
    x[5 * cols + 3] = NAN;
    CHECK_STATUS(tern_acts_quantize(pool, a, x, T, TERN_ACT_TOKEN), TERN_E_ARG);
    x[5 * cols + 3] = INFINITY;
    CHECK_STATUS(tern_acts_quantize(pool, a, x, T, TERN_ACT_TOKEN), TERN_E_ARG);
    CHECK_STATUS(tern_acts_get(a, 0, q, NULL), TERN_E_ARG); /* the failed call left nothing quantised */
    tern_acts_free(a);
    tern_pool_free(pool);
    free(x);
}

/* llama.cpp's quantize_row_q8_K restated: the largest-magnitude value (first on ties) sets
 * iscale = -127 / max; q = min(127, nearest(iscale * x)); d = 1 / iscale. */
static void ref_q8k(const float *x, int n, int8_t *q, float *d) {
    for (int b = 0; b < n / 256; b++) {
        float amax = 0, max = 0;
        for (int j = 0; j < 256; j++) {
            if (fabsf(x[b * 256 + j]) > amax) { amax = fabsf(x[b * 256 + j]); max = x[b * 256 + j]; }
        }
        if (amax == 0) {
            d[b] = 0;
            memset(q + b * 256, 0, 256);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < 256; j++) {
            const int v = (int)nearbyintf(iscale * x[b * 256 + j]);
            q[b * 256 + j] = (int8_t)(v < 127 ? v : 127);
        }
        d[b] = 1.0f / iscale;
    }
}

void test_acts_q8k_mode(void) {
    tu_rng rng = tu_rng_seed(5);
    const int cols = 768;
    const int32_t T = 3;
    float *x = malloc((size_t)(T * cols) * sizeof(float));
    for (int i = 0; i < T * cols; i++) x[i] = tu_uniform(&rng);
    memset(x + 256, 0, 256 * sizeof(float)); /* an all-zero block */
    x[2 * cols + 10] = 4.0f;
    x[2 * cols + 11] = -4.0f;                /* tie: the first (positive) one wins */
    tern_pool *pool = NULL;
    CHECK_OK(tern_pool_init(1, TERN_KERNELS_AUTO, &pool));
    tern_acts *a = NULL;
    CHECK_OK(tern_acts_init(T, cols, &a));
    CHECK_OK(tern_acts_quantize(pool, a, x, T, TERN_ACT_Q8K));
    int8_t q[768], wq[768];
    float d[3], wd[3];
    for (int32_t t = 0; t < T; t++) {
        CHECK_OK(tern_acts_get(a, t, q, d));
        ref_q8k(x + t * cols, cols, wq, wd);
        CHECK(!memcmp(q, wq, (size_t)cols), "token %d q8k values", t);
        CHECK(!memcmp(d, wd, sizeof d), "token %d q8k scales %g %g %g", t, (double)d[0], (double)d[1], (double)d[2]);
    }
    tern_acts_free(a);
    tern_pool_free(pool);
    free(x);
}

/* TERN_MATRIX_FLAG_DROP_INPUT on a file mapping: the same matrix as without it, for every repacked
 * format (and a Q8 head from F16); the pages read back from the file afterwards; bad flag mixes refused. */
void test_matrix_drop_input(void) {
    tu_rng rng = tu_rng_seed(41);
    const int64_t rows = 300, cols = 2048; /* several pages per panel, rows not a multiple of 16 */
    int8_t *w = malloc((size_t)(rows * cols));
    random_ternary(&rng, w, rows, cols);
    uint16_t *h = malloc((size_t)(rows * cols) * 2);
    for (int64_t i = 0; i < rows * cols; i++) h[i] = tu_f32_to_f16(tu_uniform(&rng));
    const int32_t fmts[] = {TERN_FMT_I2_S, TERN_FMT_TQ2_0, TERN_FMT_TQ1_0, TERN_FMT_F16, TERN_FMT_F16}; /* F16 copied, then Q8 */
    char path[] = "/tmp/ternary-drop-XXXXXX";
    int32_t ids[3] = {0, 151, (int32_t)rows - 1};
    float *a = malloc((size_t)(3 * cols) * 4), *b = malloc((size_t)(3 * cols) * 4);
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++) {
        const int32_t fmt = fmts[fi];
        size_t nbytes = (size_t)(rows * cols) * 2;
        uint8_t *data = fmt == TERN_FMT_F16 ? (uint8_t *)h : encode(fmt, w, rows, cols, 0.5f, &nbytes);
        const uint32_t q8 = fmt == TERN_FMT_F16 && fi % 2 ? TERN_MATRIX_FLAG_Q8 : 0;
        const int fd = mkstemp(path);
        CHECK(fd >= 0 && write(fd, data, nbytes) == (ssize_t)nbytes, "temp file");
        uint8_t *map = mmap(NULL, nbytes, PROT_READ, MAP_PRIVATE, fd, 0);
        CHECK(map != MAP_FAILED, "mmap");
        tern_matrix *m0 = NULL, *m1 = NULL;
        CHECK_OK(tern_matrix_init(NULL, fmt, data, nbytes, rows, cols, q8, &m0));
        CHECK_OK(tern_matrix_init(NULL, fmt, map, nbytes, rows, cols, q8 | TERN_MATRIX_FLAG_DROP_INPUT, &m1));
        if (m0 && m1) {
            CHECK_OK(tern_matrix_get_rows(m0, ids, 3, a));
            CHECK_OK(tern_matrix_get_rows(m1, ids, 3, b));
            CHECK(!memcmp(a, b, (size_t)(3 * cols) * 4), "format %d: DROP_INPUT changed the matrix", fmt);
            CHECK(!memcmp(map, data, nbytes), "format %d: the mapping no longer reads the file", fmt);
        }
        tern_matrix_free(m0);
        tern_matrix_free(m1);
        munmap(map, nbytes);
        close(fd);
        unlink(path);
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
        if (data != (uint8_t *)h) free(data);
    }
    tern_matrix *m = NULL;
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_F16, h, (uint64_t)(rows * cols) * 2, rows, cols,
                                  TERN_MATRIX_FLAG_BORROW | TERN_MATRIX_FLAG_DROP_INPUT, &m), TERN_E_ARG);
    CHECK_STATUS(tern_matrix_init(NULL, TERN_FMT_TERNARY_I8, w, (uint64_t)(rows * cols), rows, cols, TERN_MATRIX_FLAG_Q8, &m),
                 TERN_E_ARG);
    free(a);
    free(b);
    free(w);
    free(h);
}
