/*
 * attention.c: one layer of multi-head attention with grouped KV heads over the cache. Writes the
 * batch's keys and values at their (seq, pos), then per KV head attends either token by token (a
 * single-token query block, as in decode: each key is scored against the group's query heads once) or
 * for a block of up to QBLOCK consecutive tokens of one sequence at once (prefill, diffusion blocks):
 * the block's query rows x 16 keys are scored as a small matrix product over a transposed key tile,
 * so each key and value is read and converted once per block instead of once per token.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "simd.h"

#define MAX_GROUP 4 /* query heads per pass over the keys (more are done in several passes) */
#define QBLOCK 8     /* query tokens per block task (fewer when a KV head serves many query heads) */
#define BLOCK_ROWS 32 /* query rows (tokens x heads of a group) a block task scores at most, unless one token has more */
#define KTILE 16     /* keys per scored tile: two 8-float vectors */

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

/* Positions a token (or a block of tokens of sequence s whose highest position is p) may see, written
 * to idx in increasing order: valid, and at or before p, or (block mask) in this batch. */
static int32_t gather_visible(const attn_job *j, int32_t s, int32_t p, int32_t *idx) {
    const tern_kv *kv = j->kv;
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
    return n;
}

/* ---- a block of tokens of one sequence ----------------------------------------------------------------
 * Rows r = (token ti, head g of the group): R = nb * group query rows. Candidate keys are the union of the
 * block's visible sets; each row then masks the keys its own token may not see. */

/* In place: r[e][c] becomes r[c][e] (an 8 x 8 float transpose in registers). */
static inline void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* One rank-1 step of a 4 x 16 product kept in registers: acc[r] += x[r][i] * (v0 | v1) for the four rows. */
static inline __attribute__((always_inline)) void rank1_4x16(__m256 acc[4][2], const float *const *x, int32_t i, __m256 v0, __m256 v1) {
    for (int r = 0; r < 4; r++) {
        const __m256 b = _mm256_broadcast_ss(x[r] + i);
        acc[r][0] = _mm256_fmadd_ps(b, v0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(b, v1, acc[r][1]);
    }
}

static inline __attribute__((always_inline)) void zero_4x16(__m256 acc[4][2]) {
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
}

/* s[r][i0 .. i0 + 16) = scale * q_r . K[idx[i0 + j]] for 4 rows, from the transposed tile kt [hd][16].
 * Always 4 rows (the caller repeats a row to fill a short group) so the accumulators stay in registers;
 * only the first `rows` are stored. */
static inline void score_tile(const float *const *q, int rows, const float *kt, int32_t hd, float scale, float *const *s) {
    __m256 acc[4][2];
    zero_4x16(acc);
    for (int32_t d = 0; d < hd; d++) rank1_4x16(acc, q, d, _mm256_loadu_ps(kt + (size_t)d * KTILE), _mm256_loadu_ps(kt + (size_t)d * KTILE + 8));
    const __m256 vs = _mm256_set1_ps(scale);
    for (int r = 0; r < 4; r++) { /* a constant trip count keeps acc[] in registers */
        if (r >= rows) break;
        _mm256_storeu_ps(s[r], _mm256_mul_ps(acc[r][0], vs));
        _mm256_storeu_ps(s[r] + 8, _mm256_mul_ps(acc[r][1], vs));
    }
}

/* o_r[d .. d + 16) = sum_i w_r[i] V[idx[i]][d ..] for 4 weight rows (repeated to fill, as above); `two`:
 * 16 dims, else 8. */
static inline void weigh_values(const float *const *w, int32_t n, const int32_t *idx, const uint8_t *vbase, size_t row_bytes,
                                int is_f16, int32_t d, int two, __m256 out[4][2]) {
    __m256 acc[4][2]; /* a local array (not `out`) so the accumulators live in registers across the loop */
    zero_4x16(acc);
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *vr = vbase + (size_t)idx[i] * row_bytes;
        rank1_4x16(acc, w, i, load8(vr, is_f16, d), two ? load8(vr, is_f16, d + 8) : _mm256_setzero_ps());
    }
    memcpy(out, acc, sizeof acc);
}

