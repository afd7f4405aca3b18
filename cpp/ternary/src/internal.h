/*
 * internal.h: what the library's files share and the ABI does not show: the handles' structs, the
 * packed weight layout, the kernel signatures every ISA file implements and the dispatch table.
 */
#ifndef TERN_INTERNAL_H
#define TERN_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "ternary.h"

/* ---- errors (error.c) ------------------------------------------------------------------------ */
/* Records a printf-style message for tern_last_error() and returns `status`. */
int32_t tern_fail(int32_t status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tern_clear_error(void);

/* ---- memory ------------------------------------------------------------------------------------ */
#define TERN_ALIGN 64
void *tern_alloc(size_t bytes);  /* 64-byte aligned, zero-filled; NULL on failure or overflow */
void tern_free_aligned(void *p);
/* Large read-mostly buffers (packed weights): a private mapping whose whole 2 MiB extents are backed by
 * transparent huge pages where the kernel allows it (fewer TLB misses while a decode streams the weights).
 * Zero-filled; free with the same size. */
void *tern_alloc_pages(size_t bytes);
void tern_free_pages(void *p, size_t bytes);
static inline int64_t tern_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* ---- packed weight layout -----------------------------------------------------------------------
 * Both integer kinds split the matrix into PANELS of 16 rows and each panel into CHUNKS of 64 columns
 * (rows and cols padded with zero weights). A chunk is the int8 "B" operand of one AMX tile in VNNI
 * order: 16 tile rows i (0..15), each 64 bytes = 16 matrix rows n x 4 consecutive columns j:
 *     B[i][4n + j] = u(row 16p + n, col 64c + 4i + j)
 * where u is the unsigned code of the weight w: u = w + 1 for ternary, u = w + 128 for Q8. This one
 * order serves every family: a 64-byte vector of B is 16 rows' 4-column dot-product groups, so
 * vpdpbusd(acc, B_i, broadcast(a[64c + 4i .. +3])) adds 4 columns to 16 rows' sums at once (lanes =
 * rows: no horizontal reduction), and AMX loads it as a tile.
 * Ternary chunks pack B in 2 bits per weight (256 bytes): group g (0..3) is 64 bytes; bits 2s..2s+1 of
 * its byte b hold B[4g + s][b]. So (group_g >> 2s) & 3, byte-wise, IS tile row 4g + s.
 * Kernels compute raw sums c = sum_k u*a; the epilogue removes the offset: sum w*a = c - off * sum a. */
#define TERN_PANEL_ROWS 16
#define TERN_CHUNK_COLS 64
#define TERN_T2_CHUNK_BYTES 256  /* 16 x 64 weights at 2 bits */
#define TERN_U8_CHUNK_BYTES 1024 /* 16 x 64 weights at 8 bits */
#define TERN_Q8K_BLOCK 256       /* llama.cpp QK_K */

struct tern_matrix {
    int32_t kind;          /* TERN_MATRIX_* */
    int64_t rows, cols;
    int64_t n_panels;      /* ceil(rows / 16) */
    int64_t k_chunks;      /* ceil(cols / 64) */
    size_t panel_bytes;    /* bytes of one panel: k_chunks * chunk bytes */
    uint8_t *packed;       /* TERNARY / Q8: n_panels * panel_bytes (tern_alloc_pages) */
    size_t packed_bytes;
    float scale;           /* TERNARY: tensor scale */
    float *row_scale;      /* Q8: [n_panels * 16] per-row scale (0 for padding rows) */
    const void *dense;     /* F16 / F32: [rows][cols] */
    void *dense_owned;     /* the copy behind `dense` (tern_alloc_pages), or NULL when borrowed */
    size_t dense_bytes;
    uint64_t nbytes;
};

/* ---- activations ------------------------------------------------------------------------------- */
struct tern_acts {
    int32_t max_tokens;
    int32_t n_tokens;
    int32_t mode;          /* TERN_ACT_* of the last quantisation */
    int64_t cols, cols_pad;/* cols_pad = round_up(cols, 64) */
    int32_t n_blocks;      /* cols / 256 when cols % 256 == 0, else 0 (no Q8K mode) */
    int8_t *q;             /* [round_up(max_tokens, 32)][cols_pad], padding zero */
    float *scale;          /* [max_tokens] TOKEN: act_scale = 127 / max|x| (1 for an all-zero token) */
    int32_t *sum;          /* [max_tokens] TOKEN: sum of q over the row */
    float *bscale;         /* [max_tokens][n_blocks] Q8K: d of each block */
    int32_t *bsum;         /* [max_tokens][n_blocks] Q8K: sum of q in each block */
};
#define TERN_ACTS_ROW_PAD 32 /* AMX reads whole 16-token tiles; token tasks start at multiples of 32 */

/* ---- kernel signatures --------------------------------------------------------------------------- */
/* Integer GEMM over whole panels: for p < n_panels, t < n_tokens, n < 16:
 *     c[t * ldc + 16 p + n] = sum over chunks [chunk_begin, chunk_end) of sum_k u * a[t][64 chunk + k]
 * `w` points at the first panel (chunk 0), `a` at token 0 of the task. Rows a[t] for t up to
 * round_up(n_tokens, 16) are readable, and c rows up to round_up(n_tokens, 16) are writable. */
