// llama-shim.cpp: the process-wide half of the C ABI (include/llama-shim.h): ABI checks, the
// last-error message, the handle registry, backend init and the capture of llama.cpp's log.
// model.cpp, vocab.cpp and decode.cpp hold the per-model functions.

#include "shim-internal.h"

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_set>

static_assert(sizeof(llama_token) == sizeof(int32_t), "llama_token crosses the ABI as int32_t");
static_assert(sizeof(llama_pos) == sizeof(int32_t), "llama_pos crosses the ABI as int32_t");
static_assert(sizeof(llama_seq_id) == sizeof(int32_t), "llama_seq_id crosses the ABI as int32_t");
static_assert((int) LSHIM_LOG_ERROR == (int) GGML_LOG_LEVEL_ERROR, "log levels follow ggml's numbering");

using lshim::fail;
using lshim::guarded;

// ============================================================================================
// Errors and buffers
// ============================================================================================

static thread_local std::string t_last_error;

int32_t lshim::fail(int32_t status, const char *fmt, ...) {
    char buf[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    try {
        t_last_error = buf;
    } catch (...) {
        // out of memory while reporting: the status alone must do
    }
    return status;
}

int32_t lshim::copy_out(const char *fn, const char *src, size_t len, char *buf, int32_t cap, int32_t *out_len) {
    if (!out_len || cap < 0 || (cap > 0 && !buf)) {
        return fail(LSHIM_E_INVALID_ARG, "%s: out_len is NULL, or buf is NULL with cap > 0", fn);
    }
    if (len > (size_t) INT32_MAX) {
        return fail(LSHIM_E_INTERNAL, "%s: result of %zu bytes does not fit an int32_t", fn, len);
    }
    *out_len = (int32_t) len;
    if ((size_t) cap < len) {
        return fail(LSHIM_E_BUFFER_TOO_SMALL, "%s: needs %zu bytes, buffer has %d", fn, len, cap);
    }
    if (len > 0) memcpy(buf, src, len);
    if ((size_t) cap > len) buf[len] = '\0';
    return LSHIM_OK;
}

// ============================================================================================
// Handles: every live lshim_model is registered, so a stale or foreign pointer is reported
// instead of dereferenced.
// ============================================================================================

static std::mutex g_handles_mutex;
static std::unordered_set<const lshim_model *> g_handles;

void lshim::register_model(const lshim_model *m) {
    std::lock_guard<std::mutex> lock(g_handles_mutex);
    g_handles.insert(m);
}

bool lshim::unregister_model(const lshim_model *m) {
    std::lock_guard<std::mutex> lock(g_handles_mutex);
    return g_handles.erase(m) != 0;
}

int32_t lshim::check_model(const char *fn, const lshim_model *m) {
    if (!m) return fail(LSHIM_E_BAD_HANDLE, "%s: model handle is NULL", fn);
    std::lock_guard<std::mutex> lock(g_handles_mutex);
    if (g_handles.find(m) == g_handles.end()) {
        return fail(LSHIM_E_BAD_HANDLE, "%s: model handle %p is freed or unknown", fn, (const void *) m);
    }
    return LSHIM_OK;
}

int32_t lshim::check_context(const char *fn, const lshim_model *m) {
    const int32_t st = check_model(fn, m);
    if (st != LSHIM_OK) return st;
    if (!m->ctx) return fail(LSHIM_E_NO_CONTEXT, "%s: the model was loaded vocab-only", fn);
    return LSHIM_OK;
}

int32_t lshim::check_token(const char *fn, const lshim_model *m, int32_t token) {
    if (token < 0 || token >= m->n_vocab) {
        return fail(LSHIM_E_INVALID_ARG, "%s: token %d is outside [0, %d)", fn, token, m->n_vocab);
    }
    return LSHIM_OK;
}

int32_t lshim::check_seq(const char *fn, const lshim_model *m, int32_t seq) {
    if (seq < 0 || seq >= m->n_seq_max) {
        return fail(LSHIM_E_INVALID_ARG, "%s: sequence id %d is outside [0, %d)", fn, seq, m->n_seq_max);
    }
    return LSHIM_OK;
}

// ============================================================================================
// Logging: llama.cpp and ggml log through one callback; lines go to a ring, optionally to stderr
// and to a user callback, and error lines also to the calling thread's log_capture, if any.
// ============================================================================================

namespace {

constexpr size_t LOG_RING_BYTES = 64 * 1024;

struct log_state {
    std::mutex mutex;
    char ring[LOG_RING_BYTES]; // circular; `head` is the next write position
    size_t head = 0;
    size_t used = 0;
    int32_t last_level = GGML_LOG_LEVEL_INFO; // the level a GGML_LOG_LEVEL_CONT line continues
    lshim_log_fn callback = nullptr;
    void *callback_user = nullptr;
    int32_t callback_level = LSHIM_LOG_NONE;
    std::atomic<int32_t> stderr_level{LSHIM_LOG_NONE};
};

log_state g_log;

thread_local std::string *t_log_capture = nullptr; // the running load/decode's error lines

void log_ring_append(const char *text, size_t len) {
    if (len >= LOG_RING_BYTES) {
        text += len - (LOG_RING_BYTES - 1);
        len = LOG_RING_BYTES - 1;
    }
    for (size_t i = 0; i < len; i++) {
        g_log.ring[g_log.head] = text[i];
        g_log.head = (g_log.head + 1) % LOG_RING_BYTES;
    }
    g_log.used = std::min(LOG_RING_BYTES, g_log.used + len);
}

void on_llama_log(enum ggml_log_level level, const char *text, void * /*user*/) {
    if (!text) return;
    try {
        const size_t len = strlen(text);
        lshim_log_fn callback = nullptr;
        void *callback_user = nullptr;
        int32_t effective;
        {
            std::lock_guard<std::mutex> lock(g_log.mutex);
            effective = level == GGML_LOG_LEVEL_CONT ? g_log.last_level : (int32_t) level;
            g_log.last_level = effective;
            if (effective >= GGML_LOG_LEVEL_INFO) log_ring_append(text, len);
            if (g_log.callback && g_log.callback_level != LSHIM_LOG_NONE && effective >= g_log.callback_level) {
                callback = g_log.callback;
                callback_user = g_log.callback_user;
            }
        }
        if (t_log_capture && effective >= GGML_LOG_LEVEL_ERROR) t_log_capture->append(text, len);
        const int32_t to_stderr = g_log.stderr_level.load(std::memory_order_relaxed);
        if (to_stderr != LSHIM_LOG_NONE && effective >= to_stderr) fputs(text, stderr);
        if (callback) callback(effective, text, callback_user);
    } catch (...) {
        // a log line is not worth an exception escaping into llama.cpp
    }
}

bool valid_level(int32_t level) { return level >= LSHIM_LOG_NONE && level <= LSHIM_LOG_ERROR; }

} // namespace

lshim::log_capture::log_capture() : previous_(t_log_capture) { t_log_capture = &text_; }

lshim::log_capture::~log_capture() { t_log_capture = previous_; }

std::string lshim::log_capture::summary() const {
    std::string out;
    size_t start = 0;
    while (start < text_.size()) {
        size_t end = text_.find('\n', start);
        if (end == std::string::npos) end = text_.size();
        if (end > start) {
            if (!out.empty()) out += "; ";
            out.append(text_, start, end - start);
        }
        start = end + 1;
    }
    return out;
}

std::string lshim::log_capture::suffix() const {
    const std::string s = summary();
    return s.empty() ? s : ": " + s;
}

// ============================================================================================
// Exported: ABI, errors, process-wide setup, logging
// ============================================================================================

extern "C" int32_t lshim_abi_version(void) { return LSHIM_ABI_VERSION; }

extern "C" int32_t lshim_sizeof_check(int32_t size_ptr, int32_t size_token, int32_t size_pos, int32_t size_seq_id,
                                      int32_t size_float) {
    return guarded(__func__, [&]() -> int32_t {
        if (size_ptr != (int32_t) sizeof(void *) || size_token != (int32_t) sizeof(llama_token) ||
            size_pos != (int32_t) sizeof(llama_pos) || size_seq_id != (int32_t) sizeof(llama_seq_id) ||
            size_float != (int32_t) sizeof(float)) {
            return fail(LSHIM_E_ABI,
                        "lshim_sizeof_check: caller has ptr=%d token=%d pos=%d seq_id=%d float=%d, "
                        "library has %d %d %d %d %d",
                        size_ptr, size_token, size_pos, size_seq_id, size_float, (int) sizeof(void *),
                        (int) sizeof(llama_token), (int) sizeof(llama_pos), (int) sizeof(llama_seq_id),
                        (int) sizeof(float));
        }
        return LSHIM_OK;
    });
}

extern "C" const char *lshim_last_error(void) { return t_last_error.c_str(); }

extern "C" int32_t lshim_backend_init(void) {
    return guarded(__func__, []() -> int32_t {
        static std::once_flag once;
        std::call_once(once, [] {
            llama_log_set(on_llama_log, nullptr);
            llama_backend_init();
        });
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_log_set_stderr_level(int32_t level) {
    return guarded(__func__, [&]() -> int32_t {
        if (!valid_level(level)) return fail(LSHIM_E_INVALID_ARG, "lshim_log_set_stderr_level: level %d", level);
        g_log.stderr_level.store(level, std::memory_order_relaxed);
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_log_set_callback(lshim_log_fn fn, void *user, int32_t level) {
    return guarded(__func__, [&]() -> int32_t {
        if (!valid_level(level)) return fail(LSHIM_E_INVALID_ARG, "lshim_log_set_callback: level %d", level);
        std::lock_guard<std::mutex> lock(g_log.mutex);
        g_log.callback = fn;
        g_log.callback_user = user;
        g_log.callback_level = fn ? level : LSHIM_LOG_NONE;
        return LSHIM_OK;
    });
}

extern "C" int32_t lshim_log_tail(char *buf, int32_t cap, int32_t *out_len) {
    return guarded(__func__, [&]() -> int32_t {
        std::string text;
        {
            std::lock_guard<std::mutex> lock(g_log.mutex);
            text.resize(g_log.used);
            const size_t start = (g_log.head + LOG_RING_BYTES - g_log.used) % LOG_RING_BYTES;
            for (size_t i = 0; i < g_log.used; i++) text[i] = g_log.ring[(start + i) % LOG_RING_BYTES];
        }
        return lshim::copy_out(__func__, text.data(), text.size(), buf, cap, out_len);
    });
}
