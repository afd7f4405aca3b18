/*
 * kernels-avx512.c: AVX-512 F/BW/VL + VNNI kernels (compiled with their own flags, chosen at run time).
 * One 64-byte vector of a chunk is 16 rows x 4 columns; vpdpbusd(acc, codes_u8, broadcast(4 activation
 * bytes, s8)) adds those 4 columns into 16 rows' int32 sums, so each accumulator holds 16 rows of one
 * token and nothing needs a horizontal reduction.
 */
#include <immintrin.h>
#include <string.h>

#include "internal.h"

#define INLINE static inline __attribute__((always_inline))

INLINE __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* ---- ternary 2-bit chunks ----------------------------------------------------------------------- */

/* TB tokens x one panel. Group gi of a chunk unpacks to tile rows 4gi + s = (v >> 2s) & 3, which cover
 * columns 64c + 16gi + 4s .. +3. */
INLINE void t2_tokens(const tern_gemm_args *g, const uint8_t *panel, int32_t p, int32_t t0, const int TB) {
    __m512i acc[16];
    for (int t = 0; t < TB; t++) acc[t] = _mm512_setzero_si512();
    const __m512i m3 = _mm512_set1_epi8(3);
    const int8_t *a0 = g->a + (size_t)t0 * g->lda;
    const size_t lda = g->lda;
    for (int32_t c = g->chunk_begin; c < g->chunk_end; c++) {
        const uint8_t *chunk = panel + (size_t)c * TERN_T2_CHUNK_BYTES;
        const int8_t *ac = a0 + 64 * (size_t)c;
        for (int gi = 0; gi < 4; gi++) {
            const __m512i v = _mm512_loadu_si512(chunk + 64 * gi);
            const __m512i z0 = _mm512_and_si512(v, m3);
            const __m512i z1 = _mm512_and_si512(_mm512_srli_epi16(v, 2), m3);
            const __m512i z2 = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
            const __m512i z3 = _mm512_and_si512(_mm512_srli_epi16(v, 6), m3);
#pragma GCC unroll 16
            for (int t = 0; t < TB; t++) {
                const int8_t *at = ac + (size_t)t * lda + 16 * gi;
                acc[t] = _mm512_dpbusd_epi32(acc[t], z0, bcast4(at));
                acc[t] = _mm512_dpbusd_epi32(acc[t], z1, bcast4(at + 4));
                acc[t] = _mm512_dpbusd_epi32(acc[t], z2, bcast4(at + 8));
                acc[t] = _mm512_dpbusd_epi32(acc[t], z3, bcast4(at + 12));
            }
        }
    }
    for (int t = 0; t < TB; t++) _mm512_storeu_si512(g->c + (size_t)(t0 + t) * g->ldc + 16 * p, acc[t]);
}

/* One token (decode), where the kernel must keep up with DRAM: per 64-byte vector only four ANDs and
 * four vpdpbusd. Field s is isolated in place (v & 3 << 2s, i.e. 4^s x code) instead of shifted down, so
 * accumulator s holds exactly 4^s x its dot product; the scales come off once at the end with exact
 * arithmetic shifts (|acc3| <= 192 x 128 x k / 4, inside int32 for the cols <= 65536 that matrices take).
 * Dropping the three shifts per vector shortens the loop that bounds the in-cache ("matvec") rate. */
static void t2_token1(const tern_gemm_args *g, const uint8_t *panel, int32_t p, int32_t t0) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    const __m512i m0 = _mm512_set1_epi8(0x03), m1 = _mm512_set1_epi8(0x0c);
    const __m512i m2 = _mm512_set1_epi8(0x30), m3 = _mm512_set1_epi8((char)0xc0);
    const int8_t *a0 = g->a + (size_t)t0 * g->lda;
    for (int32_t c = g->chunk_begin; c < g->chunk_end; c++) {
        const uint8_t *chunk = panel + (size_t)c * TERN_T2_CHUNK_BYTES;
        const int8_t *ac = a0 + 64 * (size_t)c;
        for (int gi = 0; gi < 4; gi++) {
            const __m512i v = _mm512_loadu_si512(chunk + 64 * gi);
            const int8_t *at = ac + 16 * gi;
            acc0 = _mm512_dpbusd_epi32(acc0, _mm512_and_si512(v, m0), bcast4(at));
            acc1 = _mm512_dpbusd_epi32(acc1, _mm512_and_si512(v, m1), bcast4(at + 4));
            acc2 = _mm512_dpbusd_epi32(acc2, _mm512_and_si512(v, m2), bcast4(at + 8));
            acc3 = _mm512_dpbusd_epi32(acc3, _mm512_and_si512(v, m3), bcast4(at + 12));
        }
    }
    const __m512i lo = _mm512_add_epi32(acc0, _mm512_srai_epi32(acc1, 2));
    const __m512i hi = _mm512_add_epi32(_mm512_srai_epi32(acc2, 4), _mm512_srai_epi32(acc3, 6));
    _mm512_storeu_si512(g->c + (size_t)t0 * g->ldc + 16 * p, _mm512_add_epi32(lo, hi));
}

