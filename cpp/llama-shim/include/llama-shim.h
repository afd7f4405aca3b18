/*
 * llama-shim.h: the whole C ABI of libllama-shim, a thin layer over llama.cpp for bun:ffi.
 *
 * Conventions (checked by src/engine/llama/llama-ffi.test.ts, which parses this file):
 *   - every function returns an int32_t status (LSHIM_OK or a negative lshim_status), except
 *     lshim_abi_version() (the version) and lshim_last_error() (a message);
 *   - only sized integers, floats and pointers cross; no struct is passed by value;
 *   - results come back through out-pointers; variable-size results go into a caller buffer of
 *     `cap` elements, the full size is always written to `*out_len`, and a buffer that is too small
 *     gives LSHIM_E_BUFFER_TOO_SMALL (call again with a buffer of `*out_len`);
 *   - on error, lshim_last_error() describes it (thread-local, valid until the next call that fails);
 *   - a handle is used from one thread at a time; handles are checked against a registry so a
 *     freed or foreign pointer gives LSHIM_E_BAD_HANDLE instead of a crash.
 * One declaration per line (the test's parser relies on it).
 */
#ifndef LLAMA_SHIM_H
#define LLAMA_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LSHIM_API __attribute__((visibility("default")))
#else
#define LSHIM_API
#endif

/* Bumped on every change to a signature, an enum value or a semantic the TS side relies on. */
#define LSHIM_ABI_VERSION 2

typedef enum lshim_status {
    LSHIM_OK                  = 0,
    LSHIM_E_INVALID_ARG       = -1,  /* a null pointer, a value out of range, a malformed batch */
    LSHIM_E_BAD_HANDLE        = -2,  /* null, freed or unknown lshim_model */
    LSHIM_E_ABI               = -3,  /* lshim_sizeof_check saw sizes this build does not have */
    LSHIM_E_LOAD              = -4,  /* llama.cpp could not load the model (see last_error) */
    LSHIM_E_CONTEXT           = -5,  /* llama.cpp could not create the context */
    LSHIM_E_NO_CONTEXT        = -6,  /* the model was loaded vocab-only: no decode, no cache */
    LSHIM_E_BUFFER_TOO_SMALL  = -7,  /* *out_len holds the size needed */
    LSHIM_E_BATCH_TOO_LARGE   = -8,  /* more tokens than n_batch (or n_ubatch without causal) */
    LSHIM_E_NO_KV_SLOT        = -9,  /* the cache has no room for the batch */
    LSHIM_E_ABORTED           = -10, /* the computation was aborted */
    LSHIM_E_DECODE            = -11, /* llama_decode failed (see last_error) */
    LSHIM_E_KV                = -12, /* llama.cpp refused the cache edit */
    LSHIM_E_NOT_FOUND         = -13, /* no such metadata key, template or token */
    LSHIM_E_TOKENIZE          = -14, /* tokenizer overflow or failure */
    LSHIM_E_OUT_OF_MEMORY     = -15, /* std::bad_alloc */
    LSHIM_E_INTERNAL          = -16  /* an unexpected C++ exception */
} lshim_status;

/* lshim_model_load flags. */
typedef enum lshim_load_flag {
    LSHIM_LOAD_MMAP       = 1, /* memory-map the file instead of reading it */
    LSHIM_LOAD_VOCAB_ONLY = 2, /* vocabulary and metadata only: no weights, no context */
    LSHIM_LOAD_KV_SPLIT   = 4, /* one KV stream per sequence (n_ctx / n_seq_max cells each) instead
                                  of one unified cache; kv_seq_cp across sequences must then copy
                                  whole sequences */
    LSHIM_LOAD_KV_F32     = 8  /* keep K and V in F32 (default F16) and compute attention without
                                  flash attention: slower, for exact cross-checks */
} lshim_load_flag;

/* lshim_model_info keys: integer facts about the model, its context and its vocabulary. */
typedef enum lshim_info {
    LSHIM_INFO_N_VOCAB     = 0,
    LSHIM_INFO_N_CTX       = 1,  /* cells in the cache (llama.cpp rounds n_ctx up to 256) */
    LSHIM_INFO_N_CTX_SEQ   = 2,  /* cells one sequence may use */
    LSHIM_INFO_N_CTX_TRAIN = 3,
    LSHIM_INFO_N_EMBD      = 4,
    LSHIM_INFO_N_LAYER     = 5,
    LSHIM_INFO_N_HEAD      = 6,
    LSHIM_INFO_N_HEAD_KV   = 7,
    LSHIM_INFO_N_BATCH     = 8,  /* most tokens one lshim_decode may carry */
    LSHIM_INFO_N_UBATCH    = 9,  /* most tokens one lshim_decode may carry without causal attention */
    LSHIM_INFO_N_SEQ_MAX   = 10,
    LSHIM_INFO_SIZE_BYTES  = 11, /* total size of the weights */
    LSHIM_INFO_N_PARAMS    = 12,
    LSHIM_INFO_BOS         = 13, /* token ids below: -1 when the vocabulary has none */
    LSHIM_INFO_EOS         = 14,
    LSHIM_INFO_EOT         = 15,
    LSHIM_INFO_SEP         = 16,
    LSHIM_INFO_NL          = 17,
    LSHIM_INFO_PAD         = 18,
    LSHIM_INFO_MASK        = 19,
    LSHIM_INFO_ADD_BOS     = 20, /* 1 when tokenize with add_special prepends BOS */
    LSHIM_INFO_ADD_EOS     = 21,
    LSHIM_INFO_VOCAB_TYPE  = 22, /* llama_vocab_type: 1 SPM, 2 BPE, 3 WPM, 4 UGM, 5 RWKV, 6 PLAMO2 */
    LSHIM_INFO_N_THREADS   = 23,
    LSHIM_INFO_N_THREADS_BATCH = 24,
    LSHIM_INFO_CAUSAL      = 25, /* 1 while attention is causal (see lshim_set_causal) */
    LSHIM_INFO_COUNT       = 26
} lshim_info;

