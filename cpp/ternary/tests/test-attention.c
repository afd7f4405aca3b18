/*
 * test-attention.c: tern_attention and the KV-cache edits against a brute-force double-precision model
 * of the same semantics kept by the test (which entries exist, which a token may see).
 * Tolerance TOL_ATTN = 1e-5 of the largest |V| (f32 dot products of <= 128 terms, softmax, weighted sum);
 * with an F16 cache the reference rounds K and V to half the same way (F16C, round to nearest even).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test-util.h"

#define TOL_ATTN 1e-5

typedef struct model {
    int32_t layers, seqs, ctx, n_kv, hd, n_heads, f16;
    float *k, *v;   /* [layer][seq][pos][n_kv * hd], values as stored (rounded when f16) */
    uint8_t *valid; /* [layer][seq][pos] */
    tern_kv *kv;
    tern_pool *pool;
    tu_rng rng;
} model;

static size_t cell(const model *m, int32_t l, int32_t s, int32_t p) { return ((size_t)l * m->seqs + s) * m->ctx + p; }

static model model_init(int32_t n_heads, int32_t n_kv, int32_t hd, int f16, int32_t threads) {
    model m = {2, 3, 64, n_kv, hd, n_heads, f16, NULL, NULL, NULL, NULL, NULL, tu_rng_seed(30 + f16 + n_heads)};
    const size_t cells = (size_t)m.layers * m.seqs * m.ctx;
    m.k = calloc(cells * n_kv * hd, 4);
    m.v = calloc(cells * n_kv * hd, 4);
    m.valid = calloc(cells, 1);
    CHECK_OK(tern_kv_init(m.layers, m.seqs, m.ctx, n_kv, hd, f16 ? TERN_KV_F16 : TERN_KV_F32, &m.kv));
    CHECK_OK(tern_pool_init(threads, TERN_KERNELS_AUTO, &m.pool));
    return m;
}

static void model_free(model *m) {
    free(m->k);
    free(m->v);
    free(m->valid);
    tern_kv_free(m->kv);
    tern_pool_free(m->pool);
}

/* Runs one batch through the library and the reference; q/k/v random unless given. */
static void run_batch(model *m, int32_t layer, int32_t T, const int32_t *seq, const int32_t *pos, int32_t mask,
                      const float *q_in, const float *k_in, const float *v_in, float *out_lib) {
    const int32_t qd = m->n_heads * m->hd, kd = m->n_kv * m->hd;
    float *q = malloc((size_t)T * qd * 4), *k = malloc((size_t)T * kd * 4), *v = malloc((size_t)T * kd * 4);
    float *out = out_lib ? out_lib : malloc((size_t)T * qd * 4);
    for (int32_t i = 0; i < T * qd; i++) q[i] = q_in ? q_in[i] : tu_uniform(&m->rng);
    for (int32_t i = 0; i < T * kd; i++) {
        k[i] = k_in ? k_in[i] : tu_uniform(&m->rng);
        v[i] = v_in ? v_in[i] : tu_uniform(&m->rng) * 3;
    }
    const float scale = 1.0f / sqrtf((float)m->hd);
    CHECK_OK(tern_attention(m->pool, m->kv, layer, q, k, v, T, seq, pos, m->n_heads, scale, mask, out));

    /* reference: write, then attend */
    for (int32_t t = 0; t < T; t++) {
        const size_t c = cell(m, layer, seq[t], pos[t]);
        for (int32_t i = 0; i < kd; i++) {
            m->k[c * kd + i] = m->f16 ? tu_f16_to_f32(tu_f32_to_f16(k[t * kd + i])) : k[t * kd + i];
            m->v[c * kd + i] = m->f16 ? tu_f16_to_f32(tu_f32_to_f16(v[t * kd + i])) : v[t * kd + i];
        }
        m->valid[c] = 1;
    }
    int bad = 0;
    double vmax = 0;
    for (size_t i = 0; i < (size_t)m->layers * m->seqs * m->ctx * kd; i++) vmax = fmax(vmax, fabs(m->v[i]));
    const int32_t group = m->n_heads / m->n_kv;
    double *w = malloc((size_t)m->ctx * sizeof(double));
    for (int32_t t = 0; t < T; t++) {
        for (int32_t h = 0; h < m->n_heads; h++) {
            const int32_t kh = h / group;
            double mx = -INFINITY, sum = 0;
            for (int32_t p = 0; p < m->ctx; p++) {
                int visible = m->valid[cell(m, layer, seq[t], p)] && p <= pos[t];
                if (mask == TERN_MASK_BLOCK) {
                    for (int32_t u = 0; u < T; u++) visible |= seq[u] == seq[t] && pos[u] == p;
                }
                w[p] = -INFINITY;
                if (!visible) continue;
                double dot = 0;
                for (int32_t d = 0; d < m->hd; d++) {
                    dot += (double)q[t * qd + h * m->hd + d] * m->k[cell(m, layer, seq[t], p) * kd + kh * m->hd + d];
                }
                w[p] = dot * scale;
                mx = fmax(mx, w[p]);
            }
            for (int32_t p = 0; p < m->ctx; p++) {
                w[p] = w[p] == -INFINITY ? 0 : exp(w[p] - mx);
                sum += w[p];
            }
            for (int32_t d = 0; d < m->hd; d++) {
                double o = 0;
                for (int32_t p = 0; p < m->ctx; p++) {
                    if (w[p] != 0) o += w[p] * m->v[cell(m, layer, seq[t], p) * kd + kh * m->hd + d];
                }
                o /= sum;
                bad += fabs(out[t * qd + h * m->hd + d] - o) > TOL_ATTN * vmax;
            }
        }
    }
    CHECK(bad == 0, "attention layer %d T=%d mask %d f16=%d heads %d/%d: %d values outside TOL_ATTN", layer, T, mask,
          m->f16, m->n_heads, m->n_kv, bad);
    free(w);
    free(q);
    free(k);
    free(v);
    if (!out_lib) free(out);
}

