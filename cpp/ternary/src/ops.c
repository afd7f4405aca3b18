/*
 * ops.c: the batch-wide float ops between matmuls: RMSNorm, gated activations (SiLU, ReLU^2),
 * residual add, row softmax and argmax. AVX2 baseline code, split over the pool for large batches.
 */
#include <math.h>

#include "internal.h"
#include "simd.h"

#define ELEMS_PER_TASK (1 << 16)

/* ---- RMSNorm: y = x / sqrt(mean(x^2) + eps) * w ---------------------------------------------------- */

typedef struct norm_job {
    const float *x, *w;
    float *y;
    int32_t dim;
    float eps;
} norm_job;

static void rmsnorm_task(void *ctx, int32_t t, int32_t thread) {
    (void)thread;
    const norm_job *j = ctx;
    const float *x = j->x + (size_t)t * j->dim;
    float *y = j->y + (size_t)t * j->dim;
    const int32_t n = j->dim, n8 = n / 8 * 8;
    __m256 acc = _mm256_setzero_ps();
    for (int32_t i = 0; i < n8; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    float ss = tern_hsum256(acc);
    for (int32_t i = n8; i < n; i++) ss += x[i] * x[i];
    const float inv = 1.0f / sqrtf(ss / (float)n + j->eps);
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int32_t i = 0; i < n8; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv);
        if (j->w) v = _mm256_mul_ps(v, _mm256_loadu_ps(j->w + i));
        _mm256_storeu_ps(y + i, v);
    }
    for (int32_t i = n8; i < n; i++) y[i] = x[i] * inv * (j->w ? j->w[i] : 1.0f);
}

int32_t tern_rmsnorm(tern_pool *pool, const float *x, const float *weight, float *y, int32_t n_tokens, int32_t dim,
                     float eps) {
    if (!x || !y || n_tokens <= 0 || dim <= 0) return tern_fail(TERN_E_ARG, "tern_rmsnorm: bad argument");
    if (!(eps >= 0.0f)) return tern_fail(TERN_E_ARG, "tern_rmsnorm: eps must be >= 0");
    norm_job j = {x, weight, y, dim, eps};
    tern_pool_run(n_tokens >= 4 ? pool : NULL, rmsnorm_task, &j, n_tokens);
    return TERN_OK;
}

/* ---- element-wise: GLU and add ------------------------------------------------------------------- */

typedef struct elem_job {
    int32_t op; /* 0 silu-glu, 1 relu2-glu, 2 add */
    const float *a, *b;
    float *out;
    int64_t n;
} elem_job;

static void elem_task(void *ctx, int32_t task, int32_t thread) {
    (void)thread;
    const elem_job *j = ctx;
    const int64_t i0 = (int64_t)task * ELEMS_PER_TASK;
    const int64_t i1 = j->n - i0 < ELEMS_PER_TASK ? j->n : i0 + ELEMS_PER_TASK;
    int64_t i = i0;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= i1; i += 8) {
        const __m256 a = _mm256_loadu_ps(j->a + i), b = _mm256_loadu_ps(j->b + i);
        __m256 r;
        if (j->op == TERN_GLU_SILU) {
            /* silu(g) = g / (1 + exp(-g)) */
            const __m256 e = tern_exp256(_mm256_sub_ps(zero, a));
            r = _mm256_mul_ps(_mm256_div_ps(a, _mm256_add_ps(one, e)), b);
        } else if (j->op == TERN_GLU_RELU2) {
            const __m256 p = _mm256_max_ps(a, zero);
            r = _mm256_mul_ps(_mm256_mul_ps(p, p), b);
        } else {
            r = _mm256_add_ps(a, b);
        }
        _mm256_storeu_ps(j->out + i, r);
    }
    for (; i < i1; i++) {
        const float a = j->a[i], b = j->b[i];
        float r;
        if (j->op == TERN_GLU_SILU) r = a / (1.0f + expf(-a)) * b;
        else if (j->op == TERN_GLU_RELU2) r = (a > 0.0f ? a * a : 0.0f) * b;
        else r = a + b;
        j->out[i] = r;
    }
}