/* Unnormalised softmax weights in place, s[i] = exp(s[i] - mx); returns 1 / their sum. */
static float exp_weights(float *s, int32_t n, float mx) {
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = tern_exp256(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
        _mm256_storeu_ps(s + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = tern_hsum256(vsum);
    for (; i < n; i++) {
        s[i] = expf(s[i] - mx);
        sum += s[i];
    }
    return 1.0f / sum;
}

/* ---- one token (decode) -------------------------------------------------------------------------- */

static void attn_task(void *ctx, int32_t task, int32_t thread) {
    const attn_job *j = ctx;
    const tern_kv *kv = j->kv;
    const int32_t hd = kv->head_dim, n_kv = kv->n_kv_heads;
    const int32_t t = task / n_kv, h = task % n_kv;
    const int32_t s = j->seq[t], p = j->pos[t];
    const int is_f16 = kv->dtype == TERN_KV_F16;
    const size_t row_bytes = (size_t)hd * kv->esize;

    /* scratch: idx [n_ctx] int32, scores [MAX_GROUP][n_ctx] */
    int32_t *idx = (int32_t *)j->scratch[thread];
    float *scores = (float *)(idx + kv->n_ctx);

    const int32_t n = gather_visible(j, s, p, idx);

    const uint8_t *kbase = kv->k + tern_kv_offset(kv, j->layer, s, h, 0);
    const uint8_t *vbase = kv->v + tern_kv_offset(kv, j->layer, s, h, 0);
    for (int32_t g0 = 0; g0 < j->group; g0 += MAX_GROUP) {
        const int32_t ng = j->group - g0 < MAX_GROUP ? j->group - g0 : MAX_GROUP;
        /* four query rows always (a short group repeats its first) so the accumulators stay in registers */
        const float *q[4];
        for (int32_t r = 0; r < 4; r++) q[r] = j->q + ((size_t)t * j->n_heads + (size_t)h * j->group + g0 + (r < ng ? r : 0)) * hd;

        /* scores[g][i] = scale * q_g . K[idx[i]] */
        for (int32_t i = 0; i < n; i++) {
            const uint8_t *kr = kbase + (size_t)idx[i] * row_bytes;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int32_t d = 0; d < hd; d += 8) {
                const __m256 kd = load8(kr, is_f16, d);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q[0] + d), kd, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q[1] + d), kd, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q[2] + d), kd, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q[3] + d), kd, a3);
            }
            const __m256 a[4] = {a0, a1, a2, a3};
            for (int32_t g = 0; g < ng; g++) scores[(size_t)g * kv->n_ctx + i] = j->scale * tern_hsum256(a[g]);
        }

        /* softmax weights, unnormalised: e = exp(score - max); sum kept for the end */
        float inv_sum[MAX_GROUP];
        for (int32_t g = 0; g < ng; g++) {
            float *sc = scores + (size_t)g * kv->n_ctx;
            float m = -INFINITY;
            for (int32_t i = 0; i < n; i++) m = sc[i] > m ? sc[i] : m;
            inv_sum[g] = exp_weights(sc, n, m);
        }

        /* o_g = sum_i e_gi V[idx[i]] / sum_g, 16 dims of four rows at a time in registers */
        const float *w[4];
        for (int32_t r = 0; r < 4; r++) w[r] = scores + (size_t)(r < ng ? r : 0) * kv->n_ctx;
        for (int32_t d = 0; d < hd; d += 16) {
            const int two = d + 16 <= hd;
            __m256 acc[4][2];
            weigh_values(w, n, idx, vbase, row_bytes, is_f16, d, two, acc);
            for (int32_t g = 0; g < ng; g++) {
                float *o = j->out + ((size_t)t * j->n_heads + (size_t)h * j->group + g0 + g) * hd + d;
                const __m256 inv = _mm256_set1_ps(inv_sum[g]);
                _mm256_storeu_ps(o, _mm256_mul_ps(acc[g][0], inv));
                if (two) _mm256_storeu_ps(o + 8, _mm256_mul_ps(acc[g][1], inv));
            }
        }
    }
}