static void model_rm(model *m, int32_t seq, int32_t p0, int32_t p1) {
    CHECK_OK(tern_kv_seq_rm(m->kv, seq, p0, p1));
    for (int32_t l = 0; l < m->layers; l++)
        for (int32_t s = 0; s < m->seqs; s++)
            for (int32_t p = 0; p < m->ctx; p++)
                if ((seq < 0 || s == seq) && p >= p0 && (p1 < 0 || p < p1)) m->valid[cell(m, l, s, p)] = 0;
}

static void model_cp(model *m, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    CHECK_OK(tern_kv_seq_cp(m->kv, src, dst, p0, p1));
    const int32_t kd = m->n_kv * m->hd;
    for (int32_t l = 0; l < m->layers; l++) {
        for (int32_t p = p0; p < (p1 < 0 ? m->ctx : p1); p++) {
            const size_t cs = cell(m, l, src, p), cd = cell(m, l, dst, p);
            m->valid[cd] = m->valid[cs];
            memcpy(m->k + cd * kd, m->k + cs * kd, (size_t)kd * 4);
            memcpy(m->v + cd * kd, m->v + cs * kd, (size_t)kd * 4);
        }
    }
}

static int32_t pos_max(model *m, int32_t seq) {
    int32_t p = -2;
    CHECK_OK(tern_kv_seq_pos_max(m->kv, seq, &p));
    return p;
}

