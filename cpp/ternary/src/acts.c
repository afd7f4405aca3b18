/*
 * acts.c: int8 quantisation of a batch's activations. TOKEN mode is BitLinear's per-token absmax
 * (one scale per token); Q8K mode reproduces llama.cpp's quantize_row_q8_K (one scale per 256 values)
 * so that the native engine can be checked against llama.cpp's TQ kernels.
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void tern_acts_free(tern_acts *a) {
    if (!a) return;
    tern_free_aligned(a->q);
    tern_free_aligned(a->scale);
    tern_free_aligned(a->sum);
    tern_free_aligned(a->bscale);
    tern_free_aligned(a->bsum);
    free(a);
}

int32_t tern_acts_init(int32_t max_tokens, int64_t cols, tern_acts **out) {
    if (!out) return tern_fail(TERN_E_ARG, "tern_acts_init: out is NULL");
    *out = NULL;
    if (max_tokens <= 0 || max_tokens > (1 << 20) || cols <= 0 || cols > (1LL << 24)) {
        return tern_fail(TERN_E_ARG, "tern_acts_init: max_tokens %d or cols %lld out of range", max_tokens,
                         (long long)cols);
    }
    tern_acts *a = calloc(1, sizeof *a);
    if (!a) return tern_fail(TERN_E_NOMEM, "tern_acts_init: out of memory");
    a->max_tokens = max_tokens;
    a->cols = cols;
    a->cols_pad = tern_round_up(cols, TERN_CHUNK_COLS);
    a->n_blocks = cols % TERN_Q8K_BLOCK == 0 ? (int32_t)(cols / TERN_Q8K_BLOCK) : 0;
    const size_t rows_pad = (size_t)tern_round_up(max_tokens, TERN_ACTS_ROW_PAD);
    a->q = tern_alloc(rows_pad * (size_t)a->cols_pad);
    a->scale = tern_alloc((size_t)max_tokens * sizeof(float));
    a->sum = tern_alloc((size_t)max_tokens * sizeof(int32_t));
    if (a->n_blocks) {
        a->bscale = tern_alloc((size_t)max_tokens * (size_t)a->n_blocks * sizeof(float));
        a->bsum = tern_alloc((size_t)max_tokens * (size_t)a->n_blocks * sizeof(int32_t));
    }
    if (!a->q || !a->scale || !a->sum || (a->n_blocks && (!a->bscale || !a->bsum))) {
        tern_acts_free(a);
        return tern_fail(TERN_E_NOMEM, "tern_acts_init: cannot allocate %d x %lld activations", max_tokens,
                         (long long)cols);
    }
    *out = a;
    return TERN_OK;
}

int32_t tern_acts_tokens(const tern_acts *a) { return a ? a->n_tokens : 0; }

/* ---- TOKEN mode ------------------------------------------------------------------------------------
 * act_scale = 127 / max|x|, q = round_half_even(x * act_scale) (|x * act_scale| <= 127 by construction;
 * the clamp only guards rounding), sum = sum(q). An all-zero token gets act_scale 1 and q = 0.
 * Returns 0 if the row holds NaN or Inf. */
static int quantize_token(const float *x, int64_t n, int8_t *q, float *act_scale, int32_t *sum) {
    __m256 vmax = _mm256_setzero_ps(), vbad = _mm256_setzero_ps();
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 ax = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i));
        vbad = _mm256_or_ps(vbad, _mm256_cmp_ps(ax, inf, _CMP_NLT_UQ)); /* NaN or +Inf */
        vmax = _mm256_max_ps(vmax, ax);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, vmax);
    float amax = 0.0f;
    for (int l = 0; l < 8; l++) amax = fmaxf(amax, lanes[l]);
    int bad = _mm256_movemask_ps(vbad) != 0;
    for (; i < n; i++) {
        const float ax = fabsf(x[i]);
        bad |= !(ax < INFINITY);
        amax = fmaxf(amax, ax);
    }
    if (bad) return 0;
    const float s = amax > 0.0f ? 127.0f / amax : 1.0f;
    const __m256 vs = _mm256_set1_ps(s), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    __m256i vsum = _mm256_setzero_si256();
    i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        const __m256i vi = _mm256_cvtps_epi32(v);
        vsum = _mm256_add_epi32(vsum, vi);
        /* 8 int32 -> 8 int8: pack to int16 (within 128-bit lanes), fix lane order, pack to int8 */
        __m256i p16 = _mm256_packs_epi32(vi, vi);
        p16 = _mm256_permute4x64_epi64(p16, 0x08);
        const __m128i p8 = _mm_packs_epi16(_mm256_castsi256_si128(p16), _mm256_castsi256_si128(p16));
        _mm_storel_epi64((__m128i *)(q + i), p8);
    }
    int32_t sums[8];
    _mm256_storeu_si256((__m256i *)sums, vsum);
    int32_t total = 0;
    for (int l = 0; l < 8; l++) total += sums[l];
    for (; i < n; i++) {
        float v = rintf(x[i] * s);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[i] = (int8_t)v;
        total += q[i];
    }
    *act_scale = s;
    *sum = total;
    return 1;
}