static int32_t run_elem(tern_pool *pool, int32_t op, const float *a, const float *b, float *out, int64_t n) {
    elem_job j = {op, a, b, out, n};
    const int64_t tasks = (n + ELEMS_PER_TASK - 1) / ELEMS_PER_TASK;
    if (tasks > INT32_MAX) return tern_fail(TERN_E_ARG, "element count %lld too large", (long long)n);
    tern_pool_run(pool, elem_task, &j, (int32_t)tasks);
    return TERN_OK;
}

int32_t tern_glu(tern_pool *pool, int32_t act, const float *gate, const float *up, float *out, int64_t n) {
    if (!gate || !up || !out || n < 0) return tern_fail(TERN_E_ARG, "tern_glu: bad argument");
    if (act != TERN_GLU_SILU && act != TERN_GLU_RELU2) return tern_fail(TERN_E_ARG, "tern_glu: unknown act %d", act);
    return run_elem(pool, act, gate, up, out, n);
}

int32_t tern_add(tern_pool *pool, const float *a, const float *b, float *out, int64_t n) {
    if (!a || !b || !out || n < 0) return tern_fail(TERN_E_ARG, "tern_add: bad argument");
    return run_elem(pool, 2, a, b, out, n);
}

/* ---- softmax and argmax over rows ------------------------------------------------------------------ */

/* Max of a row (NaN-free input assumed for the value; the index is the first maximum). */
static float row_max(const float *x, int32_t n) {
    const int32_t n8 = n / 8 * 8;
    float m = -INFINITY;
    if (n8) {
        __m256 vm = _mm256_set1_ps(-INFINITY);
        for (int32_t i = 0; i < n8; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
        m = tern_hmax256(vm);
    }
    for (int32_t i = n8; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* sum exp(x - m) over a row, optionally writing the exponentials to out. */
static float row_expsum(const float *x, int32_t n, float m, float *out) {
    const int32_t n8 = n / 8 * 8;
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (int32_t i = 0; i < n8; i += 8) {
        const __m256 e = tern_exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        if (out) _mm256_storeu_ps(out + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float s = tern_hsum256(acc);
    for (int32_t i = n8; i < n; i++) {
        const float e = expf(x[i] - m);
        if (out) out[i] = e;
        s += e;
    }
    return s;
}

typedef struct softmax_job {
    float *x;
    int32_t n_cols;
} softmax_job;

static void softmax_task(void *ctx, int32_t r, int32_t thread) {
    (void)thread;
    const softmax_job *j = ctx;
    float *x = j->x + (size_t)r * j->n_cols;
    const float m = row_max(x, j->n_cols);
    const float inv = 1.0f / row_expsum(x, j->n_cols, m, x);
    for (int32_t i = 0; i < j->n_cols; i++) x[i] *= inv;
}

int32_t tern_softmax(tern_pool *pool, float *x, int32_t n_rows, int32_t n_cols) {
    if (!x || n_rows <= 0 || n_cols <= 0) return tern_fail(TERN_E_ARG, "tern_softmax: bad argument");
    softmax_job j = {x, n_cols};
    tern_pool_run(pool, softmax_task, &j, n_rows);
    return TERN_OK;
}

int32_t tern_argmax(const float *x, int32_t n_rows, int32_t n_cols, int32_t *ids, float *max_prob) {
    if (!x || !ids || n_rows <= 0 || n_cols <= 0) return tern_fail(TERN_E_ARG, "tern_argmax: bad argument");
    for (int32_t r = 0; r < n_rows; r++) {
        const float *row = x + (size_t)r * n_cols;
        const float m = row_max(row, n_cols);
        int32_t best = 0;
        while (best < n_cols - 1 && !(row[best] == m)) best++;
        ids[r] = best;
        if (max_prob) max_prob[r] = 1.0f / row_expsum(row, n_cols, m, NULL);
    }
    return TERN_OK;
}