void tern_gemm_t2_avx512(const tern_gemm_args *g) {
    for (int32_t p = 0; p < g->n_panels; p++) {
        const uint8_t *panel = g->w + (size_t)p * g->panel_bytes;
        int32_t t = 0;
        for (; t + 16 <= g->n_tokens; t += 16) t2_tokens(g, panel, p, t, 16);
        if (t + 8 <= g->n_tokens) { t2_tokens(g, panel, p, t, 8); t += 8; }
        if (t + 4 <= g->n_tokens) { t2_tokens(g, panel, p, t, 4); t += 4; }
        if (t + 2 <= g->n_tokens) { t2_tokens(g, panel, p, t, 2); t += 2; }
        if (t < g->n_tokens) t2_token1(g, panel, p, t);
    }
}

/* ---- Q8 offset-binary chunks (u = w + 128): tile row i is one vector ----------------------------- */

INLINE void u8_tokens(const tern_gemm_args *g, const uint8_t *panel, int32_t p, int32_t t0, const int TB) {
    __m512i acc[16];
    for (int t = 0; t < TB; t++) acc[t] = _mm512_setzero_si512();
    const int8_t *a0 = g->a + (size_t)t0 * g->lda;
    const size_t lda = g->lda;
    for (int32_t c = g->chunk_begin; c < g->chunk_end; c++) {
        const uint8_t *chunk = panel + (size_t)c * TERN_U8_CHUNK_BYTES;
        const int8_t *ac = a0 + 64 * (size_t)c;
        for (int i = 0; i < 16; i += 4) {
            const __m512i w0 = _mm512_loadu_si512(chunk + 64 * i);
            const __m512i w1 = _mm512_loadu_si512(chunk + 64 * i + 64);
            const __m512i w2 = _mm512_loadu_si512(chunk + 64 * i + 128);
            const __m512i w3 = _mm512_loadu_si512(chunk + 64 * i + 192);
#pragma GCC unroll 16
            for (int t = 0; t < TB; t++) {
                const int8_t *at = ac + (size_t)t * lda + 4 * i;
                acc[t] = _mm512_dpbusd_epi32(acc[t], w0, bcast4(at));
                acc[t] = _mm512_dpbusd_epi32(acc[t], w1, bcast4(at + 4));
                acc[t] = _mm512_dpbusd_epi32(acc[t], w2, bcast4(at + 8));
                acc[t] = _mm512_dpbusd_epi32(acc[t], w3, bcast4(at + 12));
            }
        }
    }
    for (int t = 0; t < TB; t++) _mm512_storeu_si512(g->c + (size_t)(t0 + t) * g->ldc + 16 * p, acc[t]);
}

static void u8_token1(const tern_gemm_args *g, const uint8_t *panel, int32_t p, int32_t t0) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    const int8_t *a0 = g->a + (size_t)t0 * g->lda;
    for (int32_t c = g->chunk_begin; c < g->chunk_end; c++) {
        const uint8_t *chunk = panel + (size_t)c * TERN_U8_CHUNK_BYTES;
        const int8_t *ac = a0 + 64 * (size_t)c;
        for (int i = 0; i < 16; i += 4) {
            acc0 = _mm512_dpbusd_epi32(acc0, _mm512_loadu_si512(chunk + 64 * i), bcast4(ac + 4 * i));
            acc1 = _mm512_dpbusd_epi32(acc1, _mm512_loadu_si512(chunk + 64 * i + 64), bcast4(ac + 4 * i + 4));
            acc2 = _mm512_dpbusd_epi32(acc2, _mm512_loadu_si512(chunk + 64 * i + 128), bcast4(ac + 4 * i + 8));
            acc3 = _mm512_dpbusd_epi32(acc3, _mm512_loadu_si512(chunk + 64 * i + 192), bcast4(ac + 4 * i + 12));
        }
    }
    const __m512i acc = _mm512_add_epi32(_mm512_add_epi32(acc0, acc1), _mm512_add_epi32(acc2, acc3));
    _mm512_storeu_si512(g->c + (size_t)t0 * g->ldc + 16 * p, acc);
}

