/*
 * matmul.c: tern_matmul / tern_matmul_f32 drivers. Split y [T][rows] into tasks of 4 panels (64 rows)
 * x one token block, run the family's integer kernel into int32 scratch and apply the epilogue:
 *     TOKEN: y = (c - off * sum_a) / act_scale * w_scale          (off = 1 ternary, 128 Q8)
 *     Q8K:   y = sum over 256-blocks b of (c_b - off * bsum_b) * (d_b * w_scale)
 * The epilogue is shared by every family, so families agree bit for bit when their integer sums do.
 */
#include <string.h>

#include "internal.h"

#define PANELS_PER_CALL 4 /* 64 rows per kernel call: the int32 scratch is [T_block][64] */

/* One matrix of a job: its task range is [task0, task0 + n_row_tasks * n_token_tasks). */
typedef struct matmul_part {
    const tern_matrix *m;
    float *y;
    int32_t n_row_tasks;
    int32_t task0;
} matmul_part;

/* Up to three matrices that read the same activations (Q, K, V or gate, up) run as one pool job. */
typedef struct matmul_job {
    const tern_kernels *k;
    const tern_acts *a;
    int32_t n_tokens;
    int32_t tokens_per_task;
    int32_t n_parts;
    matmul_part parts[3];
    uint8_t **scratch;
} matmul_job;

static void epilogue_token(const matmul_job *job, const matmul_part *part, const int32_t *c, int64_t row0, int32_t n_rows,
                           int32_t t0, int32_t nt) {
    const tern_matrix *m = part->m;
    const int32_t off = m->kind == TERN_MATRIX_Q8 ? 128 : 1;
    for (int32_t t = 0; t < nt; t++) {
        const float s = job->a->scale[t0 + t];
        const int32_t corr = off * job->a->sum[t0 + t];
        const int32_t *ct = c + (size_t)t * (PANELS_PER_CALL * 16);
        float *yt = part->y + (size_t)(t0 + t) * (size_t)m->rows + row0;
        if (m->kind == TERN_MATRIX_Q8) {
            for (int32_t r = 0; r < n_rows; r++) yt[r] = (float)(ct[r] - corr) / s * m->row_scale[row0 + r];
        } else {
            const float ws = m->scale;
            for (int32_t r = 0; r < n_rows; r++) yt[r] = (float)(ct[r] - corr) / s * ws;
        }
    }
}

static void epilogue_q8k(const matmul_job *job, const matmul_part *part, const int32_t *c, int64_t row0, int32_t n_rows,
                         int32_t t0, int32_t nt, int32_t b) {
    const tern_matrix *m = part->m;
    const tern_acts *a = job->a;
    const int32_t off = m->kind == TERN_MATRIX_Q8 ? 128 : 1;
    for (int32_t t = 0; t < nt; t++) {
        const size_t tb = (size_t)(t0 + t) * (size_t)a->n_blocks + (size_t)b;
        const float d = a->bscale[tb];
        const int32_t corr = off * a->bsum[tb];
        const int32_t *ct = c + (size_t)t * (PANELS_PER_CALL * 16);
        float *yt = part->y + (size_t)(t0 + t) * (size_t)m->rows + row0;
        for (int32_t r = 0; r < n_rows; r++) {
            const float ws = m->kind == TERN_MATRIX_Q8 ? m->row_scale[row0 + r] : m->scale;
            const float v = (float)(ct[r] - corr) * (d * ws);
            yt[r] = b == 0 ? v : yt[r] + v;
        }
    }
}