/* lshim_model_str keys. */
typedef enum lshim_str {
    LSHIM_STR_ARCH          = 0, /* general.architecture */
    LSHIM_STR_NAME          = 1, /* general.name (LSHIM_E_NOT_FOUND when absent) */
    LSHIM_STR_DESC          = 2, /* llama.cpp's one-line description, e.g. "bitnet 3B TQ2_0" */
    LSHIM_STR_CHAT_TEMPLATE = 3, /* tokenizer.chat_template (LSHIM_E_NOT_FOUND when absent) */
    LSHIM_STR_COUNT         = 4
} lshim_str;

/* Log levels, as ggml numbers them. */
typedef enum lshim_log_level {
    LSHIM_LOG_NONE  = 0,
    LSHIM_LOG_DEBUG = 1,
    LSHIM_LOG_INFO  = 2,
    LSHIM_LOG_WARN  = 3,
    LSHIM_LOG_ERROR = 4
} lshim_log_level;

/* A loaded model together with its context, its cache and one preallocated batch. */
typedef struct lshim_model lshim_model;

/* Called during load with progress in [0, 1], on the loading thread. */
typedef void (*lshim_progress_fn)(float progress, void *user);
/* Called for each llama.cpp/ggml log line at or above the callback level; may run on any thread. */
typedef void (*lshim_log_fn)(int32_t level, const char *text, void *user);

/* ---- ABI, errors, process-wide setup ------------------------------------------------------- */

/* Returns LSHIM_ABI_VERSION of the library (not a status). */
LSHIM_API int32_t lshim_abi_version(void);
/* LSHIM_OK when the caller's idea of these sizes matches the library's, else LSHIM_E_ABI. */
LSHIM_API int32_t lshim_sizeof_check(int32_t size_ptr, int32_t size_token, int32_t size_pos, int32_t size_seq_id, int32_t size_float);
/* The calling thread's last error message (never NULL, "" when none); not a status. */
LSHIM_API const char *lshim_last_error(void);
/* Initialises llama.cpp's backends once per process and installs the log capture; idempotent. */
LSHIM_API int32_t lshim_backend_init(void);

/* ---- logging ------------------------------------------------------------------------------- */

/* Messages at or above `level` are also written to stderr (default LSHIM_LOG_NONE: silent). */
LSHIM_API int32_t lshim_log_set_stderr_level(int32_t level);
/* Forwards messages at or above `level` to `fn` (NULL: stop forwarding). */
LSHIM_API int32_t lshim_log_set_callback(lshim_log_fn fn, void *user, int32_t level);
/* Copies the most recent captured log text (a ring of the last 64 KiB, all levels but debug). */
LSHIM_API int32_t lshim_log_tail(char *buf, int32_t cap, int32_t *out_len);

/* ---- model lifetime ------------------------------------------------------------------------ */

/*
 * Loads a GGUF and creates its context. `path` is NUL-terminated UTF-8. n_ctx 0: the model's
 * training context; n_batch 0: 512; n_ubatch 0: n_batch; n_seq_max 0: 1; n_threads <= 0: all cores.
 * `flags` is a bitwise OR of lshim_load_flag. `progress` may be NULL.
 */
LSHIM_API int32_t lshim_model_load(const char *path, int32_t n_ctx, int32_t n_batch, int32_t n_ubatch, int32_t n_seq_max, int32_t n_threads, uint32_t flags, lshim_progress_fn progress, void *progress_user, lshim_model **out_model);
/* Frees the model, its context and batch. NULL is accepted. */
LSHIM_API int32_t lshim_model_free(lshim_model *model);

/* ---- model facts --------------------------------------------------------------------------- */