static void scenario(int32_t n_heads, int32_t n_kv, int32_t hd, int f16, int32_t threads) {
    model m = model_init(n_heads, n_kv, hd, f16, threads);
    if (!m.kv || !m.pool) {
        model_free(&m);
        return;
    }
    int32_t seq[16], pos[16];
    /* prefill seq 0, positions 0..9, on both layers */
    for (int32_t t = 0; t < 10; t++) { seq[t] = 0; pos[t] = t; }
    for (int32_t l = 0; l < 2; l++) run_batch(&m, l, 10, seq, pos, TERN_MASK_CAUSAL, NULL, NULL, NULL, NULL);
    CHECK(pos_max(&m, 0) == 9 && pos_max(&m, 1) == -1, "pos_max after prefill");
    /* mixed batch: seq 1 prefill 0..4 and seq 0 decode at 10 */
    for (int32_t t = 0; t < 5; t++) { seq[t] = 1; pos[t] = t; }
    seq[5] = 0; pos[5] = 10;
    for (int32_t l = 0; l < 2; l++) run_batch(&m, l, 6, seq, pos, TERN_MASK_CAUSAL, NULL, NULL, NULL, NULL);
    /* block diffusion: seq 0 positions 11..14 see each other */
    for (int32_t t = 0; t < 4; t++) { seq[t] = 0; pos[t] = 11 + t; }
    for (int32_t l = 0; l < 2; l++) run_batch(&m, l, 4, seq, pos, TERN_MASK_BLOCK, NULL, NULL, NULL, NULL);
    /* re-decode 11..12 in block mode: the stale 13..14 stay in the cache but are not visible */
    for (int32_t l = 0; l < 2; l++) run_batch(&m, l, 2, seq, pos, TERN_MASK_BLOCK, NULL, NULL, NULL, NULL);
    /* the same positions in unsorted order, mixed with another sequence */
    seq[0] = 0; pos[0] = 12; seq[1] = 1; pos[1] = 5; seq[2] = 0; pos[2] = 11; seq[3] = 1; pos[3] = 6;
    for (int32_t l = 0; l < 2; l++) run_batch(&m, l, 4, seq, pos, TERN_MASK_BLOCK, NULL, NULL, NULL, NULL);
    CHECK(pos_max(&m, 0) == 14, "pos_max with stale entries");
    /* remove a hole and the tail, then decode */
    model_rm(&m, 0, 5, 8);
    model_rm(&m, 0, 13, -1);
    CHECK(pos_max(&m, 0) == 12, "pos_max after rm: %d", pos_max(&m, 0));
    seq[0] = 0; pos[0] = 13;
    for (int32_t l = 0; l < 2; l++) run_batch(&m, l, 1, seq, pos, TERN_MASK_CAUSAL, NULL, NULL, NULL, NULL);
    /* copy seq 0 to seq 2: the same inputs give the same outputs */
    model_cp(&m, 0, 2, 0, -1);
    CHECK(pos_max(&m, 2) == 13, "pos_max after cp");
    const int32_t qd = n_heads * hd, kd = n_kv * hd;
    float *q = malloc((size_t)qd * 4), *k = malloc((size_t)kd * 4), *v = malloc((size_t)kd * 4);
    float *o0 = malloc((size_t)qd * 4), *o2 = malloc((size_t)qd * 4);
    for (int32_t i = 0; i < qd; i++) q[i] = tu_uniform(&m.rng);
    for (int32_t i = 0; i < kd; i++) { k[i] = tu_uniform(&m.rng); v[i] = tu_uniform(&m.rng); }
    seq[0] = 0; pos[0] = 14;
    run_batch(&m, 1, 1, seq, pos, TERN_MASK_CAUSAL, q, k, v, o0);
    seq[0] = 2;
    run_batch(&m, 1, 1, seq, pos, TERN_MASK_CAUSAL, q, k, v, o2);
    CHECK(!memcmp(o0, o2, (size_t)qd * 4), "copied sequence attends differently");
    free(q); free(k); free(v); free(o0); free(o2);
    /* clear everything */
    model_rm(&m, -1, 0, -1);
    CHECK(pos_max(&m, 0) == -1 && pos_max(&m, 2) == -1, "rm all");
    seq[0] = 1; pos[0] = 63;
    run_batch(&m, 0, 1, seq, pos, TERN_MASK_CAUSAL, NULL, NULL, NULL, NULL);
    CHECK_OK(tern_kv_clear(m.kv));
    CHECK(pos_max(&m, 1) == -1, "clear");
    model_free(&m);
}

/* Batches long enough for query blocks: a 40-token prefill, a 20-token diffusion block, interleaved
 * sequences, then single tokens on top. */
static void scenario_long(int32_t n_heads, int32_t n_kv, int32_t hd, int f16) {
    model m = model_init(n_heads, n_kv, hd, f16, 2);
    if (!m.kv || !m.pool) {
        model_free(&m);
        return;
    }
    int32_t seq[40], pos[40];
    for (int32_t t = 0; t < 40; t++) { seq[t] = 0; pos[t] = t; }
    run_batch(&m, 0, 40, seq, pos, TERN_MASK_CAUSAL, NULL, NULL, NULL, NULL);
    for (int32_t t = 0; t < 20; t++) { seq[t] = 0; pos[t] = 40 + t; }
    run_batch(&m, 0, 20, seq, pos, TERN_MASK_BLOCK, NULL, NULL, NULL, NULL);
    model_rm(&m, 0, 40, -1);
    for (int32_t t = 0; t < 20; t++) { seq[t] = 0; pos[t] = 40 + (19 - t); } /* reversed order */
    run_batch(&m, 0, 20, seq, pos, TERN_MASK_CAUSAL, NULL, NULL, NULL, NULL);
    for (int32_t t = 0; t < 30; t++) { seq[t] = 1 + t % 2; pos[t] = t / 2; } /* two sequences, alternating */
    run_batch(&m, 0, 30, seq, pos, TERN_MASK_BLOCK, NULL, NULL, NULL, NULL);
    for (int32_t t = 0; t < 24; t++) { seq[t] = 1 + t / 12; pos[t] = 15 + t % 12; } /* two runs of 12 */
    run_batch(&m, 0, 24, seq, pos, TERN_MASK_CAUSAL, NULL, NULL, NULL, NULL);
    seq[0] = 2; pos[0] = 27; seq[1] = 1; pos[1] = 27;
    run_batch(&m, 0, 2, seq, pos, TERN_MASK_CAUSAL, NULL, NULL, NULL, NULL);
    model_free(&m);
}

