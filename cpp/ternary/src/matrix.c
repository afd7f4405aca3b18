/*
 * matrix.c: tern_matrix, a weight matrix in the layout the kernels want (internal.h): ternary inputs
 * are repacked once into 2-bit VNNI-order chunks, F32/F16 heads are kept row-major or quantised to Q8
 * chunks. Repacking runs over 16-row panels on the pool.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats.h"
#include "internal.h"
#include "simd.h"

/* ---- packing one panel --------------------------------------------------------------------------- */

static inline uint32_t load32(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Four int8 weights in {-1, 0, 1} (0xFF, 0x00, 0x01 per byte) to their codes w + 1 in {0, 1, 2}, byte-wise
 * without carries between bytes: ((v & 0x7f..) + 0x01..) ^ (v & 0x80..) maps 0xFF -> 0x80 ^ 0x80 = 0,
 * 0x00 -> 1 and 0x01 -> 2. Past `cols` the caller passes zero weights (code 1). */
static inline uint32_t codes4(uint32_t v) {
    return ((v & 0x7f7f7f7fu) + 0x01010101u) ^ (v & 0x80808080u);
}

/* w: [16][cols] int8 weights of one panel (rows past the matrix are zero). Writes k_chunks * 256 bytes:
 * chunk c, group g, byte 4n + j, bits 2s = (w[n][64c + 4(4g + s) + j] + 1), zero weight (code 1) past cols.
 * Word-wise: the 4 bytes 4n..4n+3 of group g are sum_s codes4(w[n][64c + 16g + 4s ..]) << 2s (each
 * code <= 2, so no byte overflows). */
static void pack_t2_panel(const int8_t *w, int64_t cols, int64_t k_chunks, uint8_t *out) {
    for (int64_t c = 0; c < k_chunks; c++) {
        const int full = 64 * c + 64 <= cols;
        for (int g = 0; g < 4; g++) {
            uint8_t *dst = out + c * TERN_T2_CHUNK_BYTES + g * 64;
            for (int n = 0; n < 16; n++) {
                uint32_t word = 0;
                for (int s = 0; s < 4; s++) {
                    const int64_t col = c * 64 + 4 * (4 * g + s);
                    uint32_t v = 0;
                    if (full) {
                        v = load32(w + n * cols + col);
                    } else {
                        for (int j = 0; j < 4; j++) {
                            if (col + j < cols) v |= (uint32_t)(uint8_t)w[n * cols + col + j] << (8 * j);
                        }
                    }
                    word |= codes4(v) << (2 * s);
                }
                memcpy(dst + 4 * n, &word, 4);
            }
        }
    }
}

/* q: [16][cols] int8 in [-127, 127]. Writes k_chunks * 1024 bytes: B[i][4n + j] = q[n][64c + 4i + j] + 128,
 * i.e. the 4 bytes of row n xor 0x80 each (int8 + 128 as uint8 = flipping the sign bit). */
static void pack_u8_panel(const int8_t *q, int64_t cols, int64_t k_chunks, uint8_t *out) {
    for (int64_t c = 0; c < k_chunks; c++) {
        const int full = 64 * c + 64 <= cols;
        for (int i = 0; i < 16; i++) {
            uint8_t *dst = out + c * TERN_U8_CHUNK_BYTES + i * 64;
            const int64_t col = c * 64 + 4 * i;
            for (int n = 0; n < 16; n++) {
                uint32_t v = 0;
                if (full) {
                    v = load32(q + n * cols + col);
                } else {
                    for (int j = 0; j < 4; j++) {
                        if (col + j < cols) v |= (uint32_t)(uint8_t)q[n * cols + col + j] << (8 * j);
                    }
                }
                v ^= 0x80808080u;
                memcpy(dst + 4 * n, &v, 4);
            }
        }
    }
}

/* Weight (row n of panel, col) back from a packed panel. */
static int t2_weight(const uint8_t *panel, int n, int64_t col) {
    const int64_t c = col / 64;
    const int i = (int)(col % 64) / 4, j = (int)(col % 4);
    const uint8_t byte = panel[c * TERN_T2_CHUNK_BYTES + (i / 4) * 64 + 4 * n + j];
    return ((byte >> (2 * (i % 4))) & 3) - 1;
}

static int u8_weight(const uint8_t *panel, int n, int64_t col) {
    const int64_t c = col / 64;
    const int i = (int)(col % 64) / 4, j = (int)(col % 4);
    return (int)panel[c * TERN_U8_CHUNK_BYTES + i * 64 + 4 * n + j] - 128;
}

/* ---- the parallel repack job --------------------------------------------------------------------- */

typedef struct repack_job {
    tern_matrix *m;
    int32_t format;
    const uint8_t *data;
    tern_format_info info;
    uint8_t **scratch;       /* per thread: [16][cols] int8, then [cols] float */
    uint64_t nbytes;         /* of data */
    int drop;                /* TERN_MATRIX_FLAG_DROP_INPUT: release each panel's input pages once read */
    _Atomic int32_t status;
    char message[512];       /* the failing worker's tern_last_error(), re-raised on the caller */
} repack_job;

static void record_failure(repack_job *job, int32_t status) {
    int32_t expected = TERN_OK;
    if (atomic_compare_exchange_strong(&job->status, &expected, status)) {
        strncpy(job->message, tern_last_error(), sizeof job->message - 1);
    }
}

/* Quantises one F32/F16 row to int8 in [-127, 127]: q = round_half_even(w * 127 / max|w|), scale max/127. */
static int32_t quantize_row_q8(const repack_job *job, int64_t row, float *tmp, int8_t *q, float *scale) {
    const int64_t cols = job->m->cols;
    int64_t c = 0;
    if (job->format == TERN_FMT_F32) {
        memcpy(tmp, (const float *)job->data + row * cols, (size_t)cols * sizeof(float));
    } else {
        const uint16_t *src = (const uint16_t *)job->data + row * cols;
        for (; c + 8 <= cols; c += 8) _mm256_storeu_ps(tmp + c, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + c))));
        for (; c < cols; c++) tmp[c] = tern_f16_to_f32(src[c]);
    }
    /* max|w| and a non-finite check (|w| < inf fails for NaN and inf) in one pass */
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    __m256 vmax = _mm256_setzero_ps(), vbad = _mm256_setzero_ps();
    for (c = 0; c + 8 <= cols; c += 8) {
        const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(tmp + c));
        vbad = _mm256_or_ps(vbad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));
        vmax = _mm256_max_ps(vmax, a);
    }
    float amax = tern_hmax256(vmax);
    int bad = _mm256_movemask_ps(vbad) != 0;
    for (; c < cols; c++) {
        bad |= !(fabsf(tmp[c]) < INFINITY);
        amax = fmaxf(amax, fabsf(tmp[c]));
    }
    if (bad) {
        for (c = 0; c < cols && isfinite(tmp[c]); c++) continue;
        return tern_fail(TERN_E_FORMAT, "weight (%lld, %lld) is not finite", (long long)row, (long long)c);
    }
    const float iscale = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vs = _mm256_set1_ps(iscale);
    for (c = 0; c + 8 <= cols; c += 8) {
        /* |w * iscale| <= 127 up to rounding: the rounded value is within [-127, 127] */
        const __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(tmp + c), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256i vi = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f)));
        __m256i p16 = _mm256_packs_epi32(vi, vi);
        p16 = _mm256_permute4x64_epi64(p16, 0x08);
        _mm_storel_epi64((__m128i *)(q + c), _mm_packs_epi16(_mm256_castsi256_si128(p16), _mm256_castsi256_si128(p16)));
    }
    for (; c < cols; c++) {
        const float v = rintf(tmp[c] * iscale);
        q[c] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
    }
    *scale = amax / 127.0f;
    return TERN_OK;
}

