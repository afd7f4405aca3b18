// model.cpp: loading and freeing a model (with its context and batch), and its facts:
// integer info, strings, GGUF metadata, chat templates.

#include "shim-internal.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using lshim::check_context;
using lshim::check_model;
using lshim::fail;
using lshim::guarded;

static void model_destroy(lshim_model *m) {
    if (m->batch.token) llama_batch_free(m->batch);
    if (m->ctx) llama_free(m->ctx);
    if (m->model) llama_model_free(m->model);
    delete m;
}

// ============================================================================================
// Model lifetime
// ============================================================================================

namespace {
struct progress_relay {
    lshim_progress_fn fn;
    void *user;
};

bool relay_progress(float progress, void *user) {
    const auto *relay = static_cast<const progress_relay *>(user);
    relay->fn(progress, relay->user);
    return true; // never cancel
}
} // namespace

extern "C" int32_t lshim_model_load(const char *path, int32_t n_ctx, int32_t n_batch, int32_t n_ubatch,
                                    int32_t n_seq_max, int32_t n_threads, uint32_t flags, lshim_progress_fn progress,
                                    void *progress_user, lshim_model **out_model) {
    return guarded(__func__, [&]() -> int32_t {
        const uint32_t known = LSHIM_LOAD_MMAP | LSHIM_LOAD_VOCAB_ONLY | LSHIM_LOAD_KV_SPLIT | LSHIM_LOAD_KV_F32;
        if (!path || !out_model) return fail(LSHIM_E_INVALID_ARG, "lshim_model_load: path or out_model is NULL");
        *out_model = nullptr;
        if (flags & ~known) return fail(LSHIM_E_INVALID_ARG, "lshim_model_load: unknown flags 0x%x", flags & ~known);
        if (n_ctx < 0 || n_batch < 0 || n_ubatch < 0 || n_seq_max < 0) {
            return fail(LSHIM_E_INVALID_ARG, "lshim_model_load: negative size (n_ctx %d, n_batch %d, n_ubatch %d, n_seq_max %d)",
                        n_ctx, n_batch, n_ubatch, n_seq_max);
        }
        if (n_seq_max > (int32_t) llama_max_parallel_sequences()) {
            return fail(LSHIM_E_INVALID_ARG, "lshim_model_load: n_seq_max %d exceeds llama.cpp's limit of %zu", n_seq_max,
                        llama_max_parallel_sequences());
        }
        lshim_backend_init();

        progress_relay relay{progress, progress_user};
        llama_model_params mp = llama_model_default_params();
        mp.load_mode = (flags & LSHIM_LOAD_MMAP) ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
        mp.vocab_only = (flags & LSHIM_LOAD_VOCAB_ONLY) != 0;
        if (progress) {
            mp.progress_callback = relay_progress;
            mp.progress_callback_user_data = &relay;
        }

        auto *m = new lshim_model();
        struct destroy_unless_released {
            lshim_model *m;
            ~destroy_unless_released() { if (m) model_destroy(m); }
        } guard{m};

        lshim::log_capture capture;
        m->model = llama_model_load_from_file(path, mp);
        if (!m->model) {
            return fail(LSHIM_E_LOAD, "failed to load model '%s'%s", path, capture.suffix().c_str());
        }
        m->vocab = llama_model_get_vocab(m->model);
        m->n_vocab = llama_vocab_n_tokens(m->vocab);

        if (!mp.vocab_only) {
            const int32_t threads = n_threads > 0 ? n_threads : (int32_t) std::max(1u, std::thread::hardware_concurrency());
            llama_context_params cp = llama_context_default_params();
            cp.n_ctx = (uint32_t) n_ctx; // 0: the model's training context
            cp.n_batch = n_batch > 0 ? (uint32_t) n_batch : 512;
            cp.n_ubatch = n_ubatch > 0 ? (uint32_t) n_ubatch : cp.n_batch;
            cp.n_seq_max = n_seq_max > 0 ? (uint32_t) n_seq_max : 1;
            cp.n_outputs_max = 0;         // every token of a batch may ask for logits
            cp.n_outputs_max_per_seq = 0; // ... including several of one sequence (block diffusion)
            cp.n_threads = threads;
            cp.n_threads_batch = threads;
            cp.kv_unified = (flags & LSHIM_LOAD_KV_SPLIT) == 0;
            cp.no_perf = true;
            if (flags & LSHIM_LOAD_KV_F32) {
                cp.type_k = GGML_TYPE_F32;
                cp.type_v = GGML_TYPE_F32;
                cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
            }

            m->ctx = llama_init_from_model(m->model, cp);
            if (!m->ctx) {
                return fail(LSHIM_E_CONTEXT, "failed to create a context for '%s' (n_ctx %u, n_batch %u, n_seq_max %u)%s",
                            path, cp.n_ctx, cp.n_batch, cp.n_seq_max, capture.suffix().c_str());
            }
            m->n_seq_max = (int32_t) llama_n_seq_max(m->ctx);
            m->kv_split = !cp.kv_unified;
            m->batch_cap = (int32_t) llama_n_batch(m->ctx);
            m->batch = llama_batch_init(m->batch_cap, 0, 1);
            if (!m->batch.token) return fail(LSHIM_E_OUT_OF_MEMORY, "lshim_model_load: batch allocation failed");
        }

        lshim::register_model(m);
        guard.m = nullptr;
        *out_model = m;
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_model_free(lshim_model *model) {
    return guarded(__func__, [&]() -> int32_t {
        if (!model) return LSHIM_OK;
        if (!lshim::unregister_model(model)) {
            return fail(LSHIM_E_BAD_HANDLE, "lshim_model_free: model handle %p is freed or unknown", (void *) model);
        }
        model_destroy(model);
        return LSHIM_OK;
    });
}

// ============================================================================================
// Model facts
// ============================================================================================

extern "C" int32_t lshim_model_info(const lshim_model *m, int32_t key, int64_t *out) {
    return guarded(__func__, [&]() -> int32_t {
        int32_t st = check_model(__func__, m);
        if (st != LSHIM_OK) return st;
        if (!out) return fail(LSHIM_E_INVALID_ARG, "lshim_model_info: out is NULL");
        const llama_model *mod = m->model;
        const llama_vocab *voc = m->vocab;
        switch (key) {
            case LSHIM_INFO_N_VOCAB:      *out = m->n_vocab; return LSHIM_OK;
            case LSHIM_INFO_N_CTX_TRAIN:  *out = llama_model_n_ctx_train(mod); return LSHIM_OK;
            case LSHIM_INFO_N_EMBD:       *out = llama_model_n_embd(mod); return LSHIM_OK;
            case LSHIM_INFO_N_LAYER:      *out = llama_model_n_layer(mod); return LSHIM_OK;
            // llama.cpp aborts on per-layer facts of a model without layers (vocab-only files)
            case LSHIM_INFO_N_HEAD:       *out = llama_model_n_layer(mod) > 0 ? llama_model_n_head(mod) : 0; return LSHIM_OK;
            case LSHIM_INFO_N_HEAD_KV:    *out = llama_model_n_layer(mod) > 0 ? llama_model_n_head_kv(mod) : 0; return LSHIM_OK;
            case LSHIM_INFO_SIZE_BYTES:   *out = (int64_t) llama_model_size(mod); return LSHIM_OK;
            case LSHIM_INFO_N_PARAMS:     *out = (int64_t) llama_model_n_params(mod); return LSHIM_OK;
            case LSHIM_INFO_BOS:          *out = llama_vocab_bos(voc); return LSHIM_OK;
            case LSHIM_INFO_EOS:          *out = llama_vocab_eos(voc); return LSHIM_OK;
            case LSHIM_INFO_EOT:          *out = llama_vocab_eot(voc); return LSHIM_OK;
            case LSHIM_INFO_SEP:          *out = llama_vocab_sep(voc); return LSHIM_OK;
            case LSHIM_INFO_NL:           *out = llama_vocab_nl(voc); return LSHIM_OK;
            case LSHIM_INFO_PAD:          *out = llama_vocab_pad(voc); return LSHIM_OK;
            case LSHIM_INFO_MASK:         *out = llama_vocab_mask(voc); return LSHIM_OK;
            case LSHIM_INFO_ADD_BOS:      *out = llama_vocab_get_add_bos(voc) ? 1 : 0; return LSHIM_OK;
            case LSHIM_INFO_ADD_EOS:      *out = llama_vocab_get_add_eos(voc) ? 1 : 0; return LSHIM_OK;
            case LSHIM_INFO_VOCAB_TYPE:   *out = (int64_t) llama_vocab_type(voc); return LSHIM_OK;
            default: break;
        }
        // the remaining keys describe the context
        if (key < 0 || key >= LSHIM_INFO_COUNT) return fail(LSHIM_E_INVALID_ARG, "lshim_model_info: unknown key %d", key);
        st = check_context(__func__, m);
        if (st != LSHIM_OK) return st;
        llama_context *ctx = m->ctx;
        switch (key) {
            case LSHIM_INFO_N_CTX:            *out = llama_n_ctx(ctx); return LSHIM_OK;
            case LSHIM_INFO_N_CTX_SEQ:        *out = llama_n_ctx_seq(ctx); return LSHIM_OK;
            case LSHIM_INFO_N_BATCH:          *out = m->batch_cap; return LSHIM_OK;
            case LSHIM_INFO_N_UBATCH:         *out = llama_n_ubatch(ctx); return LSHIM_OK;
            case LSHIM_INFO_N_SEQ_MAX:        *out = m->n_seq_max; return LSHIM_OK;
            case LSHIM_INFO_N_THREADS:        *out = llama_n_threads(ctx); return LSHIM_OK;
            case LSHIM_INFO_N_THREADS_BATCH:  *out = llama_n_threads_batch(ctx); return LSHIM_OK;
            case LSHIM_INFO_CAUSAL:           *out = m->causal ? 1 : 0; return LSHIM_OK;
            default: return fail(LSHIM_E_INVALID_ARG, "lshim_model_info: unknown key %d", key);
        }
    });
}

// A metadata value as text; false when the key is absent.
static bool meta_value(const llama_model *model, const char *key, std::string &out) {
    const int32_t n = llama_model_meta_val_str(model, key, nullptr, 0);
    if (n < 0) return false;
    std::vector<char> buf((size_t) n + 1);
    llama_model_meta_val_str(model, key, buf.data(), buf.size());
    out.assign(buf.data(), (size_t) n);
    return true;
}

extern "C" int32_t lshim_model_str(const lshim_model *m, int32_t key, char *buf, int32_t cap, int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_model(__func__, m);
        if (st != LSHIM_OK) return st;
        std::string value;
        switch (key) {
            case LSHIM_STR_ARCH:
            case LSHIM_STR_NAME: {
                const char *meta_key = key == LSHIM_STR_ARCH ? "general.architecture" : "general.name";
                if (!meta_value(m->model, meta_key, value)) {
                    return fail(LSHIM_E_NOT_FOUND, "lshim_model_str: the model has no %s", meta_key);
                }
                break;
            }
            case LSHIM_STR_DESC: {
                const int32_t n = llama_model_desc(m->model, nullptr, 0);
                std::vector<char> tmp((size_t) std::max(n, 0) + 1);
                llama_model_desc(m->model, tmp.data(), tmp.size());
                value.assign(tmp.data(), (size_t) std::max(n, 0));
                break;
            }
            case LSHIM_STR_CHAT_TEMPLATE: {
                const char *tmpl = llama_model_chat_template(m->model, nullptr);
                if (!tmpl) return fail(LSHIM_E_NOT_FOUND, "lshim_model_str: the model has no chat template");
                value = tmpl;
                break;
            }
            default: return fail(LSHIM_E_INVALID_ARG, "lshim_model_str: unknown key %d", key);
        }
        return lshim::copy_out(__func__, value.data(), value.size(), buf, cap, out_len);
    });
}

extern "C" int32_t lshim_model_meta(const lshim_model *m, const char *key, char *buf, int32_t cap, int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_model(__func__, m);
        if (st != LSHIM_OK) return st;
        if (!key) return fail(LSHIM_E_INVALID_ARG, "lshim_model_meta: key is NULL");
        std::string value;
        if (!meta_value(m->model, key, value)) return fail(LSHIM_E_NOT_FOUND, "lshim_model_meta: no metadata key '%s'", key);
        return lshim::copy_out(__func__, value.data(), value.size(), buf, cap, out_len);
    });
}

extern "C" int32_t lshim_model_chat_template(const lshim_model *m, const char *name, char *buf, int32_t cap,
                                             int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        const int32_t st = check_model(__func__, m);
        if (st != LSHIM_OK) return st;
        const char *tmpl = llama_model_chat_template(m->model, name);
        if (!tmpl) {
            return fail(LSHIM_E_NOT_FOUND, "lshim_model_chat_template: no chat template%s%s", name ? " named " : "",
                        name ? name : "");
        }
        return lshim::copy_out(__func__, tmpl, strlen(tmpl), buf, cap, out_len);
    });
}

