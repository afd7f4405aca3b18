// shim-internal.h: what the shim's source files share: the model handle, error reporting,
// the exception guard, argument checks and the log capture. Not part of the C ABI.
#pragma once

#include "llama-shim.h"

#include "llama.h"

#include <cstdint>
#include <exception>
#include <new>
#include <string>

// The object behind an lshim_model handle: a model, its context, its cache and one batch.
struct lshim_model {
    llama_model *model = nullptr;
    llama_context *ctx = nullptr; // NULL when loaded vocab-only
    const llama_vocab *vocab = nullptr;
    llama_batch batch{};   // preallocated at load: batch_cap tokens, one sequence id each
    int32_t batch_cap = 0; // = llama_n_batch(ctx)
    int32_t n_vocab = 0;
    int32_t n_seq_max = 0;
    int32_t n_outputs = 0; // logits rows produced by the last successful decode
    bool kv_split = false; // one KV stream per sequence (LSHIM_LOAD_KV_SPLIT)
    bool causal = true;
};

namespace lshim {

// Sets the calling thread's last error (printf-style) and returns `status`.
int32_t fail(int32_t status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Runs an exported function's body; no C++ exception crosses the C boundary.
template <typename F>
int32_t guarded(const char *fn, F &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return fail(LSHIM_E_OUT_OF_MEMORY, "%s: out of memory", fn);
    } catch (const std::exception &e) {
        return fail(LSHIM_E_INTERNAL, "%s: %s", fn, e.what());
    } catch (...) {
        return fail(LSHIM_E_INTERNAL, "%s: unknown C++ exception", fn);
    }
}

// Copies `len` bytes into a caller buffer of `cap` bytes (NUL-terminated when there is room);
// *out_len = len; LSHIM_E_BUFFER_TOO_SMALL when cap < len.
int32_t copy_out(const char *fn, const char *src, size_t len, char *buf, int32_t cap, int32_t *out_len);

// Handle registry: a handle is valid from registration at load until unregistration at free.
void register_model(const lshim_model *m);
bool unregister_model(const lshim_model *m);

// Argument checks: LSHIM_OK, or the failing status with last_error set.
int32_t check_model(const char *fn, const lshim_model *m);   // a live handle
int32_t check_context(const char *fn, const lshim_model *m); // ... that has a context
int32_t check_token(const char *fn, const lshim_model *m, int32_t token);
int32_t check_seq(const char *fn, const lshim_model *m, int32_t seq);

// Collects the calling thread's error-level log lines for its lifetime, so a failed load or
// decode can say why (llama.cpp reports most causes only through its log).
class log_capture {
public:
    log_capture();
    ~log_capture();
    log_capture(const log_capture &) = delete;
    log_capture &operator=(const log_capture &) = delete;

    // The captured lines joined by "; ", or "" when there were none.
    std::string summary() const;
    // ": <summary>" when there is one, else "" (to append to a message).
    std::string suffix() const;

private:
    std::string text_;
    std::string *previous_;
};

} // namespace lshim