typedef struct tern_gemm_args {
    const uint8_t *w;
    size_t panel_bytes;
    int32_t n_panels;
    int32_t chunk_begin, chunk_end;
    const int8_t *a;
    size_t lda;            /* bytes between tokens */
    int32_t n_tokens;
    int32_t *c;
    size_t ldc;            /* int32s between tokens */
    uint8_t *scratch;      /* per-thread, kernels->scratch_per_chunk * (chunk_end - chunk_begin) bytes */
} tern_gemm_args;

/* Float GEMM: y[t * ldy + r] = sum_k x[t * ldx + k] * W[r][k] for r < n_rows, W row-major with ldw. */
typedef struct tern_gemmf_args {
    const void *w;         /* row 0 of this call: float or uint16_t (half) */
    size_t ldw;            /* elements between rows */
    int32_t n_rows;
    int64_t k;
    const float *x;
    size_t ldx;
    int32_t n_tokens;
    float *y;
    size_t ldy;
} tern_gemmf_args;

typedef void (*tern_gemm_fn)(const tern_gemm_args *args);
typedef void (*tern_gemmf_fn)(const tern_gemmf_args *args);

/* One table per family: dispatch.c picks one from CPUID; nothing else looks at the CPU. */
typedef struct tern_kernels {
    int32_t family;
    const char *name;
    tern_gemm_fn gemm_t2;      /* ternary 2-bit chunks */
    tern_gemm_fn gemm_u8;      /* Q8 offset-binary chunks */
    tern_gemmf_fn gemm_f16;
    tern_gemmf_fn gemm_f32;
    size_t scratch_per_chunk;  /* bytes of per-thread scratch per 64-column chunk (AMX unpack buffer) */
    int32_t tokens_per_task;   /* token block of one matmul task (multiple of 32) */
} tern_kernels;

#define TERN_DECLARE_FAMILY(sfx)                                  \
    void tern_gemm_t2_##sfx(const tern_gemm_args *args);          \
    void tern_gemm_u8_##sfx(const tern_gemm_args *args);          \
    void tern_gemm_f16_##sfx(const tern_gemmf_args *args);        \
    void tern_gemm_f32_##sfx(const tern_gemmf_args *args);
TERN_DECLARE_FAMILY(ref)
TERN_DECLARE_FAMILY(avx2)
TERN_DECLARE_FAMILY(avx512)
void tern_gemm_t2_amx(const tern_gemm_args *args);
void tern_gemm_u8_amx(const tern_gemm_args *args);

/* dispatch.c: the table for a family (AUTO: the best, or env TERNARY_KERNELS). Fails with TERN_E_ARG
 * for an unknown family and TERN_E_UNSUPPORTED for one this CPU cannot run. */
int32_t tern_kernels_select(int32_t family, const tern_kernels **out);

/* ---- thread pool (pool.c) ------------------------------------------------------------------------ */
typedef void (*tern_task_fn)(void *ctx, int32_t task, int32_t thread);

struct tern_pool {
    int32_t n_threads;
    const tern_kernels *kernels;
    pthread_t *threads;              /* [n_threads - 1] */
    int32_t n_started;
    /* Jobs alternate between two slots; `work` = generation << 32 | next task index. A thread runs a
     * task only after a compare-and-swap on `work` that still shows the job's generation, so a worker
     * that wakes late can never run a stale job, and the caller waits for tasks, not for workers. */
    struct tern_job_slot {
        _Atomic(tern_task_fn) fn;
        _Atomic(void *) ctx;
        _Atomic int32_t n_tasks;
    } slots[2];
    _Atomic uint64_t work;
    _Atomic int32_t tasks_done;      /* tasks of the current job finished */
    _Atomic int32_t stop;
    int64_t spin_ns;                 /* a worker spins this long for the next job, then sleeps */
    int64_t done_spin_ns;            /* the caller spins this long for the job's last tasks, then sleeps */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    /* per-thread scratch, grown by tern_pool_reserve before a job */
    uint8_t **scratch;               /* [n_threads] */
    size_t scratch_bytes;
    tern_acts *acts;                 /* tern_matmul_f32's quantisation buffer */
};

/* Runs fn(ctx, task, thread) for task in [0, n_tasks) on the pool (pool may be NULL: serial). */
void tern_pool_run(tern_pool *pool, tern_task_fn fn, void *ctx, int32_t n_tasks);
/* Grows every thread's scratch to at least `bytes`. */
int32_t tern_pool_reserve(tern_pool *pool, size_t bytes);
static inline int32_t tern_pool_size(const tern_pool *pool) { return pool ? pool->n_threads : 1; }

/* ---- misc helpers ------------------------------------------------------------------------------- */
float tern_f16_to_f32(uint16_t h);
uint16_t tern_f32_to_f16(float f);

#endif /* TERN_INTERNAL_H */