static void attn_block_task(void *ctx, int32_t task, int32_t thread) {
    const attn_job *j = ctx;
    const tern_kv *kv = j->kv;
    const int32_t hd = kv->head_dim, n_kv = kv->n_kv_heads, G = j->group;
    const int32_t b = task / n_kv, h = task % n_kv;
    const int32_t t0 = kv->blocks[b], nb = kv->blocks[b + 1] - t0, R = nb * G;
    const int32_t s = j->seq[t0];
    const int is_f16 = kv->dtype == TERN_KV_F16;
    const size_t row_bytes = (size_t)hd * kv->esize;
    int32_t pmax = 0;
    for (int32_t ti = 0; ti < nb; ti++) pmax = j->pos[t0 + ti] > pmax ? j->pos[t0 + ti] : pmax;

    /* scratch: idx [n_ctx], kt [hd][16], scores [R][n_pad], inv_sum [R] */
    const int32_t n_pad = (int32_t)tern_round_up(kv->n_ctx, KTILE);
    int32_t *idx = (int32_t *)j->scratch[thread];
    float *kt = (float *)(idx + n_pad);
    float *scores = kt + (size_t)hd * KTILE;
    float *inv_sum = scores + (size_t)R * n_pad;
    const int32_t n = gather_visible(j, s, pmax, idx);
    const uint8_t *kbase = kv->k + tern_kv_offset(kv, j->layer, s, h, 0);
    const uint8_t *vbase = kv->v + tern_kv_offset(kv, j->layer, s, h, 0);

    /* scores, 16 keys x 4 rows at a time */
    for (int32_t i0 = 0; i0 < n; i0 += KTILE) {
        const int32_t m = n - i0 < KTILE ? n - i0 : KTILE;
        /* kt [hd][16]: the tile's keys transposed, 8 keys x 8 dims at a time; zeros past the last key */
        for (int32_t j0 = 0; j0 < KTILE; j0 += 8) {
            const uint8_t *kr[8];
            for (int e = 0; e < 8; e++) kr[e] = j0 + e < m ? kbase + (size_t)idx[i0 + j0 + e] * row_bytes : NULL;
            for (int32_t d = 0; d < hd; d += 8) {
                __m256 r[8];
                for (int e = 0; e < 8; e++) r[e] = kr[e] ? load8(kr[e], is_f16, d) : _mm256_setzero_ps();
                transpose8(r);
                for (int e = 0; e < 8; e++) _mm256_storeu_ps(kt + (size_t)(d + e) * KTILE + j0, r[e]);
            }
        }
        for (int32_t r0 = 0; r0 < R; r0 += 4) {
            const int rows = R - r0 < 4 ? R - r0 : 4;
            const float *q[4];
            float *srow[4];
            for (int r = 0; r < 4; r++) {
                const int32_t rr = r0 + (r < rows ? r : 0);
                const int32_t ti = rr / G, g = rr % G;
                q[r] = j->q + ((size_t)(t0 + ti) * j->n_heads + (size_t)h * G + g) * hd;
                srow[r] = scores + (size_t)rr * n_pad + i0;
            }
            score_tile(q, rows, kt, hd, j->scale, srow);
        }
    }

    /* per row: mask the keys its token may not see, then unnormalised softmax weights */
    const uint32_t *stamp = kv->stamp + (size_t)s * kv->n_ctx;
    for (int32_t r = 0; r < R; r++) {
        const int32_t p = j->pos[t0 + r / G];
        float *sr = scores + (size_t)r * n_pad;
        float mx = -INFINITY;
        for (int32_t i = 0; i < n; i++) {
            const int32_t pp = idx[i];
            if (pp > p && !(j->mask == TERN_MASK_BLOCK && stamp[pp] == kv->epoch)) sr[i] = -INFINITY;
            mx = sr[i] > mx ? sr[i] : mx;
        }
        inv_sum[r] = exp_weights(sr, n, mx); /* exp(-inf - mx) is 0: masked keys get no weight */
    }

    /* out_r = sum_i w_ri V[idx[i]] / sum_r: 4 rows x 16 dims of accumulators, each value row read once per 4 rows */
    for (int32_t r0 = 0; r0 < R; r0 += 4) {
        const int rows = R - r0 < 4 ? R - r0 : 4;
        const float *w[4];
        for (int r = 0; r < 4; r++) w[r] = scores + (size_t)(r0 + (r < rows ? r : 0)) * n_pad;
        for (int32_t d = 0; d < hd; d += 16) {
            const int two = d + 16 <= hd;
            __m256 acc[4][2];
            weigh_values(w, n, idx, vbase, row_bytes, is_f16, d, two, acc);
            for (int r = 0; r < rows; r++) {
                const int32_t ti = (r0 + r) / G, g = (r0 + r) % G;
                float *o = j->out + ((size_t)(t0 + ti) * j->n_heads + (size_t)h * G + g) * hd + d;
                const __m256 inv = _mm256_set1_ps(inv_sum[r0 + r]);
                _mm256_storeu_ps(o, _mm256_mul_ps(acc[r][0], inv));
                if (two) _mm256_storeu_ps(o + 8, _mm256_mul_ps(acc[r][1], inv));
            }
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

    /* Query blocks: runs of consecutive tokens of one sequence, at most QBLOCK (and BLOCK_ROWS rows) each. */
    const int32_t group = n_heads / n_kv;
    const int32_t per_block = BLOCK_ROWS / group > QBLOCK ? QBLOCK : BLOCK_ROWS / group > 1 ? BLOCK_ROWS / group : 1;
    if (kv->block_cap < n_tokens) {
        int32_t *blocks = realloc(kv->blocks, ((size_t)n_tokens + 1) * sizeof(int32_t));
        if (!blocks) return tern_fail(TERN_E_NOMEM, "tern_attention: cannot allocate %d query blocks", n_tokens);
        kv->blocks = blocks;
        kv->block_cap = n_tokens;
    }
    int32_t n_blocks = 0;
    for (int32_t t = 0; t < n_tokens; t++) {
        if (t == 0 || seq_ids[t] != seq_ids[t - 1] || t - kv->blocks[n_blocks - 1] == per_block) kv->blocks[n_blocks++] = t;
    }
    kv->blocks[n_blocks] = n_tokens;
    /* token by token when no block holds two tokens (decode steps, mixed-sequence batches) */
    const int blocked = n_blocks < n_tokens;

    const int32_t n_pad = (int32_t)tern_round_up(kv->n_ctx, KTILE);
    const int32_t rows = per_block * group;
    const size_t scratch = blocked ? (size_t)n_pad * sizeof(int32_t) + (size_t)hd * KTILE * sizeof(float) +
                                         (size_t)rows * n_pad * sizeof(float) + (size_t)rows * sizeof(float)
                                   : (size_t)kv->n_ctx * sizeof(int32_t) + (size_t)MAX_GROUP * kv->n_ctx * sizeof(float);
    int32_t st = tern_pool_reserve(pool, scratch);
    if (st != TERN_OK) return st;
    attn_job j = {kv, layer, q, seq_ids, positions, n_heads, group, scale, mask, out, pool->scratch};
    if (blocked) tern_pool_run(pool, attn_block_task, &j, n_blocks * n_kv);
    else tern_pool_run(pool, attn_task, &j, n_tokens * n_kv);
    return TERN_OK;
}
