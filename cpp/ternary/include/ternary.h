/*
 * ternary.h: the whole C ABI of libternary, the CPU kernels of the native engine.
 *
 * The TypeScript forward pass (src/engine/native/forward.ts) composes a BitNet b1.58 transformer from
 * these coarse calls: one call per matmul, norm, RoPE or attention over the whole batch. Rules of the ABI:
 *   - only sized integers, floats and pointers cross it (no structs by value, no varargs);
 *   - every fallible function returns an int32_t status (TERN_OK or a negative TERN_E_*) and leaves a
 *     message for tern_last_error() on the calling thread; nothing exits, aborts or asserts on input;
 *   - handles are opaque and come in init/free pairs; free(NULL) is a no-op;
 *   - a tern_pool, tern_acts or tern_kv is used by one caller thread at a time; a tern_matrix or
 *     tern_rope is immutable after init (except tern_matrix_set_scale) and may be shared.
 * Layouts: "[T][dim]" means T rows of dim contiguous floats (row-major, token-major).
 * Requires an x86-64 CPU with AVX2, FMA and F16C: tern_kernels_available() is 0 (and tern_pool_init
 * refuses) elsewhere; check it before any other call, which may use AVX2 instructions.
 */
#ifndef TERNARY_H
#define TERNARY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TERN_BUILD)
#define TERN_API __attribute__((visibility("default")))
#else
#define TERN_API
#endif

/* Bumped on every incompatible change; the FFI side checks it at load. */
#define TERN_ABI_VERSION 2

/* ---- status codes ---------------------------------------------------------------------------- */
#define TERN_OK             0
#define TERN_E_ARG         -1 /* an argument is out of range, NULL, or inconsistent with a handle */
#define TERN_E_FORMAT      -2 /* weight data is malformed (bad size, invalid code, mixed scales) */
#define TERN_E_UNSUPPORTED -3 /* the CPU lacks a requested kernel family, or a case is not implemented */
#define TERN_E_NOMEM       -4 /* an allocation failed */
#define TERN_E_CAPACITY    -5 /* more tokens than a buffer was sized for */
#define TERN_E_THREAD      -6 /* a thread could not be started */

/* ---- kernel families (run-time dispatch) ----------------------------------------------------- */
#define TERN_KERNELS_AUTO   0 /* best available; env TERNARY_KERNELS=scalar|avx2|avx512|amx forces one */
#define TERN_KERNELS_SCALAR 1 /* plain C reference */
#define TERN_KERNELS_AVX2   2 /* AVX2 (vpmaddubsw) */
#define TERN_KERNELS_AVX512 3 /* AVX-512 F/BW/VL + VNNI (vpdpbusd) */
#define TERN_KERNELS_AMX    4 /* AMX-INT8 (tdpbssd/tdpbsud) for batches, AVX-512 VNNI for small T */

/* ---- CPU feature bits (tern_cpu_features) ---------------------------------------------------- */
#define TERN_CPU_AVX2       (1u << 0)
#define TERN_CPU_FMA        (1u << 1)
#define TERN_CPU_F16C       (1u << 2)
#define TERN_CPU_AVX512F    (1u << 3)
#define TERN_CPU_AVX512BW   (1u << 4)
#define TERN_CPU_AVX512VL   (1u << 5)
#define TERN_CPU_AVX512VNNI (1u << 6)
#define TERN_CPU_AMX_TILE   (1u << 7)
#define TERN_CPU_AMX_INT8   (1u << 8)
#define TERN_CPU_OS_AVX     (1u << 9)  /* XCR0 enables YMM state */
#define TERN_CPU_OS_AVX512  (1u << 10) /* XCR0 enables opmask + ZMM state */
#define TERN_CPU_OS_AMX     (1u << 11) /* XCR0 enables tile state and arch_prctl granted XTILEDATA */

/* ---- input formats (values equal ggml type ids where ggml has them) -------------------------- */
#define TERN_FMT_F32        0    /* row-major float32 */
#define TERN_FMT_F16        1    /* row-major IEEE half */
#define TERN_FMT_TQ1_0      34   /* ggml TQ1_0: 54-byte blocks of 256 (1.6875 bpw) */
#define TERN_FMT_TQ2_0      35   /* ggml TQ2_0: 66-byte blocks of 256 (2.0625 bpw) */
#define TERN_FMT_I2_S       36   /* Microsoft bitnet.cpp I2_S: 2 bpw + one f32 tensor scale */
#define TERN_FMT_TERNARY_I8 1000 /* int8 values in {-1,0,1}, one per weight; scale 1 (tests, converters) */