/* Releases the whole pages inside [p, p + n) of a file mapping (see TERN_MATRIX_FLAG_DROP_INPUT). Never
 * fails: a refusal only leaves the pages resident. */
static void drop_pages(const uint8_t *p, uint64_t n) {
    static long page = 0;
    if (!page) page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
    const uintptr_t lo = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    const uintptr_t hi = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Byte range of the input that rows [r0, r1) are read from (a superset where blocks straddle rows). */
static void input_rows(const repack_job *job, int64_t r0, int64_t r1, uint64_t *lo, uint64_t *hi) {
    const int64_t cols = job->m->cols;
    switch (job->format) {
    case TERN_FMT_F32: *lo = (uint64_t)(r0 * cols) * 4; *hi = (uint64_t)(r1 * cols) * 4; break;
    case TERN_FMT_F16: *lo = (uint64_t)(r0 * cols) * 2; *hi = (uint64_t)(r1 * cols) * 2; break;
    case TERN_FMT_TQ1_0:
    case TERN_FMT_TQ2_0:
        *lo = (uint64_t)(r0 * (cols / 256)) * (uint64_t)job->info.block_bytes;
        *hi = (uint64_t)(r1 * (cols / 256)) * (uint64_t)job->info.block_bytes;
        break;
    case TERN_FMT_I2_S: /* 128 consecutive weights per 32-byte block */
        *lo = (uint64_t)(r0 * cols / 128) * 32;
        *hi = (uint64_t)((r1 * cols + 127) / 128) * 32;
        break;
    default: *lo = (uint64_t)(r0 * cols); *hi = (uint64_t)(r1 * cols); break;
    }
    if (*hi > job->nbytes) *hi = job->nbytes;
}

static void repack_task(void *ctx, int32_t panel, int32_t thread) {
    repack_job *job = ctx;
    tern_matrix *m = job->m;
    if (atomic_load(&job->status) != TERN_OK) return;
    int8_t *w = (int8_t *)job->scratch[thread];          /* [16][cols] */
    float *tmp = (float *)(job->scratch[thread] + tern_round_up(16 * m->cols, 64));
    memset(w, 0, (size_t)(16 * m->cols));
    for (int n = 0; n < 16; n++) {
        const int64_t row = (int64_t)panel * 16 + n;
        if (row >= m->rows) break;
        const int32_t st = m->kind == TERN_MATRIX_Q8
                               ? quantize_row_q8(job, row, tmp, w + n * m->cols, &m->row_scale[row])
                               : tern_format_decode_row(job->format, job->data, m->cols, row, &job->info,
                                                        w + n * m->cols);
        if (st != TERN_OK) {
            record_failure(job, st);
            return;
        }
    }
    uint8_t *dst = m->packed + (size_t)panel * m->panel_bytes;
    if (m->kind == TERN_MATRIX_Q8) pack_u8_panel(w, m->cols, m->k_chunks, dst);
    else pack_t2_panel(w, m->cols, m->k_chunks, dst);
    if (job->drop) {
        /* Pages shared with a neighbouring panel may be dropped while it reads them: they fault back in
         * from the file, so that costs a re-read, never wrong data. */
        uint64_t lo, hi;
        const int64_t r1 = (int64_t)panel * 16 + 16 < m->rows ? (int64_t)panel * 16 + 16 : m->rows;
        input_rows(job, (int64_t)panel * 16, r1, &lo, &hi);
        if (hi > lo) drop_pages(job->data + lo, hi - lo);
    }
}

static int32_t repack(tern_pool *pool, repack_job *job) {
    tern_matrix *m = job->m;
    const size_t scratch = (size_t)tern_round_up(16 * m->cols, 64) + (size_t)m->cols * sizeof(float);
    uint8_t *local = NULL;
    if (pool) {
        int32_t st = tern_pool_reserve(pool, scratch);
        if (st != TERN_OK) return st;
        job->scratch = pool->scratch;
    } else {
        local = tern_alloc(scratch);
        if (!local) return tern_fail(TERN_E_NOMEM, "cannot allocate %zu bytes of repack scratch", scratch);
        job->scratch = &local;
    }
    atomic_store(&job->status, TERN_OK);
    tern_pool_run(pool, repack_task, job, (int32_t)m->n_panels);
    tern_free_aligned(local);
    const int32_t st = atomic_load(&job->status);
    return st == TERN_OK ? TERN_OK : tern_fail(st, "%s", job->message);
}

/* ---- public API ----------------------------------------------------------------------------------- */

void tern_matrix_free(tern_matrix *m) {
    if (!m) return;
    tern_free_pages(m->packed, m->packed_bytes);
    tern_free_aligned(m->row_scale);
    tern_free_pages(m->dense_owned, m->dense_bytes);
    free(m);
}

int32_t tern_matrix_init(tern_pool *pool, int32_t format, const void *data, uint64_t nbytes, int64_t rows,
                         int64_t cols, uint32_t flags, tern_matrix **out) {
    if (!out) return tern_fail(TERN_E_ARG, "tern_matrix_init: out is NULL");
    *out = NULL;
    if (!data) return tern_fail(TERN_E_ARG, "tern_matrix_init: data is NULL");
    if (flags & ~(TERN_MATRIX_FLAG_BORROW | TERN_MATRIX_FLAG_Q8 | TERN_MATRIX_FLAG_DROP_INPUT)) {
        return tern_fail(TERN_E_ARG, "tern_matrix_init: unknown flags 0x%x", flags);
    }
    const int is_float = format == TERN_FMT_F32 || format == TERN_FMT_F16;
    if (!is_float && (flags & (TERN_MATRIX_FLAG_BORROW | TERN_MATRIX_FLAG_Q8))) {
        return tern_fail(TERN_E_ARG, "tern_matrix_init: BORROW and Q8 apply to F32/F16 input only");
    }
    if ((flags & TERN_MATRIX_FLAG_BORROW) && (flags & (TERN_MATRIX_FLAG_Q8 | TERN_MATRIX_FLAG_DROP_INPUT))) {
        return tern_fail(TERN_E_ARG, "tern_matrix_init: BORROW excludes Q8 and DROP_INPUT");
    }
    tern_format_info info;
    int32_t st = tern_format_check(format, nbytes, rows, cols, &info);
    if (st != TERN_OK) return st;

    tern_matrix *m = calloc(1, sizeof *m);
    if (!m) return tern_fail(TERN_E_NOMEM, "tern_matrix_init: out of memory");
    m->rows = rows;
    m->cols = cols;
    m->n_panels = (rows + 15) / 16;
    m->k_chunks = (cols + 63) / 64;
    m->scale = 1.0f;

    if (is_float && !(flags & TERN_MATRIX_FLAG_Q8)) {
        m->kind = format == TERN_FMT_F32 ? TERN_MATRIX_F32 : TERN_MATRIX_F16;
        const size_t bytes = (size_t)rows * (size_t)cols * (format == TERN_FMT_F32 ? 4 : 2);
        if (flags & TERN_MATRIX_FLAG_BORROW) {
            m->dense = data;
        } else {
            m->dense_owned = tern_alloc_pages(bytes);
            m->dense_bytes = bytes;
            if (!m->dense_owned) {
                tern_matrix_free(m);
                return tern_fail(TERN_E_NOMEM, "cannot allocate %zu bytes for a %lld x %lld matrix", bytes,
                                 (long long)rows, (long long)cols);
            }
            /* in slices, releasing each slice of a file mapping once copied: the peak holds one slice twice */
            const size_t slice = (size_t)64 << 20;
            for (size_t o = 0; o < bytes; o += slice) {
                const size_t n = bytes - o < slice ? bytes - o : slice;
                memcpy((uint8_t *)m->dense_owned + o, (const uint8_t *)data + o, n);
                if (flags & TERN_MATRIX_FLAG_DROP_INPUT) drop_pages((const uint8_t *)data + o, n);
            }
            m->dense = m->dense_owned;
            m->nbytes = bytes;
        }
        *out = m;
        return TERN_OK;
    }

    m->kind = is_float ? TERN_MATRIX_Q8 : TERN_MATRIX_TERNARY;
    if (cols > 65536) {
        /* the kernels' int32 sums hold 255 * 127 * 65536 at most */
        tern_matrix_free(m);
        return tern_fail(TERN_E_ARG, "integer matrices take at most 65536 cols, got %lld", (long long)cols);
    }
    m->panel_bytes = (size_t)m->k_chunks * (is_float ? TERN_U8_CHUNK_BYTES : TERN_T2_CHUNK_BYTES);
    const size_t bytes = (size_t)m->n_panels * m->panel_bytes;
    m->packed = tern_alloc_pages(bytes);
    m->packed_bytes = bytes;
    m->nbytes = bytes;
    if (is_float) {
        m->row_scale = tern_alloc((size_t)m->n_panels * 16 * sizeof(float));
        m->nbytes += (size_t)m->n_panels * 16 * sizeof(float);
    }
    if (!m->packed || (is_float && !m->row_scale)) {
        tern_matrix_free(m);
        return tern_fail(TERN_E_NOMEM, "cannot allocate %zu bytes for a %lld x %lld matrix", bytes,
                         (long long)rows, (long long)cols);
    }
    if (!is_float) {
        st = tern_format_scale(format, data, rows, cols, &info);
        if (st != TERN_OK) {
            tern_matrix_free(m);
            return st;
        }
        m->scale = info.scale;
    }
    repack_job job = {.m = m, .format = format, .data = data, .info = info, .nbytes = nbytes,
                      .drop = (flags & TERN_MATRIX_FLAG_DROP_INPUT) != 0};
    st = repack(pool, &job);
    if (job.drop) drop_pages(data, nbytes);
    if (st != TERN_OK) {
        tern_matrix_free(m);
        return st;
    }
    *out = m;
    return TERN_OK;
}

int64_t tern_matrix_rows(const tern_matrix *m) { return m ? m->rows : 0; }
int64_t tern_matrix_cols(const tern_matrix *m) { return m ? m->cols : 0; }
int32_t tern_matrix_kind(const tern_matrix *m) { return m ? m->kind : 0; }
uint64_t tern_matrix_nbytes(const tern_matrix *m) { return m ? m->nbytes : 0; }
float tern_matrix_scale(const tern_matrix *m) { return m && m->kind == TERN_MATRIX_TERNARY ? m->scale : 1.0f; }

int32_t tern_matrix_set_scale(tern_matrix *m, float scale) {
    if (!m || m->kind != TERN_MATRIX_TERNARY) return tern_fail(TERN_E_ARG, "tern_matrix_set_scale: not a ternary matrix");
    if (!isfinite(scale)) return tern_fail(TERN_E_ARG, "tern_matrix_set_scale: scale is not finite");
    m->scale = scale;
    return TERN_OK;
}

int32_t tern_matrix_get_rows(const tern_matrix *m, const int32_t *ids, int32_t n, float *out) {
    if (!m || !ids || !out || n < 0) return tern_fail(TERN_E_ARG, "tern_matrix_get_rows: NULL argument or n < 0");
    for (int32_t i = 0; i < n; i++) {
        const int64_t r = ids[i];
        if (r < 0 || r >= m->rows) {
            return tern_fail(TERN_E_ARG, "tern_matrix_get_rows: id %lld (index %d) outside [0, %lld)", (long long)r, i,
                             (long long)m->rows);
        }
        float *dst = out + (size_t)i * (size_t)m->cols;
        const uint8_t *panel = m->packed ? m->packed + (size_t)(r / 16) * m->panel_bytes : NULL;
        const int nr = (int)(r % 16);
        switch (m->kind) {
        case TERN_MATRIX_F32: memcpy(dst, (const float *)m->dense + r * m->cols, (size_t)m->cols * 4); break;
        case TERN_MATRIX_F16:
            for (int64_t c = 0; c < m->cols; c++) dst[c] = tern_f16_to_f32(((const uint16_t *)m->dense)[r * m->cols + c]);
            break;
        case TERN_MATRIX_TERNARY:
            for (int64_t c = 0; c < m->cols; c++) dst[c] = (float)t2_weight(panel, nr, c) * m->scale;
            break;
        case TERN_MATRIX_Q8:
            for (int64_t c = 0; c < m->cols; c++) dst[c] = (float)u8_weight(panel, nr, c) * m->row_scale[r];
            break;
        default: return tern_fail(TERN_E_ARG, "tern_matrix_get_rows: bad matrix");
        }
    }
    return TERN_OK;
}
