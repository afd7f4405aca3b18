/*
 * rope.c: rotary position embedding, NEOX style (rotate-half), as BitNet and Llama use it. The cos/sin
 * table is computed once in double precision for every position of the context.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "simd.h"

struct tern_rope {
    int32_t n_rot;  /* rotated dims per head (even) */
    int32_t n_pos;  /* table rows */
    float *cos_sin; /* [n_pos][2][n_rot/2]: cos then sin of pos * base^(-2i/n_rot) */
};

int32_t tern_rope_init(int32_t n_rot, float theta_base, int32_t n_pos, int32_t mode, tern_rope **out) {
    if (!out) return tern_fail(TERN_E_ARG, "tern_rope_init: out is NULL");
    *out = NULL;
    if (mode != TERN_ROPE_EXACT && mode != TERN_ROPE_GGML) return tern_fail(TERN_E_ARG, "tern_rope_init: mode %d", mode);
    if (n_rot <= 0 || n_rot % 2 || n_rot > 4096 || n_pos <= 0 || n_pos > (1 << 24) || !(theta_base > 0.0f)) {
        return tern_fail(TERN_E_ARG, "tern_rope_init: n_rot %d (even, <= 4096), n_pos %d or base %g out of range", n_rot,
                         n_pos, (double)theta_base);
    }
    tern_rope *r = calloc(1, sizeof *r);
    const int32_t half = n_rot / 2;
    if (r) r->cos_sin = tern_alloc((size_t)n_pos * (size_t)n_rot * sizeof(float));
    if (!r || !r->cos_sin) {
        free(r);
        return tern_fail(TERN_E_NOMEM, "tern_rope_init: cannot allocate a %d x %d table", n_pos, n_rot);
    }
    r->n_rot = n_rot;
    r->n_pos = n_pos;
    double *freq = malloc((size_t)half * sizeof(double));
    if (!freq) {
        tern_rope_free(r);
        return tern_fail(TERN_E_NOMEM, "tern_rope_init: out of memory");
    }
    for (int32_t i = 0; i < half; i++) freq[i] = pow((double)theta_base, -2.0 * i / n_rot);
    /* ggml_rope_cache_init: theta starts at the position and is multiplied by theta_scale per pair, in float */
    const float theta_scale = powf(theta_base, -2.0f / (float)n_rot);
    for (int32_t p = 0; p < n_pos; p++) {
        float *row = r->cos_sin + (size_t)p * n_rot;
        float theta = (float)p;
        for (int32_t i = 0; i < half; i++) {
            if (mode == TERN_ROPE_GGML) {
                row[i] = cosf(theta);
                row[half + i] = sinf(theta);
                theta *= theta_scale;
            } else {
                const double th = p * freq[i];
                row[i] = (float)cos(th);
                row[half + i] = (float)sin(th);
            }
        }
    }
    free(freq);
    *out = r;
    return TERN_OK;
}

void tern_rope_free(tern_rope *r) {
    if (!r) return;
    tern_free_aligned(r->cos_sin);
    free(r);
}

typedef struct rope_job {
    const tern_rope *r;
    float *x;
    int32_t n_heads, head_dim;
    const int32_t *pos;
} rope_job;

static void rope_task(void *ctx, int32_t t, int32_t thread) {
    (void)thread;
    const rope_job *j = ctx;
    const int32_t half = j->r->n_rot / 2, h8 = half / 8 * 8;
    const float *cs = j->r->cos_sin + (size_t)j->pos[t] * j->r->n_rot;
    const float *sn = cs + half;
    for (int32_t h = 0; h < j->n_heads; h++) {
        float *x = j->x + ((size_t)t * j->n_heads + h) * j->head_dim;
        int32_t i = 0;
        for (; i < h8; i += 8) {
            const __m256 c = _mm256_loadu_ps(cs + i), s = _mm256_loadu_ps(sn + i);
            const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + half + i);
            _mm256_storeu_ps(x + i, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
            _mm256_storeu_ps(x + half + i, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
        }
        for (; i < half; i++) {
            const float x0 = x[i], x1 = x[half + i];
            x[i] = x0 * cs[i] - x1 * sn[i];
            x[half + i] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

int32_t tern_rope_apply(tern_pool *pool, const tern_rope *r, float *x, int32_t n_tokens, int32_t n_heads,
                        int32_t head_dim, const int32_t *positions) {
    if (!r || !x || !positions || n_tokens <= 0 || n_heads <= 0) return tern_fail(TERN_E_ARG, "tern_rope_apply: bad argument");
    if (head_dim < r->n_rot) return tern_fail(TERN_E_ARG, "tern_rope_apply: head_dim %d < n_rot %d", head_dim, r->n_rot);
    for (int32_t t = 0; t < n_tokens; t++) {
        if (positions[t] < 0 || positions[t] >= r->n_pos) {
            return tern_fail(TERN_E_ARG, "tern_rope_apply: position %d of token %d outside [0, %d)", positions[t], t,
                             r->n_pos);
        }
    }
    rope_job j = {r, x, n_heads, head_dim, positions};
    tern_pool_run(n_tokens >= 4 ? pool : NULL, rope_task, &j, n_tokens);
    return TERN_OK;
}
