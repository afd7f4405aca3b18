// decode.cpp: decoding batches, reading logits, attention mode, threads and KV-cache edits.
// llama.cpp asserts (aborts) on several bad inputs here, so every one is checked first.

#include "shim-internal.h"

#include <string>

using lshim::check_context;
using lshim::check_seq;
using lshim::check_token;
using lshim::fail;
using lshim::guarded;

// ============================================================================================
// Decoding
// ============================================================================================

extern "C" int32_t lshim_decode(lshim_model *m, const int32_t *tokens, const int32_t *positions, const int32_t *seq_ids,
                                const int8_t *want_logits, int32_t n, int32_t *out_n_outputs) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_context(__func__, m);
        if (st != LSHIM_OK) return st;
        if (!tokens || !positions || !seq_ids || !want_logits || !out_n_outputs) {
            return fail(LSHIM_E_INVALID_ARG, "lshim_decode: an array or out_n_outputs is NULL");
        }
        *out_n_outputs = 0;
        if (n <= 0) return fail(LSHIM_E_INVALID_ARG, "lshim_decode: empty batch (n = %d)", n);
        if (n > m->batch_cap) {
            return fail(LSHIM_E_BATCH_TOO_LARGE, "lshim_decode: %d tokens exceed n_batch = %d", n, m->batch_cap);
        }
        // llama.cpp asserts (aborts) on this one instead of returning an error
        const int32_t n_ubatch = (int32_t) llama_n_ubatch(m->ctx);
        if (!m->causal && n > n_ubatch) {
            return fail(LSHIM_E_BATCH_TOO_LARGE, "lshim_decode: %d tokens exceed n_ubatch = %d, the limit without causal attention",
                        n, n_ubatch);
        }

        llama_batch &b = m->batch;
        int32_t n_outputs = 0;
        for (int32_t i = 0; i < n; i++) {
            st = check_token(__func__, m, tokens[i]);
            if (st == LSHIM_OK) st = check_seq(__func__, m, seq_ids[i]);
            if (st != LSHIM_OK) return st;
            if (positions[i] < 0) return fail(LSHIM_E_INVALID_ARG, "lshim_decode: position %d of token %d is negative", positions[i], i);
            b.token[i] = tokens[i];
            b.pos[i] = positions[i];
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = seq_ids[i];
            b.logits[i] = want_logits[i] != 0;
            n_outputs += want_logits[i] != 0;
        }
        b.n_tokens = n;

        m->n_outputs = 0;
        lshim::log_capture capture;
        const int32_t rc = llama_decode(m->ctx, b);
        if (rc == 0) {
            m->n_outputs = n_outputs;
            *out_n_outputs = n_outputs;
            return LSHIM_OK;
        }
        const std::string why = capture.suffix();
        switch (rc) {
            case 1: return fail(LSHIM_E_NO_KV_SLOT, "lshim_decode: no room in the KV cache for %d tokens%s", n, why.c_str());
            case 2: return fail(LSHIM_E_ABORTED, "lshim_decode: aborted%s", why.c_str());
            case -1: return fail(LSHIM_E_INVALID_ARG, "lshim_decode: llama.cpp rejected the batch%s", why.c_str());
            default: return fail(LSHIM_E_DECODE, "lshim_decode: llama_decode returned %d%s", rc, why.c_str());
        }
    });
}