/* ---- what a tern_matrix holds (tern_matrix_kind) --------------------------------------------- */
#define TERN_MATRIX_TERNARY 1 /* 2-bit codes in 16-row tiles, one f32 scale per matrix */
#define TERN_MATRIX_Q8      2 /* int8 in 16-row tiles, one f32 scale per row (output head) */
#define TERN_MATRIX_F16     3 /* row-major half (copied or borrowed) */
#define TERN_MATRIX_F32     4 /* row-major float (copied or borrowed) */

/* flags for tern_matrix_init */
#define TERN_MATRIX_FLAG_BORROW 1u /* F32/F16 input: keep the caller's memory, which must outlive the matrix */
#define TERN_MATRIX_FLAG_Q8     2u /* F32/F16 input: quantise to int8 with a per-row absmax scale */
/* Input (repacked, or copied F32/F16) that lies in a read-only file mapping: release its pages from the
 * process (madvise MADV_DONTNEED) as they are consumed, so a load does not hold the file and its copy
 * at once. Reads afterwards fault the pages back in from the file. Never set it for anonymous or written
 * memory, whose contents it would discard; it excludes BORROW. */
#define TERN_MATRIX_FLAG_DROP_INPUT 4u

/* activation quantisation modes (tern_acts_quantize) */
#define TERN_ACT_TOKEN 0 /* BitLinear: one scale per token, s = 127/max|x|, a = round_half_even(x*s) */
#define TERN_ACT_Q8K   1 /* llama.cpp Q8_K: one scale per 256 values (cols % 256 == 0), to cross-check */

/* attention masks (tern_attention) */
#define TERN_MASK_CAUSAL 0 /* a token sees its own sequence's cached positions <= its position */
#define TERN_MASK_BLOCK  1 /* causal, plus every token of its own sequence in the current batch */

/* RoPE tables (tern_rope_init) */
#define TERN_ROPE_EXACT 0 /* cos/sin of pos * base^(-2i/n_rot), computed in double precision */
#define TERN_ROPE_GGML  1 /* as ggml: theta_i = theta_{i-1} * powf(base, -2/n_rot) in float, cosf/sinf (cross-checks) */

/* gated activations (tern_glu) */
#define TERN_GLU_SILU  0 /* out = silu(gate) * up */
#define TERN_GLU_RELU2 1 /* out = relu(gate)^2 * up */

/* KV cache element types (ggml ids) */
#define TERN_KV_F32 0
#define TERN_KV_F16 1

typedef struct tern_pool tern_pool;     /* threads + chosen kernel family + per-thread scratch */
typedef struct tern_matrix tern_matrix; /* a weight matrix repacked for the kernels */
typedef struct tern_acts tern_acts;     /* int8-quantised activations of a batch */
typedef struct tern_rope tern_rope;     /* cos/sin table for NEOX RoPE */
typedef struct tern_kv tern_kv;         /* KV cache: layers x sequence slots x positions */

/* ---- library ----------------------------------------------------------------------------------- */
TERN_API uint32_t tern_abi_version(void);
/* Message of the most recent failure on this thread ("" if none yet); success does not clear it. */
TERN_API const char *tern_last_error(void);
TERN_API const char *tern_status_name(int32_t status);
TERN_API uint32_t tern_cpu_features(void);      /* TERN_CPU_* bits */
TERN_API uint32_t tern_kernels_available(void); /* bit (1 << family) for each usable family */
TERN_API const char *tern_kernels_name(int32_t family); /* "scalar", "avx2", ...; "?" if unknown */

/* ---- thread pool --------------------------------------------------------------------------------
 * n_threads <= 0 means one per online CPU. The caller's thread is worker 0 and n_threads-1 persistent
 * workers wait for the next call spinning for env TERNARY_SPIN_US microseconds (default 0: they sleep at
 * once, which a shared machine needs; 200 suits idle cores), then sleeping. The caller spins up to
 * TERNARY_DONE_SPIN_US (default 2000) for the last tasks of a call before it sleeps. `kernels` is a
 * TERN_KERNELS_* family; AUTO honours env TERNARY_KERNELS. A family the CPU lacks is refused
 * (TERN_E_UNSUPPORTED, with the reason). */
TERN_API int32_t tern_pool_init(int32_t n_threads, int32_t kernels, tern_pool **out);
TERN_API void tern_pool_free(tern_pool *pool);
TERN_API int32_t tern_pool_threads(const tern_pool *pool);
TERN_API int32_t tern_pool_kernels(const tern_pool *pool);