void test_attention_masks_and_edits(void) {
    scenario_long(20, 5, 128, 1);
    scenario_long(8, 2, 24, 0);  /* head_dim not a multiple of 16 */
    scenario_long(12, 1, 16, 0); /* 12 query heads per KV head: fewer tokens per block */
    scenario(8, 2, 16, 0, 1);   /* group 4, f32 cache */
    scenario(8, 2, 16, 1, 2);   /* group 4, f16 cache, 2 threads */
    scenario(12, 2, 32, 0, 2);  /* group 6: two passes over the keys */
    scenario(20, 5, 128, 1, 2); /* the 2B-4T head shape */
    scenario(4, 4, 8, 0, 2);    /* plain multi-head */
}

void test_attention_errors(void) {
    tern_kv *kv = NULL;
    tern_pool *pool = NULL;
    CHECK_STATUS(tern_kv_init(1, 1, 16, 1, 12, TERN_KV_F32, &kv), TERN_E_ARG); /* head_dim % 8 */
    CHECK_STATUS(tern_kv_init(1, 1, 16, 1, 8, 5, &kv), TERN_E_ARG);
    CHECK_OK(tern_kv_init(2, 2, 16, 2, 8, TERN_KV_F16, &kv));
    CHECK_OK(tern_pool_init(1, TERN_KERNELS_AUTO, &pool));
    CHECK(tern_kv_nbytes(kv) > 0, "nbytes");
    float q[2 * 32] = {0}, k[2 * 16] = {0}, v[2 * 16] = {0}, out[2 * 32];
    int32_t seq[2] = {0, 0}, pos[2] = {3, 3};
    CHECK_STATUS(tern_attention(pool, kv, 0, q, k, v, 2, seq, pos, 4, 1.0f, TERN_MASK_CAUSAL, out), TERN_E_ARG); /* duplicate */
    pos[1] = 16;
    CHECK_STATUS(tern_attention(pool, kv, 0, q, k, v, 2, seq, pos, 4, 1.0f, TERN_MASK_CAUSAL, out), TERN_E_ARG); /* pos */
    pos[1] = 4;
    seq[1] = 2;
    CHECK_STATUS(tern_attention(pool, kv, 0, q, k, v, 2, seq, pos, 4, 1.0f, TERN_MASK_CAUSAL, out), TERN_E_ARG); /* seq */
    seq[1] = 0;
    CHECK_STATUS(tern_attention(pool, kv, 0, q, k, v, 2, seq, pos, 3, 1.0f, TERN_MASK_CAUSAL, out), TERN_E_ARG); /* heads */
    CHECK_STATUS(tern_attention(pool, kv, 2, q, k, v, 2, seq, pos, 4, 1.0f, TERN_MASK_CAUSAL, out), TERN_E_ARG); /* layer */
    CHECK_STATUS(tern_attention(pool, kv, 0, q, k, v, 2, seq, pos, 4, 1.0f, 9, out), TERN_E_ARG);                /* mask */
    int32_t p = 0;
    CHECK_OK(tern_kv_seq_pos_max(kv, 0, &p));
    CHECK(p == -1, "failed calls wrote nothing: pos_max %d", p);
    CHECK_OK(tern_attention(pool, kv, 1, q, k, v, 2, seq, pos, 4, 1.0f, TERN_MASK_CAUSAL, out));
    CHECK_OK(tern_kv_seq_pos_max(kv, 0, &p));
    CHECK(p == 4, "pos_max %d", p);
    CHECK_STATUS(tern_kv_seq_rm(kv, 5, 0, -1), TERN_E_ARG);
    CHECK_STATUS(tern_kv_seq_cp(kv, 0, 9, 0, -1), TERN_E_ARG);
    CHECK_STATUS(tern_kv_seq_pos_max(kv, -1, &p), TERN_E_ARG);
    tern_kv_free(kv);
    tern_pool_free(pool);
}
