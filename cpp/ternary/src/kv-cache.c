/*
 * kv-cache.c: tern_kv, the per-layer, per-sequence-slot key/value store, and its edits (remove a
 * position range, copy a sequence's range to another slot). attention.c writes and reads it.
 */
#include <stdlib.h>
#include <string.h>

#include "kv.h"

void tern_kv_free(tern_kv *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->valid);
    free(kv->hi);
    free(kv->stamp);
    free(kv->batch_hi);
    free(kv->blocks);
    free(kv);
}

int32_t tern_kv_init(int32_t n_layers, int32_t n_seqs, int32_t n_ctx, int32_t n_kv_heads, int32_t head_dim,
                     int32_t dtype, tern_kv **out) {
    if (!out) return tern_fail(TERN_E_ARG, "tern_kv_init: out is NULL");
    *out = NULL;
    if (n_layers <= 0 || n_seqs <= 0 || n_ctx <= 0 || n_kv_heads <= 0 || head_dim <= 0 || head_dim % 8 ||
        n_layers > 4096 || n_seqs > 4096 || n_ctx > (1 << 24) || n_kv_heads > 4096 || head_dim > 4096) {
        return tern_fail(TERN_E_ARG, "tern_kv_init: layers %d, seqs %d, ctx %d, kv heads %d, head_dim %d (%% 8) out of range",
                         n_layers, n_seqs, n_ctx, n_kv_heads, head_dim);
    }
    if (dtype != TERN_KV_F32 && dtype != TERN_KV_F16) return tern_fail(TERN_E_ARG, "tern_kv_init: dtype %d", dtype);
    tern_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return tern_fail(TERN_E_NOMEM, "tern_kv_init: out of memory");
    kv->n_layers = n_layers;
    kv->n_seqs = n_seqs;
    kv->n_ctx = n_ctx;
    kv->n_kv_heads = n_kv_heads;
    kv->head_dim = head_dim;
    kv->dtype = dtype;
    kv->esize = dtype == TERN_KV_F32 ? 4 : 2;
    const size_t cells = (size_t)n_layers * n_seqs * n_ctx;
    if ((double)cells * n_kv_heads * head_dim * (double)kv->esize > 0x1p46) { /* 64 TiB: refuse before size_t wraps */
        tern_kv_free(kv);
        return tern_fail(TERN_E_ARG, "tern_kv_init: %d layers x %d seqs x %d ctx x %d x %d is too large", n_layers, n_seqs,
                         n_ctx, n_kv_heads, head_dim);
    }
    const size_t bytes = cells * (size_t)n_kv_heads * head_dim * kv->esize;
    /* calloc: large blocks come as untouched zero pages, so unused slots cost no memory */
    kv->k = calloc(1, bytes);
    kv->v = calloc(1, bytes);
    kv->valid = calloc(cells, 1);
    kv->hi = calloc((size_t)n_layers * n_seqs, sizeof(int32_t));
    kv->stamp = calloc((size_t)n_seqs * n_ctx, sizeof(uint32_t));
    kv->batch_hi = calloc((size_t)n_seqs, sizeof(int32_t));
    if (!kv->k || !kv->v || !kv->valid || !kv->hi || !kv->stamp || !kv->batch_hi) {
        tern_kv_free(kv);
        return tern_fail(TERN_E_NOMEM, "tern_kv_init: cannot allocate 2 x %zu bytes", bytes);
    }
    kv->nbytes = 2 * bytes + cells;
    *out = kv;
    return TERN_OK;
}

uint64_t tern_kv_nbytes(const tern_kv *kv) { return kv ? kv->nbytes : 0; }

int32_t tern_kv_clear(tern_kv *kv) {
    if (!kv) return tern_fail(TERN_E_ARG, "tern_kv_clear: kv is NULL");
    memset(kv->valid, 0, (size_t)kv->n_layers * kv->n_seqs * kv->n_ctx);
    memset(kv->hi, 0, (size_t)kv->n_layers * kv->n_seqs * sizeof(int32_t));
    return TERN_OK;
}