extern "C" int32_t lshim_logits(lshim_model *m, float **out_logits, int32_t *out_rows) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_context(__func__, m);
        if (st != LSHIM_OK) return st;
        if (!out_logits || !out_rows) return fail(LSHIM_E_INVALID_ARG, "lshim_logits: out_logits or out_rows is NULL");
        *out_logits = nullptr;
        *out_rows = 0;
        if (m->n_outputs == 0) return LSHIM_OK;
        float *logits = llama_get_logits(m->ctx);
        if (!logits) return fail(LSHIM_E_DECODE, "lshim_logits: llama.cpp has no logits");
        *out_logits = logits;
        *out_rows = m->n_outputs;
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_set_causal(lshim_model *m, int32_t causal) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_context(__func__, m);
        if (st != LSHIM_OK) return st;
        m->causal = causal != 0;
        llama_set_causal_attn(m->ctx, m->causal);
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_set_threads(lshim_model *m, int32_t n_threads, int32_t n_threads_batch) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_context(__func__, m);
        if (st != LSHIM_OK) return st;
        const int32_t gen = n_threads > 0 ? n_threads : llama_n_threads(m->ctx);
        const int32_t bat = n_threads_batch > 0 ? n_threads_batch : llama_n_threads_batch(m->ctx);
        llama_set_n_threads(m->ctx, gen, bat);
        return LSHIM_OK;
    });
}

// ============================================================================================
// KV cache (llama.cpp asserts on out-of-range sequence ids here, so they are checked first)
// ============================================================================================

extern "C" int32_t lshim_kv_seq_rm(lshim_model *m, int32_t seq, int32_t p0, int32_t p1) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_context(__func__, m);
        if (st == LSHIM_OK && seq != -1) st = check_seq(__func__, m, seq);
        if (st != LSHIM_OK) return st;
        lshim::log_capture capture;
        if (!llama_memory_seq_rm(llama_get_memory(m->ctx), seq, p0, p1)) {
            return fail(LSHIM_E_KV, "lshim_kv_seq_rm: llama.cpp cannot remove [%d, %d) of sequence %d%s", p0, p1, seq,
                        capture.suffix().c_str());
        }
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_kv_seq_cp(lshim_model *m, int32_t seq_src, int32_t seq_dst, int32_t p0, int32_t p1) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_context(__func__, m);
        if (st == LSHIM_OK) st = check_seq(__func__, m, seq_src);
        if (st == LSHIM_OK) st = check_seq(__func__, m, seq_dst);
        if (st != LSHIM_OK) return st;
        // separate streams copy buffers, and llama.cpp asserts unless the whole sequence is copied
        if (m->kv_split && seq_src != seq_dst && (p0 > 0 || p1 >= 0)) {
            return fail(LSHIM_E_KV, "lshim_kv_seq_cp: with LSHIM_LOAD_KV_SPLIT only whole sequences can be copied (p0 %d, p1 %d)",
                        p0, p1);
        }
        llama_memory_seq_cp(llama_get_memory(m->ctx), seq_src, seq_dst, p0, p1);
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_kv_seq_keep(lshim_model *m, int32_t seq) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_context(__func__, m);
        if (st == LSHIM_OK) st = check_seq(__func__, m, seq);
        if (st != LSHIM_OK) return st;
        llama_memory_seq_keep(llama_get_memory(m->ctx), seq);
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_kv_clear(lshim_model *m) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_context(__func__, m);
        if (st != LSHIM_OK) return st;
        llama_memory_clear(llama_get_memory(m->ctx), true);
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_kv_seq_pos_min(lshim_model *m, int32_t seq, int32_t *out_pos) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_context(__func__, m);
        if (st == LSHIM_OK) st = check_seq(__func__, m, seq);
        if (st != LSHIM_OK) return st;
        if (!out_pos) return fail(LSHIM_E_INVALID_ARG, "lshim_kv_seq_pos_min: out_pos is NULL");
        *out_pos = llama_memory_seq_pos_min(llama_get_memory(m->ctx), seq);
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_kv_seq_pos_max(lshim_model *m, int32_t seq, int32_t *out_pos) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_context(__func__, m);
        if (st == LSHIM_OK) st = check_seq(__func__, m, seq);
        if (st != LSHIM_OK) return st;
        if (!out_pos) return fail(LSHIM_E_INVALID_ARG, "lshim_kv_seq_pos_max: out_pos is NULL");
        *out_pos = llama_memory_seq_pos_max(llama_get_memory(m->ctx), seq);
        return LSHIM_OK;
    });
}