void tern_gemm_u8_avx512(const tern_gemm_args *g) {
    for (int32_t p = 0; p < g->n_panels; p++) {
        const uint8_t *panel = g->w + (size_t)p * g->panel_bytes;
        int32_t t = 0;
        for (; t + 16 <= g->n_tokens; t += 16) u8_tokens(g, panel, p, t, 16);
        if (t + 8 <= g->n_tokens) { u8_tokens(g, panel, p, t, 8); t += 8; }
        if (t + 4 <= g->n_tokens) { u8_tokens(g, panel, p, t, 4); t += 4; }
        if (t + 2 <= g->n_tokens) { u8_tokens(g, panel, p, t, 2); t += 2; }
        if (t < g->n_tokens) u8_token1(g, panel, p, t);
    }
}

/* ---- float matrices: R rows x TB tokens of 16-lane FMA accumulators, masked tail ---------------- */

INLINE __m512 load_w(const void *w, int is_f16, int64_t off, __mmask16 m) {
    if (is_f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + off));
    return _mm512_maskz_loadu_ps(m, (const float *)w + off);
}

/* 16 whole weights (no mask: plain loads stream faster than masked ones) */
INLINE __m512 load_w16(const void *w, int is_f16, int64_t off) {
    if (is_f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + off)));
    return _mm512_loadu_ps((const float *)w + off);
}

INLINE void gemmf_block(const tern_gemmf_args *g, int is_f16, int32_t r0, int32_t t0, const int R, const int TB) {
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < TB; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < g->k; k += 16) {
        const __mmask16 m = g->k - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (g->k - k)) - 1);
        __m512 x[4], w[4];
        for (int t = 0; t < TB; t++) x[t] = _mm512_maskz_loadu_ps(m, g->x + (size_t)(t0 + t) * g->ldx + k);
        for (int r = 0; r < R; r++) w[r] = load_w(g->w, is_f16, (int64_t)(r0 + r) * (int64_t)g->ldw + k, m);
        for (int r = 0; r < R; r++)
            for (int t = 0; t < TB; t++) acc[r][t] = _mm512_fmadd_ps(w[r], x[t], acc[r][t]);
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < TB; t++) g->y[(size_t)(t0 + t) * g->ldy + r0 + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* One token (decode): row after row, 64 columns per step into four accumulators. One sequential stream
 * per thread with independent FMA chains reads the matrix at DRAM speed; several rows at once did not. */
INLINE void gemvf(const tern_gemmf_args *g, int is_f16) {
    const int64_t k64 = g->k / 64 * 64;
    for (int32_t r = 0; r < g->n_rows; r++) {
        const int64_t off = (int64_t)r * (int64_t)g->ldw;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t k = 0;
        for (; k < k64; k += 64) {
            a0 = _mm512_fmadd_ps(load_w16(g->w, is_f16, off + k), _mm512_loadu_ps(g->x + k), a0);
            a1 = _mm512_fmadd_ps(load_w16(g->w, is_f16, off + k + 16), _mm512_loadu_ps(g->x + k + 16), a1);
            a2 = _mm512_fmadd_ps(load_w16(g->w, is_f16, off + k + 32), _mm512_loadu_ps(g->x + k + 32), a2);
            a3 = _mm512_fmadd_ps(load_w16(g->w, is_f16, off + k + 48), _mm512_loadu_ps(g->x + k + 48), a3);
        }
        for (; k < g->k; k += 16) {
            const __mmask16 m = g->k - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (g->k - k)) - 1);
            a0 = _mm512_fmadd_ps(load_w(g->w, is_f16, off + k, m), _mm512_maskz_loadu_ps(m, g->x + k), a0);
        }
        g->y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
}

INLINE void gemmf(const tern_gemmf_args *g, int is_f16) {
    if (g->n_tokens == 1) {
        gemvf(g, is_f16);
        return;
    }
    int32_t r = 0;
    for (; r + 4 <= g->n_rows; r += 4) {
        int32_t t = 0;
        for (; t + 4 <= g->n_tokens; t += 4) gemmf_block(g, is_f16, r, t, 4, 4);
        for (; t < g->n_tokens; t++) gemmf_block(g, is_f16, r, t, 4, 1);
    }
    for (; r < g->n_rows; r++) {
        int32_t t = 0;
        for (; t + 4 <= g->n_tokens; t += 4) gemmf_block(g, is_f16, r, t, 1, 4);
        for (; t < g->n_tokens; t++) gemmf_block(g, is_f16, r, t, 1, 1);
    }
}

void tern_gemm_f32_avx512(const tern_gemmf_args *g) { gemmf(g, 0); }
void tern_gemm_f16_avx512(const tern_gemmf_args *g) { gemmf(g, 1); }
