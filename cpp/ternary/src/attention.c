/*
 * attention.c: one layer of multi-head attention with grouped KV heads over the cache. Writes the
 * batch's keys and values at their (seq, pos), then for each token and KV head gathers the visible
 * positions, scores the group's query heads against each key once, softmaxes and sums the values.
 */
#include <math.h>
#include <string.h>

#include "kv.h"
#include "simd.h"

#define MAX_GROUP 4 /* query heads per pass over the keys (more are done in several passes) */

static inline __m256 load8(const uint8_t *row, int is_f16, int32_t d) {
    if (is_f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + d)));
    return _mm256_loadu_ps((const float *)row + d);
}

static void store_row(uint8_t *dst, const float *src, int32_t n, int is_f16) {
    if (!is_f16) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    for (int32_t d = 0; d < n; d += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + d), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)((uint16_t *)dst + d), h);
    }
}

typedef struct attn_job {
    const tern_kv *kv;
    int32_t layer;
    const float *q;
    const int32_t *seq, *pos;
    int32_t n_heads, group;
    float scale;
    int32_t mask;
    float *out;
    uint8_t **scratch;
} attn_job;

static void attn_task(void *ctx, int32_t task, int32_t thread) {
    const attn_job *j = ctx;
    const tern_kv *kv = j->kv;
    const int32_t hd = kv->head_dim, n_kv = kv->n_kv_heads;
    const int32_t t = task / n_kv, h = task % n_kv;
    const int32_t s = j->seq[t], p = j->pos[t];
    const int is_f16 = kv->dtype == TERN_KV_F16;
    const size_t row_bytes = (size_t)hd * kv->esize;

    /* scratch: idx [n_ctx] int32, scores [MAX_GROUP][n_ctx], acc [MAX_GROUP][hd] */
    int32_t *idx = (int32_t *)j->scratch[thread];
    float *scores = (float *)(idx + kv->n_ctx);
    float *acc = scores + (size_t)MAX_GROUP * kv->n_ctx;

    /* visible positions: valid and at or before p, or (block mask) in this batch */
    const uint8_t *valid = tern_kv_valid(kv, j->layer, s);
    const uint32_t *stamp = kv->stamp + (size_t)s * kv->n_ctx;
    int32_t upper = p + 1;
    if (j->mask == TERN_MASK_BLOCK && kv->batch_hi[s] > upper) upper = kv->batch_hi[s];
    const int32_t hi = kv->hi[(size_t)j->layer * kv->n_seqs + s];
    if (upper > hi) upper = hi;
    int32_t n = 0;
    for (int32_t pp = 0; pp < upper; pp++) {
        if (valid[pp] && (pp <= p || stamp[pp] == kv->epoch)) idx[n++] = pp;
    }

    const uint8_t *kbase = kv->k + tern_kv_offset(kv, j->layer, s, h, 0);
    const uint8_t *vbase = kv->v + tern_kv_offset(kv, j->layer, s, h, 0);
    for (int32_t g0 = 0; g0 < j->group; g0 += MAX_GROUP) {
        const int32_t ng = j->group - g0 < MAX_GROUP ? j->group - g0 : MAX_GROUP;
        const float *q[MAX_GROUP];
        for (int32_t g = 0; g < ng; g++) q[g] = j->q + ((size_t)t * j->n_heads + (size_t)h * j->group + g0 + g) * hd;

        /* scores[g][i] = scale * q_g . K[idx[i]] */
        for (int32_t i = 0; i < n; i++) {
            const uint8_t *kr = kbase + (size_t)idx[i] * row_bytes;
            __m256 a[MAX_GROUP];
            for (int32_t g = 0; g < ng; g++) a[g] = _mm256_setzero_ps();
            for (int32_t d = 0; d < hd; d += 8) {
                const __m256 kd = load8(kr, is_f16, d);
                for (int32_t g = 0; g < ng; g++) a[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q[g] + d), kd, a[g]);
            }
            for (int32_t g = 0; g < ng; g++) scores[(size_t)g * kv->n_ctx + i] = j->scale * tern_hsum256(a[g]);
        }

        /* softmax weights, unnormalised: e = exp(score - max); sum kept for the end */
        float inv_sum[MAX_GROUP];
        for (int32_t g = 0; g < ng; g++) {
            float *sc = scores + (size_t)g * kv->n_ctx;
            float m = -INFINITY;
            for (int32_t i = 0; i < n; i++) m = sc[i] > m ? sc[i] : m;
            const __m256 vm = _mm256_set1_ps(m);
            __m256 vs = _mm256_setzero_ps();
            int32_t i = 0;
            for (; i + 8 <= n; i += 8) {
                const __m256 e = tern_exp256(_mm256_sub_ps(_mm256_loadu_ps(sc + i), vm));
                _mm256_storeu_ps(sc + i, e);
                vs = _mm256_add_ps(vs, e);
            }
            float sum = tern_hsum256(vs);
            for (; i < n; i++) {
                sc[i] = expf(sc[i] - m);
                sum += sc[i];
            }
            inv_sum[g] = 1.0f / sum;
            memset(acc + (size_t)g * hd, 0, (size_t)hd * sizeof(float));
        }

        /* acc_g = sum_i e_gi V[idx[i]] */
        for (int32_t i = 0; i < n; i++) {
            const uint8_t *vr = vbase + (size_t)idx[i] * row_bytes;
            __m256 w[MAX_GROUP];
            for (int32_t g = 0; g < ng; g++) w[g] = _mm256_set1_ps(scores[(size_t)g * kv->n_ctx + i]);
            for (int32_t d = 0; d < hd; d += 8) {
                const __m256 vd = load8(vr, is_f16, d);
                for (int32_t g = 0; g < ng; g++) {
                    float *ag = acc + (size_t)g * hd + d;
                    _mm256_storeu_ps(ag, _mm256_fmadd_ps(w[g], vd, _mm256_loadu_ps(ag)));
                }
            }
        }
        for (int32_t g = 0; g < ng; g++) {
            float *o = j->out + ((size_t)t * j->n_heads + (size_t)h * j->group + g0 + g) * hd;
            const __m256 inv = _mm256_set1_ps(inv_sum[g]);
            for (int32_t d = 0; d < hd; d += 8) _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(acc + (size_t)g * hd + d), inv));
        }
    }
}