void tern_kv_shrink_hi(tern_kv *kv, int32_t layer, int32_t seq) {
    int32_t *hi = &kv->hi[(size_t)layer * kv->n_seqs + seq];
    const uint8_t *valid = tern_kv_valid(kv, layer, seq);
    while (*hi > 0 && !valid[*hi - 1]) (*hi)--;
}

/* Resolves p1 < 0 to n_ctx and clamps the range to [0, n_ctx]. */
static int32_t range(const tern_kv *kv, int32_t *p0, int32_t *p1, const char *fn) {
    if (*p1 < 0 || *p1 > kv->n_ctx) *p1 = kv->n_ctx;
    if (*p0 < 0) *p0 = 0;
    if (*p0 > *p1) return tern_fail(TERN_E_ARG, "%s: empty range [%d, %d)", fn, *p0, *p1);
    return TERN_OK;
}

int32_t tern_kv_seq_rm(tern_kv *kv, int32_t seq, int32_t p0, int32_t p1) {
    if (!kv || seq >= kv->n_seqs) return tern_fail(TERN_E_ARG, "tern_kv_seq_rm: bad kv or seq %d", seq);
    if (range(kv, &p0, &p1, "tern_kv_seq_rm") != TERN_OK) return TERN_E_ARG;
    const int32_t s0 = seq < 0 ? 0 : seq, s1 = seq < 0 ? kv->n_seqs : seq + 1;
    for (int32_t l = 0; l < kv->n_layers; l++) {
        for (int32_t s = s0; s < s1; s++) {
            memset(tern_kv_valid(kv, l, s) + p0, 0, (size_t)(p1 - p0));
            tern_kv_shrink_hi(kv, l, s);
        }
    }
    return TERN_OK;
}

int32_t tern_kv_seq_cp(tern_kv *kv, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    if (!kv || src < 0 || dst < 0 || src >= kv->n_seqs || dst >= kv->n_seqs) {
        return tern_fail(TERN_E_ARG, "tern_kv_seq_cp: bad kv or seq %d -> %d", src, dst);
    }
    if (range(kv, &p0, &p1, "tern_kv_seq_cp") != TERN_OK) return TERN_E_ARG;
    if (src == dst) return TERN_OK;
    const size_t row = (size_t)kv->head_dim * kv->esize;
    for (int32_t l = 0; l < kv->n_layers; l++) {
        const uint8_t *vs = tern_kv_valid(kv, l, src);
        uint8_t *vd = tern_kv_valid(kv, l, dst);
        int32_t *hi = &kv->hi[(size_t)l * kv->n_seqs + dst];
        for (int32_t p = p0; p < p1; p++) {
            vd[p] = vs[p];
            if (!vs[p]) continue;
            for (int32_t h = 0; h < kv->n_kv_heads; h++) {
                memcpy(kv->k + tern_kv_offset(kv, l, dst, h, p), kv->k + tern_kv_offset(kv, l, src, h, p), row);
                memcpy(kv->v + tern_kv_offset(kv, l, dst, h, p), kv->v + tern_kv_offset(kv, l, src, h, p), row);
            }
            if (p + 1 > *hi) *hi = p + 1;
        }
        tern_kv_shrink_hi(kv, l, dst);
    }
    return TERN_OK;
}

int32_t tern_kv_seq_pos_max(const tern_kv *kv, int32_t seq, int32_t *out) {
    if (!kv || !out || seq < 0 || seq >= kv->n_seqs) return tern_fail(TERN_E_ARG, "tern_kv_seq_pos_max: bad argument");
    const int32_t l = kv->n_layers - 1;
    const uint8_t *valid = tern_kv_valid(kv, l, seq);
    int32_t p = kv->hi[(size_t)l * kv->n_seqs + seq] - 1;
    while (p >= 0 && !valid[p]) p--;
    *out = p;
    return TERN_OK;
}