LSHIM_API int32_t lshim_model_info(const lshim_model *model, int32_t key, int64_t *out);
/* A string fact (lshim_str), as bytes without a terminator (one is added when cap allows). */
LSHIM_API int32_t lshim_model_str(const lshim_model *model, int32_t key, char *buf, int32_t cap, int32_t *out_len);
/* Any GGUF metadata value by key, rendered as text by llama.cpp. */
LSHIM_API int32_t lshim_model_meta(const lshim_model *model, const char *key, char *buf, int32_t cap, int32_t *out_len);
/* A named chat template (`tokenizer.chat_template.<name>`); name NULL: the default one. */
LSHIM_API int32_t lshim_model_chat_template(const lshim_model *model, const char *name, char *buf, int32_t cap, int32_t *out_len);

/* ---- vocabulary ---------------------------------------------------------------------------- */

/* *out = 1 when the token ends generation (EOS, EOT, ...), else 0. */
LSHIM_API int32_t lshim_token_is_eog(const lshim_model *model, int32_t token, int32_t *out);
/* *out = the token's llama_token_attr bits (1 unknown, 2 unused, 4 normal, 8 control, 16 user-defined, 32 byte, ...). */
LSHIM_API int32_t lshim_token_attr(const lshim_model *model, int32_t token, int32_t *out);
/* The token's text as stored in the vocabulary (e.g. "Ġthe" for BPE). */
LSHIM_API int32_t lshim_token_text(const lshim_model *model, int32_t token, char *buf, int32_t cap, int32_t *out_len);
/* The bytes the token stands for; special != 0 renders control tokens as their text, else as "". */
LSHIM_API int32_t lshim_token_piece(const lshim_model *model, int32_t token, int32_t special, char *buf, int32_t cap, int32_t *out_len);
/* The id of the token whose vocabulary text is exactly `text` (a special token preferred), else LSHIM_E_NOT_FOUND. */
LSHIM_API int32_t lshim_token_find(const lshim_model *model, const char *text, int32_t text_len, int32_t *out_token);
/* Every end-of-generation token id, ascending. */
LSHIM_API int32_t lshim_vocab_eog_tokens(const lshim_model *model, int32_t *buf, int32_t cap, int32_t *out_len);

/* UTF-8 bytes → token ids. */
LSHIM_API int32_t lshim_tokenize(const lshim_model *model, const char *text, int32_t text_len, int32_t add_special, int32_t parse_special, int32_t *tokens, int32_t cap, int32_t *out_len);
/* Token ids → UTF-8 bytes (no terminator is written). */
LSHIM_API int32_t lshim_detokenize(const lshim_model *model, const int32_t *tokens, int32_t n_tokens, int32_t remove_special, int32_t unparse_special, char *buf, int32_t cap, int32_t *out_len);

/* ---- decoding ------------------------------------------------------------------------------ */

/*
 * Runs the model over a batch of n tokens given as parallel arrays (one sequence id per token;
 * want_logits[i] != 0 asks for that token's logits). *out_n_outputs = the rows now available
 * from lshim_logits, in batch order. On LSHIM_E_DECODE part of the batch may be in the cache:
 * check lshim_kv_seq_pos_max.
 */
LSHIM_API int32_t lshim_decode(lshim_model *model, const int32_t *tokens, const int32_t *positions, const int32_t *seq_ids, const int8_t *want_logits, int32_t n, int32_t *out_n_outputs);
/* The last decode's logits without copying: *out_logits points at (*out_rows, n_vocab) floats, valid until the next decode or free. */
LSHIM_API int32_t lshim_logits(lshim_model *model, float **out_logits, int32_t *out_rows);
/* causal != 0: plain causal attention; 0: tokens of a batch also see later tokens of their sequence in the same batch. */
LSHIM_API int32_t lshim_set_causal(lshim_model *model, int32_t causal);
/* Threads for single-token decoding and for batches (<= 0: leave as is). */
LSHIM_API int32_t lshim_set_threads(lshim_model *model, int32_t n_threads, int32_t n_threads_batch);

/* ---- KV cache ------------------------------------------------------------------------------ */

/* Removes positions [p0, p1) of a sequence (seq -1: every sequence; p0 < 0: from 0; p1 < 0: to the end). */
LSHIM_API int32_t lshim_kv_seq_rm(lshim_model *model, int32_t seq, int32_t p0, int32_t p1);
/* Makes dst share src's entries for positions [p0, p1). */
LSHIM_API int32_t lshim_kv_seq_cp(lshim_model *model, int32_t seq_src, int32_t seq_dst, int32_t p0, int32_t p1);
/* Removes every entry not belonging to seq. */
LSHIM_API int32_t lshim_kv_seq_keep(lshim_model *model, int32_t seq);
/* Empties the whole cache. */
LSHIM_API int32_t lshim_kv_clear(lshim_model *model);
/* The smallest / largest cached position of a sequence, -1 when it is empty. */
LSHIM_API int32_t lshim_kv_seq_pos_min(lshim_model *model, int32_t seq, int32_t *out_pos);
LSHIM_API int32_t lshim_kv_seq_pos_max(lshim_model *model, int32_t seq, int32_t *out_pos);

#ifdef __cplusplus
}
#endif

#endif /* LLAMA_SHIM_H */
