/*
 * kernels-avx2.c: AVX2 kernels. A 32-byte half of a chunk row is 8 matrix rows x 4 columns;
 * vpmaddubsw(codes_u8, broadcast(4 activation bytes, s8)) gives 16-bit pair sums, vpmaddwd with ones
 * folds the pairs into one int32 per row. Ternary codes are <= 2 and |a| <= 127, so a pair is
 * <= 508 and four of them (one 64-byte group) <= 2032: no int16 saturation.
 */
#include <immintrin.h>
#include <string.h>

#include "internal.h"

#define INLINE static inline __attribute__((always_inline))

INLINE __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* ---- ternary 2-bit chunks: half h of a panel (rows 8h..8h+7) x TB tokens ------------------------ */

INLINE void t2_half(const tern_gemm_args *g, const uint8_t *panel, int32_t p, int h, int32_t t0, const int TB) {
    __m256i acc[4];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_si256();
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    const int8_t *a0 = g->a + (size_t)t0 * g->lda;
    const size_t lda = g->lda;
    for (int32_t c = g->chunk_begin; c < g->chunk_end; c++) {
        const uint8_t *chunk = panel + (size_t)c * TERN_T2_CHUNK_BYTES + 32 * h;
        const int8_t *ac = a0 + 64 * (size_t)c;
        for (int gi = 0; gi < 4; gi++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(chunk + 64 * gi));
            const __m256i z0 = _mm256_and_si256(v, m3);
            const __m256i z1 = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
            const __m256i z2 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
            const __m256i z3 = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
#pragma GCC unroll 4
            for (int t = 0; t < TB; t++) {
                const int8_t *at = ac + (size_t)t * lda + 16 * gi;
                __m256i s = _mm256_maddubs_epi16(z0, bcast4(at));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(z1, bcast4(at + 4)));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(z2, bcast4(at + 8)));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(z3, bcast4(at + 12)));
                acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(s, ones));
            }
        }
    }
    for (int t = 0; t < TB; t++) {
        _mm256_storeu_si256((__m256i *)(g->c + (size_t)(t0 + t) * g->ldc + 16 * p + 8 * h), acc[t]);
    }
}

void tern_gemm_t2_avx2(const tern_gemm_args *g) {
    for (int32_t p = 0; p < g->n_panels; p++) {
        const uint8_t *panel = g->w + (size_t)p * g->panel_bytes;
        for (int h = 0; h < 2; h++) {
            int32_t t = 0;
            for (; t + 4 <= g->n_tokens; t += 4) t2_half(g, panel, p, h, t, 4);
            if (t + 2 <= g->n_tokens) { t2_half(g, panel, p, h, t, 2); t += 2; }
            if (t < g->n_tokens) t2_half(g, panel, p, h, t, 1);
        }
    }
}

/* ---- Q8 offset-binary chunks --------------------------------------------------------------------
 * u = w + 128 does not fit vpmaddubsw (255 * 127 * 2 saturates int16), so use the sign trick on the
 * signed weight ws = u ^ 0x80: |ws| * sign(a, ws) = ws * a, pairs <= 2 * 128 * 127 < 32767. That gives
 * sum ws*a; the kernel contract is sum u*a = sum ws*a + 128 * sum a, added per token at the end. */

static int32_t sum_i8(const int8_t *p, int64_t n) { /* n % 32 == 0 */
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t i = 0; i < n; i += 32) {
        const __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + i)), bias); /* a + 128 */
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(v, _mm256_setzero_si256()));
    }
    int64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, acc);
    return (int32_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3] - 128 * n);
}