/* ---- matrices -----------------------------------------------------------------------------------
 * rows x cols, row-major as in GGUF (ne[0] = cols is contiguous). `data` holds nbytes of the format:
 *   TQ2_0 / TQ1_0: cols % 256 == 0, rows*cols/256 blocks. Every block whose weights are not all zero
 *     must carry the same fp16 d, which becomes the matrix scale; otherwise TERN_E_FORMAT (per-block
 *     scales are not supported: BitNet tensors have one absmean scale). TQ2_0 code 3 is rejected.
 *   I2_S: rows*cols % 128 == 0, nbytes >= rows*cols/4 + 4; the f32 scale follows the packed codes.
 *     Code 3 is rejected.
 *   F32 / F16: stored as is (copied, or borrowed with FLAG_BORROW), or quantised with FLAG_Q8 to int8
 *     q = round_half_even(w * 127 / max|w_row|) with the row scale max|w_row| / 127.
 * Ternary and Q8 matrices take cols <= 65536 (int32 sums).
 * `pool` may be NULL (repacking then runs on the calling thread). */
TERN_API int32_t tern_matrix_init(tern_pool *pool, int32_t format, const void *data, uint64_t nbytes,
                                  int64_t rows, int64_t cols, uint32_t flags, tern_matrix **out);
TERN_API void tern_matrix_free(tern_matrix *m);
TERN_API int64_t tern_matrix_rows(const tern_matrix *m);
TERN_API int64_t tern_matrix_cols(const tern_matrix *m);
TERN_API int32_t tern_matrix_kind(const tern_matrix *m);   /* TERN_MATRIX_* (0 if m is NULL) */
TERN_API uint64_t tern_matrix_nbytes(const tern_matrix *m); /* memory the matrix owns */
TERN_API float tern_matrix_scale(const tern_matrix *m);     /* ternary: the tensor scale; others 1 */
/* Ternary only: replace the tensor scale (e.g. to fold in a separate `.scale` tensor). */
TERN_API int32_t tern_matrix_set_scale(tern_matrix *m, float scale);
/* Dequantised rows ids[0..n) into out [n][cols] (embedding lookup, tests). */
TERN_API int32_t tern_matrix_get_rows(const tern_matrix *m, const int32_t *ids, int32_t n, float *out);

/* ---- activations ----------------------------------------------------------------------------- */
TERN_API int32_t tern_acts_init(int32_t max_tokens, int64_t cols, tern_acts **out);
TERN_API void tern_acts_free(tern_acts *a);
/* Quantise x [n_tokens][cols] to int8 in [-127, 127]. Non-finite input is refused (TERN_E_ARG). */
TERN_API int32_t tern_acts_quantize(tern_pool *pool, tern_acts *a, const float *x, int32_t n_tokens,
                                    int32_t mode);
TERN_API int32_t tern_acts_tokens(const tern_acts *a);
/* Token t's int8 values (q [cols]) and scales: TOKEN mode writes 1 value (act_scale, x ~ q/act_scale),
 * Q8K mode writes cols/256 values (llama's d, x ~ q*d). Either pointer may be NULL. */
TERN_API int32_t tern_acts_get(const tern_acts *a, int32_t t, int8_t *q, float *scales);

/* ---- matmul: y [T][rows] = x [T][cols] . W^T ----------------------------------------------------
 * tern_matmul: W ternary or Q8, activations already quantised (T = tern_acts_tokens(a)).
 *   TOKEN mode: y[t][r] = (sum_c q[r][c]*a[t][c]) * w_scale(r) / act_scale_t, the integer sum exact.
 * tern_matmul_f32: any matrix kind; ternary/Q8 quantise x per token internally. */
TERN_API int32_t tern_matmul(tern_pool *pool, const tern_matrix *m, const tern_acts *a, float *y);
/* Up to three ternary/Q8 matrices reading the same activations (Q, K, V; gate, up) as one pool job:
 * y_i [T][rows_i] = m_i . a for each non-NULL m_i (m0 is required). Results equal tern_matmul's. */
TERN_API int32_t tern_matmul3(tern_pool *pool, const tern_acts *a, const tern_matrix *m0, float *y0,
                              const tern_matrix *m1, float *y1, const tern_matrix *m2, float *y2);
TERN_API int32_t tern_matmul_f32(tern_pool *pool, const tern_matrix *m, const float *x, int32_t n_tokens,
                                 float *y);