static void matmul_task(void *ctx, int32_t task, int32_t thread) {
    const matmul_job *job = ctx;
    int32_t pi = 0;
    while (pi + 1 < job->n_parts && task >= job->parts[pi + 1].task0) pi++;
    const matmul_part *part = &job->parts[pi];
    task -= part->task0;
    const tern_matrix *m = part->m;
    const tern_acts *a = job->a;
    const int32_t rt = task % part->n_row_tasks, tt = task / part->n_row_tasks;
    const int64_t p0 = (int64_t)rt * PANELS_PER_CALL;
    const int32_t np = (int32_t)(m->n_panels - p0 < PANELS_PER_CALL ? m->n_panels - p0 : PANELS_PER_CALL);
    const int32_t t0 = tt * job->tokens_per_task;
    const int32_t nt = job->n_tokens - t0 < job->tokens_per_task ? job->n_tokens - t0 : job->tokens_per_task;
    const int64_t row0 = p0 * 16;
    const int32_t n_rows = (int32_t)(m->rows - row0 < np * 16 ? m->rows - row0 : np * 16);

    int32_t *c = (int32_t *)job->scratch[thread];
    const size_t c_bytes = (size_t)tern_round_up(job->tokens_per_task, 16) * PANELS_PER_CALL * 16 * sizeof(int32_t);
    tern_gemm_args g = {
        .w = m->packed + (size_t)p0 * m->panel_bytes,
        .panel_bytes = m->panel_bytes,
        .n_panels = np,
        .a = a->q + (size_t)t0 * (size_t)a->cols_pad,
        .lda = (size_t)a->cols_pad,
        .n_tokens = nt,
        .c = c,
        .ldc = PANELS_PER_CALL * 16,
        .scratch = job->scratch[thread] + c_bytes,
    };
    const tern_gemm_fn fn = m->kind == TERN_MATRIX_Q8 ? job->k->gemm_u8 : job->k->gemm_t2;
    if (a->mode == TERN_ACT_TOKEN) {
        g.chunk_begin = 0;
        g.chunk_end = (int32_t)m->k_chunks;
        fn(&g);
        epilogue_token(job, part, c, row0, n_rows, t0, nt);
    } else {
        const int32_t per_block = TERN_Q8K_BLOCK / TERN_CHUNK_COLS;
        for (int32_t b = 0; b < a->n_blocks; b++) {
            g.chunk_begin = b * per_block;
            g.chunk_end = (b + 1) * per_block;
            fn(&g);
            epilogue_q8k(job, part, c, row0, n_rows, t0, nt, b);
        }
    }
}

/* Runs y_i = m_i . a for the non-NULL pairs (at least the first) as one pool job. */
static int32_t matmul_parts(tern_pool *pool, const tern_acts *a, const tern_matrix *const ms[3], float *const ys[3],
                            const char *fn_name) {
    if (!pool || !a || !ms[0] || !ys[0]) return tern_fail(TERN_E_ARG, "%s: NULL argument", fn_name);
    if (a->n_tokens <= 0) return tern_fail(TERN_E_ARG, "%s: activations are not quantised", fn_name);
    const tern_kernels *k = pool->kernels;
    matmul_job job = {.k = k, .a = a, .n_tokens = a->n_tokens};
    job.tokens_per_task = a->n_tokens < k->tokens_per_task ? a->n_tokens : k->tokens_per_task;
    const int32_t n_token_tasks = (a->n_tokens + job.tokens_per_task - 1) / job.tokens_per_task;
    int64_t tasks = 0;
    int32_t max_chunks = 0;
    for (int i = 0; i < 3; i++) {
        const tern_matrix *m = ms[i];
        if (!m) continue;
        if (!ys[i]) return tern_fail(TERN_E_ARG, "%s: matrix %d has no output", fn_name, i);
        if (m->kind != TERN_MATRIX_TERNARY && m->kind != TERN_MATRIX_Q8) {
            return tern_fail(TERN_E_ARG, "%s: matrix kind %d takes float input (use tern_matmul_f32)", fn_name, m->kind);
        }
        if (a->cols != m->cols) {
            return tern_fail(TERN_E_ARG, "%s: activations have %lld cols, matrix %lld", fn_name, (long long)a->cols,
                             (long long)m->cols);
        }
        matmul_part *part = &job.parts[job.n_parts++];
        part->m = m;
        part->y = ys[i];
        part->n_row_tasks = (int32_t)((m->n_panels + PANELS_PER_CALL - 1) / PANELS_PER_CALL); /* <= 2^25 */
        part->task0 = (int32_t)tasks;
        tasks += (int64_t)part->n_row_tasks * n_token_tasks;
        if (tasks > INT32_MAX) return tern_fail(TERN_E_ARG, "%s: too many tasks", fn_name);
        if (m->k_chunks > max_chunks) max_chunks = (int32_t)m->k_chunks;
    }
    const size_t c_bytes = (size_t)tern_round_up(job.tokens_per_task, 16) * PANELS_PER_CALL * 16 * sizeof(int32_t);
    const int32_t chunks = a->mode == TERN_ACT_TOKEN ? max_chunks : TERN_Q8K_BLOCK / TERN_CHUNK_COLS;
    int32_t st = tern_pool_reserve(pool, c_bytes + k->scratch_per_chunk * (size_t)chunks);
    if (st != TERN_OK) return st;
    job.scratch = pool->scratch;
    tern_pool_run(pool, matmul_task, &job, (int32_t)tasks);
    return TERN_OK;
}

