/*
 * kv.h: the KV cache's layout, shared by kv-cache.c (the handle and its edits) and attention.c.
 */
#ifndef TERN_KV_H
#define TERN_KV_H

#include "internal.h"

struct tern_kv {
    int32_t n_layers, n_seqs, n_ctx, n_kv_heads, head_dim, dtype;
    size_t esize;     /* 4 (F32) or 2 (F16) */
    uint8_t *k, *v;   /* [n_layers][n_seqs][n_kv_heads][n_ctx][head_dim] elements */
    uint8_t *valid;   /* [n_layers][n_seqs][n_ctx]: 1 where the entry holds a written key/value */
    int32_t *hi;      /* [n_layers][n_seqs]: every valid position is < hi (an upper bound for scans) */
    uint32_t *stamp;  /* [n_seqs][n_ctx]: == epoch for the (seq, pos) pairs of the current batch */
    int32_t *batch_hi;/* [n_seqs]: 1 + highest position of the current batch in each sequence */
    int32_t *blocks;  /* [block_cap + 1]: first batch token of each query block of the current batch */
    int32_t block_cap;
    uint32_t epoch;
    uint64_t nbytes;
};

/* Byte offset of (layer, seq, head, pos) in k or v. */
static inline size_t tern_kv_offset(const tern_kv *kv, int32_t layer, int32_t seq, int32_t head, int32_t pos) {
    const size_t row = (((size_t)layer * kv->n_seqs + seq) * kv->n_kv_heads + head) * kv->n_ctx + pos;
    return row * kv->head_dim * kv->esize;
}

static inline uint8_t *tern_kv_valid(const tern_kv *kv, int32_t layer, int32_t seq) {
    return kv->valid + ((size_t)layer * kv->n_seqs + seq) * kv->n_ctx;
}

/* Lowers hi[layer][seq] to 1 + its highest valid position. */
void tern_kv_shrink_hi(tern_kv *kv, int32_t layer, int32_t seq);

#endif