int32_t tern_attention(tern_pool *pool, tern_kv *kv, int32_t layer, const float *q, const float *k, const float *v,
                       int32_t n_tokens, const int32_t *seq_ids, const int32_t *positions, int32_t n_heads, float scale,
                       int32_t mask, float *out) {
    if (!pool || !kv || !q || !k || !v || !seq_ids || !positions || !out || n_tokens <= 0) {
        return tern_fail(TERN_E_ARG, "tern_attention: NULL argument or n_tokens <= 0");
    }
    if (layer < 0 || layer >= kv->n_layers) return tern_fail(TERN_E_ARG, "tern_attention: layer %d outside [0, %d)", layer, kv->n_layers);
    if (n_heads <= 0 || n_heads % kv->n_kv_heads) {
        return tern_fail(TERN_E_ARG, "tern_attention: n_heads %d is not a multiple of n_kv_heads %d", n_heads, kv->n_kv_heads);
    }
    if (mask != TERN_MASK_CAUSAL && mask != TERN_MASK_BLOCK) return tern_fail(TERN_E_ARG, "tern_attention: mask %d", mask);
    if (!isfinite(scale)) return tern_fail(TERN_E_ARG, "tern_attention: scale is not finite");
    if ((int64_t)n_tokens * kv->n_kv_heads > INT32_MAX) return tern_fail(TERN_E_ARG, "tern_attention: batch too large");

    /* a new epoch marks this batch's (seq, pos) pairs; duplicates are refused before anything is written */
    if (++kv->epoch == 0) {
        memset(kv->stamp, 0, (size_t)kv->n_seqs * kv->n_ctx * sizeof(uint32_t));
        kv->epoch = 1;
    }
    memset(kv->batch_hi, 0, (size_t)kv->n_seqs * sizeof(int32_t));
    for (int32_t t = 0; t < n_tokens; t++) {
        const int32_t s = seq_ids[t], p = positions[t];
        if (s < 0 || s >= kv->n_seqs || p < 0 || p >= kv->n_ctx) {
            return tern_fail(TERN_E_ARG, "tern_attention: token %d has seq %d (of %d) / pos %d (of %d)", t, s, kv->n_seqs, p,
                             kv->n_ctx);
        }
        uint32_t *st = &kv->stamp[(size_t)s * kv->n_ctx + p];
        if (*st == kv->epoch) return tern_fail(TERN_E_ARG, "tern_attention: (seq %d, pos %d) appears twice in the batch", s, p);
        *st = kv->epoch;
        if (p + 1 > kv->batch_hi[s]) kv->batch_hi[s] = p + 1;
    }

    const int32_t hd = kv->head_dim, n_kv = kv->n_kv_heads;
    const int is_f16 = kv->dtype == TERN_KV_F16;
    for (int32_t t = 0; t < n_tokens; t++) {
        const int32_t s = seq_ids[t], p = positions[t];
        for (int32_t h = 0; h < n_kv; h++) {
            const float *kt = k + ((size_t)t * n_kv + h) * hd, *vt = v + ((size_t)t * n_kv + h) * hd;
            store_row(kv->k + tern_kv_offset(kv, layer, s, h, p), kt, hd, is_f16);
            store_row(kv->v + tern_kv_offset(kv, layer, s, h, p), vt, hd, is_f16);
        }
        tern_kv_valid(kv, layer, s)[p] = 1;
        int32_t *hi = &kv->hi[(size_t)layer * kv->n_seqs + s];
        if (p + 1 > *hi) *hi = p + 1;
    }

    const size_t scratch = (size_t)kv->n_ctx * sizeof(int32_t) + (size_t)MAX_GROUP * kv->n_ctx * sizeof(float) +
                           (size_t)MAX_GROUP * hd * sizeof(float);
    int32_t st = tern_pool_reserve(pool, scratch);
    if (st != TERN_OK) return st;
    attn_job j = {kv, layer, q, seq_ids, positions, n_heads, n_heads / n_kv, scale, mask, out, pool->scratch};
    tern_pool_run(pool, attn_task, &j, n_tokens * n_kv);
    return TERN_OK;
}
