// vocab.cpp: vocabulary facts, token pieces and (de)tokenization.

#include "shim-internal.h"

#include <algorithm>
#include <cstring>

using lshim::check_model;
using lshim::check_token;
using lshim::copy_out;
using lshim::fail;
using lshim::guarded;

// ============================================================================================
// Vocabulary
// ============================================================================================

extern "C" int32_t lshim_token_is_eog(const lshim_model *m, int32_t token, int32_t *out) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_model(__func__, m);
        if (st == LSHIM_OK) st = check_token(__func__, m, token);
        if (st != LSHIM_OK) return st;
        if (!out) return fail(LSHIM_E_INVALID_ARG, "lshim_token_is_eog: out is NULL");
        *out = llama_vocab_is_eog(m->vocab, token) ? 1 : 0;
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_token_attr(const lshim_model *m, int32_t token, int32_t *out) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_model(__func__, m);
        if (st == LSHIM_OK) st = check_token(__func__, m, token);
        if (st != LSHIM_OK) return st;
        if (!out) return fail(LSHIM_E_INVALID_ARG, "lshim_token_attr: out is NULL");
        *out = (int32_t) llama_vocab_get_attr(m->vocab, token);
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_token_text(const lshim_model *m, int32_t token, char *buf, int32_t cap, int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_model(__func__, m);
        if (st == LSHIM_OK) st = check_token(__func__, m, token);
        if (st != LSHIM_OK) return st;
        const char *text = llama_vocab_get_text(m->vocab, token);
        return copy_out(__func__, text ? text : "", text ? strlen(text) : 0, buf, cap, out_len);
    });
}

extern "C" int32_t lshim_token_piece(const lshim_model *m, int32_t token, int32_t special, char *buf, int32_t cap,
                                     int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_model(__func__, m);
        if (st == LSHIM_OK) st = check_token(__func__, m, token);
        if (st != LSHIM_OK) return st;
        if (!out_len || cap < 0 || (cap > 0 && !buf)) {
            return fail(LSHIM_E_INVALID_ARG, "lshim_token_piece: out_len is NULL, or buf is NULL with cap > 0");
        }
        char scratch[1];
        const int32_t n = llama_token_to_piece(m->vocab, token, cap > 0 ? buf : scratch, cap, 0, special != 0);
        if (n < 0) {
            *out_len = -n;
            return fail(LSHIM_E_BUFFER_TOO_SMALL, "lshim_token_piece: needs %d bytes, buffer has %d", -n, cap);
        }
        *out_len = n;
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_token_find(const lshim_model *m, const char *text, int32_t text_len, int32_t *out_token) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_model(__func__, m);
        if (st != LSHIM_OK) return st;
        if (!text || text_len < 0 || !out_token) {
            return fail(LSHIM_E_INVALID_ARG, "lshim_token_find: text or out_token is NULL, or text_len < 0");
        }
        const int32_t special_bits = LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_USER_DEFINED;
        int32_t found = -1;
        for (int32_t id = 0; id < m->n_vocab; id++) {
            const char *t = llama_vocab_get_text(m->vocab, id);
            if (!t || strlen(t) != (size_t) text_len || memcmp(t, text, (size_t) text_len) != 0) continue;
            if (llama_vocab_get_attr(m->vocab, id) & special_bits) {
                found = id;
                break;
            }
            if (found < 0) found = id;
        }
        if (found < 0) {
            return fail(LSHIM_E_NOT_FOUND, "lshim_token_find: no token with text '%.*s'", (int) std::min(text_len, 200), text);
        }
        *out_token = found;
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_vocab_eog_tokens(const lshim_model *m, int32_t *buf, int32_t cap, int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_model(__func__, m);
        if (st != LSHIM_OK) return st;
        if (!out_len || cap < 0 || (cap > 0 && !buf)) {
            return fail(LSHIM_E_INVALID_ARG, "lshim_vocab_eog_tokens: out_len is NULL, or buf is NULL with cap > 0");
        }
        int32_t n = 0;
        for (int32_t id = 0; id < m->n_vocab; id++) {
            if (!llama_vocab_is_eog(m->vocab, id)) continue;
            if (n < cap) buf[n] = id;
            n++;
        }
        *out_len = n;
        if (n > cap) return fail(LSHIM_E_BUFFER_TOO_SMALL, "lshim_vocab_eog_tokens: needs %d entries, buffer has %d", n, cap);
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_tokenize(const lshim_model *m, const char *text, int32_t text_len, int32_t add_special,
                                  int32_t parse_special, int32_t *tokens, int32_t cap, int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_model(__func__, m);
        if (st != LSHIM_OK) return st;
        if ((!text && text_len > 0) || text_len < 0 || !out_len || cap < 0 || (cap > 0 && !tokens)) {
            return fail(LSHIM_E_INVALID_ARG, "lshim_tokenize: bad text/buffer arguments (text_len %d, cap %d)", text_len, cap);
        }
        llama_token scratch[1];
        const int32_t n = llama_tokenize(m->vocab, text ? text : "", text_len, cap > 0 ? tokens : scratch, cap,
                                         add_special != 0, parse_special != 0);
        if (n == INT32_MIN) return fail(LSHIM_E_TOKENIZE, "lshim_tokenize: the result does not fit an int32_t count");
        if (n < 0) {
            *out_len = -n;
            return fail(LSHIM_E_BUFFER_TOO_SMALL, "lshim_tokenize: needs %d tokens, buffer has %d", -n, cap);
        }
        *out_len = n;
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_detokenize(const lshim_model *m, const int32_t *tokens, int32_t n_tokens, int32_t remove_special,
                                    int32_t unparse_special, char *buf, int32_t cap, int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_model(__func__, m);
        if (st != LSHIM_OK) return st;
        if ((!tokens && n_tokens > 0) || n_tokens < 0 || !out_len || cap < 0 || (cap > 0 && !buf)) {
            return fail(LSHIM_E_INVALID_ARG, "lshim_detokenize: bad token/buffer arguments (n_tokens %d, cap %d)", n_tokens, cap);
        }
        for (int32_t i = 0; i < n_tokens; i++) {
            st = check_token(__func__, m, tokens[i]);
            if (st != LSHIM_OK) return st;
        }
        char scratch[1];
        const int32_t n = llama_detokenize(m->vocab, tokens, n_tokens, cap > 0 ? buf : scratch, cap, remove_special != 0,
                                           unparse_special != 0);
        if (n < 0) {
            *out_len = -n; // an upper bound: llama.cpp measures before cleaning spaces
            return fail(LSHIM_E_BUFFER_TOO_SMALL, "lshim_detokenize: needs up to %d bytes, buffer has %d", -n, cap);
        }
        *out_len = n;
        return LSHIM_OK;
    });
}