/* ---- element-wise and per-token ops (x, y may alias where noted) -------------------------------- */
/* y [T][dim] = x / sqrt(mean(x^2) + eps) * weight (weight may be NULL); y may equal x. */
TERN_API int32_t tern_rmsnorm(tern_pool *pool, const float *x, const float *weight, float *y,
                              int32_t n_tokens, int32_t dim, float eps);
/* out [n] = act(gate) * up; out may equal gate or up. */
TERN_API int32_t tern_glu(tern_pool *pool, int32_t act, const float *gate, const float *up, float *out,
                          int64_t n);
/* out [n] = a + b; out may equal a or b. */
TERN_API int32_t tern_add(tern_pool *pool, const float *a, const float *b, float *out, int64_t n);
/* In place, per row: x = softmax(x). */
TERN_API int32_t tern_softmax(tern_pool *pool, float *x, int32_t n_rows, int32_t n_cols);
/* Per row: ids[r] = first index of the maximum; max_prob[r] = its softmax probability (may be NULL). */
TERN_API int32_t tern_argmax(const float *x, int32_t n_rows, int32_t n_cols, int32_t *ids, float *max_prob);

/* ---- RoPE, NEOX style (rotate-half) ---------------------------------------------------------------
 * For i < n_rot/2: theta = pos * base^(-2i/n_rot), (x[i], x[i+n_rot/2]) rotated by theta; dims
 * >= n_rot untouched. The table covers positions [0, n_pos); `mode` is a TERN_ROPE_* (how theta is
 * rounded: ggml's float recurrence drifts by ~1e-5 rad at position 500, enough to flip int8 codes). */
TERN_API int32_t tern_rope_init(int32_t n_rot, float theta_base, int32_t n_pos, int32_t mode, tern_rope **out);
TERN_API void tern_rope_free(tern_rope *r);
/* In place on x [T][n_heads*head_dim]; positions [T]. */
TERN_API int32_t tern_rope_apply(tern_pool *pool, const tern_rope *r, float *x, int32_t n_tokens,
                                 int32_t n_heads, int32_t head_dim, const int32_t *positions);

/* ---- KV cache and attention -----------------------------------------------------------------------
 * Per layer and sequence slot (0..n_seqs-1), n_ctx positions of n_kv_heads*head_dim keys and values
 * (head_dim % 8 == 0), stored as TERN_KV_F32 or TERN_KV_F16, with a validity bit per position. */
TERN_API int32_t tern_kv_init(int32_t n_layers, int32_t n_seqs, int32_t n_ctx, int32_t n_kv_heads,
                              int32_t head_dim, int32_t dtype, tern_kv **out);
TERN_API void tern_kv_free(tern_kv *kv);
TERN_API uint64_t tern_kv_nbytes(const tern_kv *kv);
TERN_API int32_t tern_kv_clear(tern_kv *kv);
/* Invalidate positions [p0, p1) of seq (p1 < 0: to the end; seq < 0: every sequence). */
TERN_API int32_t tern_kv_seq_rm(tern_kv *kv, int32_t seq, int32_t p0, int32_t p1);
/* Copy the valid entries in [p0, p1) of src to dst (all layers); dst's entries there are replaced. */
TERN_API int32_t tern_kv_seq_cp(tern_kv *kv, int32_t src, int32_t dst, int32_t p0, int32_t p1);
/* *out = highest valid position of seq in the last layer, or -1 if none. */
TERN_API int32_t tern_kv_seq_pos_max(const tern_kv *kv, int32_t seq, int32_t *out);
/* One layer of attention for a batch. q [T][n_heads*head_dim], k and v [T][n_kv_heads*head_dim]
 * (RoPE already applied), seq_ids and positions [T]. Writes k, v into the cache at (seq, pos) first
 * (a (seq, pos) pair may appear once per batch), then
 *   out[t][h] = sum_p softmax_p(scale * q[t][h] . K[p][h / (n_heads/n_kv_heads)]) V[p][...]
 * over the positions p visible under `mask`. out [T][n_heads*head_dim] must not alias q. */
TERN_API int32_t tern_attention(tern_pool *pool, tern_kv *kv, int32_t layer, const float *q,
                                const float *k, const float *v, int32_t n_tokens, const int32_t *seq_ids,
                                const int32_t *positions, int32_t n_heads, float scale, int32_t mask,
                                float *out);

#ifdef __cplusplus
}
#endif

#endif /* TERNARY_H */