/* ---- Q8K mode: llama.cpp's quantize_row_q8_K, block by block ----------------------------------------
 * max = the value of largest magnitude (first one on ties), iscale = -127 / max,
 * q = min(127, round_half_even(iscale * x)), d = 1 / iscale; an all-zero block has d = 0 and q = 0. */
static int quantize_q8k(const float *x, int64_t n, int8_t *q, float *d, int32_t *bsum) {
    for (int64_t b = 0; b < n / TERN_Q8K_BLOCK; b++) {
        const float *xb = x + b * TERN_Q8K_BLOCK;
        int8_t *qb = q + b * TERN_Q8K_BLOCK;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < TERN_Q8K_BLOCK; j++) {
            const float ax = fabsf(xb[j]);
            if (!(ax < INFINITY)) return 0;
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax == 0.0f) {
            memset(qb, 0, TERN_Q8K_BLOCK);
            d[b] = 0.0f;
            bsum[b] = 0;
            continue;
        }
        const float iscale = -127.0f / max;
        int32_t s = 0;
        for (int j = 0; j < TERN_Q8K_BLOCK; j++) {
            const float v = rintf(iscale * xb[j]);
            qb[j] = (int8_t)(v > 127.0f ? 127.0f : v);
            s += qb[j];
        }
        d[b] = 1.0f / iscale;
        bsum[b] = s;
    }
    return 1;
}

typedef struct quant_job {
    tern_acts *a;
    const float *x;
    int32_t mode;
    _Atomic int32_t bad_token; /* first token with NaN/Inf, or -1 */
} quant_job;

static void quant_task(void *ctx, int32_t t, int32_t thread) {
    (void)thread;
    quant_job *job = ctx;
    tern_acts *a = job->a;
    const float *x = job->x + (size_t)t * (size_t)a->cols;
    int8_t *q = a->q + (size_t)t * (size_t)a->cols_pad;
    const int ok = job->mode == TERN_ACT_TOKEN
                       ? quantize_token(x, a->cols, q, &a->scale[t], &a->sum[t])
                       : quantize_q8k(x, a->cols, q, a->bscale + (size_t)t * a->n_blocks,
                                      a->bsum + (size_t)t * a->n_blocks);
    if (!ok) {
        int32_t expected = -1;
        atomic_compare_exchange_strong(&job->bad_token, &expected, t);
    }
}

int32_t tern_acts_quantize(tern_pool *pool, tern_acts *a, const float *x, int32_t n_tokens, int32_t mode) {
    if (!a || !x) return tern_fail(TERN_E_ARG, "tern_acts_quantize: NULL argument");
    if (n_tokens <= 0 || n_tokens > a->max_tokens) {
        return tern_fail(n_tokens > 0 ? TERN_E_CAPACITY : TERN_E_ARG,
                         "tern_acts_quantize: n_tokens %d outside [1, %d]", n_tokens, a->max_tokens);
    }
    if (mode != TERN_ACT_TOKEN && mode != TERN_ACT_Q8K) return tern_fail(TERN_E_ARG, "tern_acts_quantize: bad mode %d", mode);
    if (mode == TERN_ACT_Q8K && !a->n_blocks) {
        return tern_fail(TERN_E_ARG, "tern_acts_quantize: Q8K mode needs cols %% 256 == 0 (cols %lld)", (long long)a->cols);
    }
    quant_job job = {.a = a, .x = x, .mode = mode};
    atomic_store(&job.bad_token, -1);
    a->n_tokens = 0;
    tern_pool_run(n_tokens >= 4 ? pool : NULL, quant_task, &job, n_tokens);
    const int32_t bad = atomic_load(&job.bad_token);
    if (bad >= 0) return tern_fail(TERN_E_ARG, "tern_acts_quantize: token %d holds NaN or Inf", bad);
    a->n_tokens = n_tokens;
    a->mode = mode;
    return TERN_OK;
}

int32_t tern_acts_get(const tern_acts *a, int32_t t, int8_t *q, float *scales) {
    if (!a || t < 0 || t >= a->n_tokens) return tern_fail(TERN_E_ARG, "tern_acts_get: token %d not quantised", t);
    if (q) memcpy(q, a->q + (size_t)t * (size_t)a->cols_pad, (size_t)a->cols);
    if (scales) {
        if (a->mode == TERN_ACT_TOKEN) scales[0] = a->scale[t];
        else memcpy(scales, a->bscale + (size_t)t * a->n_blocks, (size_t)a->n_blocks * sizeof(float));
    }
    return TERN_OK;
}