int32_t tern_matmul(tern_pool *pool, const tern_matrix *m, const tern_acts *a, float *y) {
    const tern_matrix *ms[3] = {m, NULL, NULL};
    float *ys[3] = {y, NULL, NULL};
    return matmul_parts(pool, a, ms, ys, "tern_matmul");
}

int32_t tern_matmul3(tern_pool *pool, const tern_acts *a, const tern_matrix *m0, float *y0, const tern_matrix *m1, float *y1,
                     const tern_matrix *m2, float *y2) {
    const tern_matrix *ms[3] = {m0, m1, m2};
    float *ys[3] = {y0, y1, y2};
    return matmul_parts(pool, a, ms, ys, "tern_matmul3");
}

/* ---- float matrices ------------------------------------------------------------------------------- */

#define FLOAT_ROWS_PER_TASK 64
#define FLOAT_TOKENS_PER_TASK 64

typedef struct matmulf_job {
    const tern_matrix *m;
    tern_gemmf_fn fn;
    const float *x;
    float *y;
    int32_t n_tokens;
    int32_t n_row_tasks;
} matmulf_job;

static void matmulf_task(void *ctx, int32_t task, int32_t thread) {
    (void)thread;
    const matmulf_job *job = ctx;
    const tern_matrix *m = job->m;
    const int64_t r0 = (int64_t)(task % job->n_row_tasks) * FLOAT_ROWS_PER_TASK;
    const int32_t t0 = task / job->n_row_tasks * FLOAT_TOKENS_PER_TASK;
    const size_t esize = m->kind == TERN_MATRIX_F32 ? 4 : 2;
    tern_gemmf_args g = {
        .w = (const uint8_t *)m->dense + (size_t)r0 * (size_t)m->cols * esize,
        .ldw = (size_t)m->cols,
        .n_rows = (int32_t)(m->rows - r0 < FLOAT_ROWS_PER_TASK ? m->rows - r0 : FLOAT_ROWS_PER_TASK),
        .k = m->cols,
        .x = job->x + (size_t)t0 * (size_t)m->cols,
        .ldx = (size_t)m->cols,
        .n_tokens = job->n_tokens - t0 < FLOAT_TOKENS_PER_TASK ? job->n_tokens - t0 : FLOAT_TOKENS_PER_TASK,
        .y = job->y + (size_t)t0 * (size_t)m->rows + r0,
        .ldy = (size_t)m->rows,
    };
    job->fn(&g);
}

int32_t tern_matmul_f32(tern_pool *pool, const tern_matrix *m, const float *x, int32_t n_tokens, float *y) {
    if (!pool || !m || !x || !y) return tern_fail(TERN_E_ARG, "tern_matmul_f32: NULL argument");
    if (n_tokens <= 0) return tern_fail(TERN_E_ARG, "tern_matmul_f32: n_tokens %d <= 0", n_tokens);
    if (m->kind == TERN_MATRIX_TERNARY || m->kind == TERN_MATRIX_Q8) {
        tern_acts *a = pool->acts;
        if (!a || a->cols != m->cols || a->max_tokens < n_tokens) {
            const int32_t cap = a && a->cols == m->cols && a->max_tokens > n_tokens ? a->max_tokens : n_tokens;
            tern_acts *fresh = NULL;
            int32_t st = tern_acts_init(cap, m->cols, &fresh);
            if (st != TERN_OK) return st;
            tern_acts_free(pool->acts);
            pool->acts = a = fresh;
        }
        int32_t st = tern_acts_quantize(pool, a, x, n_tokens, TERN_ACT_TOKEN);
        if (st != TERN_OK) return st;
        return tern_matmul(pool, m, a, y);
    }
    matmulf_job job = {.m = m, .x = x, .y = y, .n_tokens = n_tokens};
    job.fn = m->kind == TERN_MATRIX_F32 ? pool->kernels->gemm_f32 : pool->kernels->gemm_f16;
    job.n_row_tasks = (int32_t)((m->rows + FLOAT_ROWS_PER_TASK - 1) / FLOAT_ROWS_PER_TASK);
    const int32_t n_token_tasks = (n_tokens + FLOAT_TOKENS_PER_TASK - 1) / FLOAT_TOKENS_PER_TASK;
    if ((int64_t)job.n_row_tasks * n_token_tasks > INT32_MAX) return tern_fail(TERN_E_ARG, "tern_matmul_f32: too many tasks");
    tern_pool_run(pool, matmulf_task, &job, job.n_row_tasks * n_token_tasks);
    return TERN_OK;
}