INLINE void u8_half(const tern_gemm_args *g, const uint8_t *panel, int32_t p, int h, int32_t t0, const int TB) {
    __m256i acc[4];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_si256();
    const __m256i bias = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    const int8_t *a0 = g->a + (size_t)t0 * g->lda;
    const size_t lda = g->lda;
    for (int32_t c = g->chunk_begin; c < g->chunk_end; c++) {
        const uint8_t *chunk = panel + (size_t)c * TERN_U8_CHUNK_BYTES + 32 * h;
        const int8_t *ac = a0 + 64 * (size_t)c;
        for (int i = 0; i < 16; i++) {
            const __m256i ws = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(chunk + 64 * i)), bias);
            const __m256i aw = _mm256_abs_epi8(ws);
#pragma GCC unroll 4
            for (int t = 0; t < TB; t++) {
                const __m256i sa = _mm256_sign_epi8(bcast4(ac + (size_t)t * lda + 4 * i), ws);
                acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sa), ones));
            }
        }
    }
    for (int t = 0; t < TB; t++) {
        const int8_t *at = a0 + (size_t)t * lda + 64 * (size_t)g->chunk_begin;
        const int32_t corr = 128 * sum_i8(at, 64 * (int64_t)(g->chunk_end - g->chunk_begin));
        acc[t] = _mm256_add_epi32(acc[t], _mm256_set1_epi32(corr));
        _mm256_storeu_si256((__m256i *)(g->c + (size_t)(t0 + t) * g->ldc + 16 * p + 8 * h), acc[t]);
    }
}

void tern_gemm_u8_avx2(const tern_gemm_args *g) {
    for (int32_t p = 0; p < g->n_panels; p++) {
        const uint8_t *panel = g->w + (size_t)p * g->panel_bytes;
        for (int h = 0; h < 2; h++) {
            int32_t t = 0;
            for (; t + 4 <= g->n_tokens; t += 4) u8_half(g, panel, p, h, t, 4);
            if (t + 2 <= g->n_tokens) { u8_half(g, panel, p, h, t, 2); t += 2; }
            if (t < g->n_tokens) u8_half(g, panel, p, h, t, 1);
        }
    }
}

/* ---- float matrices: R rows x TB tokens of 8-lane FMA accumulators, scalar tail ------------------ */

INLINE __m256 load_w(const void *w, int is_f16, int64_t off) {
    if (is_f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + off)));
    return _mm256_loadu_ps((const float *)w + off);
}

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE void gemmf_block(const tern_gemmf_args *g, int is_f16, int32_t r0, int32_t t0, const int R, const int TB) {
    __m256 acc[4][2];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < TB; t++) acc[r][t] = _mm256_setzero_ps();
    const int64_t k8 = g->k / 8 * 8;
    for (int64_t k = 0; k < k8; k += 8) {
        __m256 x[2], w[4];
        for (int t = 0; t < TB; t++) x[t] = _mm256_loadu_ps(g->x + (size_t)(t0 + t) * g->ldx + k);
        for (int r = 0; r < R; r++) w[r] = load_w(g->w, is_f16, (int64_t)(r0 + r) * (int64_t)g->ldw + k);
        for (int r = 0; r < R; r++)
            for (int t = 0; t < TB; t++) acc[r][t] = _mm256_fmadd_ps(w[r], x[t], acc[r][t]);
    }
    for (int r = 0; r < R; r++) {
        for (int t = 0; t < TB; t++) {
            float s = hsum(acc[r][t]);
            const float *xt = g->x + (size_t)(t0 + t) * g->ldx;
            const int64_t wr = (int64_t)(r0 + r) * (int64_t)g->ldw;
            for (int64_t k = k8; k < g->k; k++) {
                const float wk = is_f16 ? _cvtsh_ss(((const uint16_t *)g->w)[wr + k]) : ((const float *)g->w)[wr + k];
                s += wk * xt[k];
            }
            g->y[(size_t)(t0 + t) * g->ldy + r0 + r] = s;
        }
    }
}

INLINE void gemmf(const tern_gemmf_args *g, int is_f16) {
    int32_t r = 0;
    for (; r + 4 <= g->n_rows; r += 4) {
        int32_t t = 0;
        for (; t + 2 <= g->n_tokens; t += 2) gemmf_block(g, is_f16, r, t, 4, 2);
        for (; t < g->n_tokens; t++) gemmf_block(g, is_f16, r, t, 4, 1);
    }
    for (; r < g->n_rows; r++) {
        int32_t t = 0;
        for (; t + 2 <= g->n_tokens; t += 2) gemmf_block(g, is_f16, r, t, 1, 2);
        for (; t < g->n_tokens; t++) gemmf_block(g, is_f16, r, t, 1, 1);
    }
}

void tern_gemm_f32_avx2(const tern_gemmf_args *g) { gemmf(g, 0); }
void tern_gemm_f16_avx2(const tern_gemmf_args *g) { gemmf(g, 1); }
