/*
 * kernels-amx.c: AMX-INT8 kernels for batches (compiled with -mamx-tile -mamx-int8 + AVX-512, chosen at
 * run time only when CPUID, XCR0 and Linux's arch_prctl permission all say yes; dispatch.c).
 *
 * Tiles: C[m][n] += sum_k A[m][k] * B[k/4][4n + k%4] (tdpbssd: A, B signed; tdpbsud: A signed, B unsigned)
 *   A = 16 tokens x 64 activation bytes, read straight from tern_acts (stride lda);
 *   B = one chunk of one 16-row panel in VNNI order (internal.h): 16 rows of 64 bytes;
 *   C = 16 tokens x 16 matrix rows of int32, stored straight into the caller's c (stride ldc).
 * Eight tiles make a 2 x 2 block: tmm0..3 = C, tmm4..5 = A (two token tiles), tmm6..7 = B (two panels).
 * Ternary panels are unpacked once per call from 2 bits to int8 codes {0,1,2} (signed operand of
 * tdpbssd; the epilogue subtracts sum a); Q8 panels are already bytes (u = w + 128, tdpbsud).
 * Below AMX_MIN_TOKENS tokens a tile is mostly empty and the AVX-512 VNNI kernels run instead.
 * AMX_MIN_TOKENS and tokens_per_task (dispatch.c) are unmeasured guesses: no AMX machine was at hand.
 * Built with TERN_AMX_EMULATE (tests only), the tile instructions run on the C model in
 * amx-emulate.h, which checks this file's tiling and layouts on any AVX-512 CPU.
 */
#include <immintrin.h>
#include <string.h>

#include "internal.h"

#ifdef TERN_AMX_EMULATE
#include "amx-emulate.h"
#else
/* GCC 12's _tile_loadconfig tells the compiler it reads only 8 bytes, so stores to the config could be
 * dropped as dead: this asm names the whole 64-byte operand. */
#define TERN_AMX_LOADCONFIG(cfg) __asm__ volatile("ldtilecfg %0" ::"m"(*(cfg)))
#endif

#define AMX_MIN_TOKENS 16

/* LDTILECFG's 64-byte operand (Intel SDM, palette 1): bytes 0-1 palette/start_row, 2-15 reserved,
 * 16-47 colsb[16] (bytes per row), 48-63 rows[16]; entries for tiles 8..15 must be zero. */
typedef struct amx_tilecfg {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tilecfg;
_Static_assert(sizeof(amx_tilecfg) == 64, "LDTILECFG operand is 64 bytes");
_Static_assert(offsetof(amx_tilecfg, colsb) == 16 && offsetof(amx_tilecfg, rows) == 48, "tilecfg layout");

static void amx_configure(void) {
    _Alignas(64) amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int i = 0; i < 8; i++) {
        cfg.rows[i] = 16;
        cfg.colsb[i] = 64; /* A, B: 64 bytes; C: 16 int32 */
    }
    TERN_AMX_LOADCONFIG(&cfg);
}

/* _tile_loadd has no memory operand: make every store (the unpacked B tiles) land before it runs. */
#define COMPILER_BARRIER() __asm__ volatile("" ::: "memory")

/* 2-bit chunks [nc] of one panel -> int8 B tiles [nc][16][64]: tile row 4gi + s = (group gi >> 2s) & 3. */
static void unpack_t2(const uint8_t *src, int32_t nc, uint8_t *dst) {
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int32_t c = 0; c < nc; c++) {
        for (int gi = 0; gi < 4; gi++) {
            const __m512i v = _mm512_loadu_si512(src + (size_t)c * TERN_T2_CHUNK_BYTES + 64 * gi);
            uint8_t *d = dst + (size_t)c * TERN_U8_CHUNK_BYTES + 4 * gi * 64;
            _mm512_storeu_si512(d, _mm512_and_si512(v, m3));
            _mm512_storeu_si512(d + 64, _mm512_and_si512(_mm512_srli_epi16(v, 2), m3));
            _mm512_storeu_si512(d + 128, _mm512_and_si512(_mm512_srli_epi16(v, 4), m3));
            _mm512_storeu_si512(d + 192, _mm512_and_si512(_mm512_srli_epi16(v, 6), m3));
        }
    }
}

/* The 2 x 2 tile loop over all chunks for tokens [t, t+32) x panels (b0, b1), with b_stride bytes
 * between chunks of a B operand. When there is only one token tile or one panel, the missing operand
 * repeats the first one and its C tiles are computed but not stored (A rows past n_tokens are padding
 * inside tern_acts, C rows past n_tokens are inside the caller's scratch: internal.h's contract). */
#define AMX_BLOCK(DP)                                                                                 \
    do {                                                                                              \
        const int two_a = t + 16 < g->n_tokens;                                                       \
        const int8_t *a0 = g->a + (size_t)t * g->lda + 64 * (size_t)g->chunk_begin;                   \
        const int8_t *a1 = two_a ? a0 + 16 * g->lda : a0;                                             \
        _tile_zero(0);                                                                                \
        _tile_zero(1);                                                                                \
        _tile_zero(2);                                                                                \
        _tile_zero(3);                                                                                \
        for (int32_t c = 0; c < nc; c++) {                                                            \
            _tile_loadd(4, a0 + 64 * (size_t)c, g->lda);                                             \
            _tile_loadd(5, a1 + 64 * (size_t)c, g->lda);                                             \
            _tile_loadd(6, b0 + (size_t)c * b_stride, 64);                                           \
            _tile_loadd(7, b1 + (size_t)c * b_stride, 64);                                           \
            DP(0, 4, 6);                                                                              \
            DP(1, 4, 7);                                                                              \
            DP(2, 5, 6);                                                                              \
            DP(3, 5, 7);                                                                              \
        }                                                                                             \
        int32_t *c0 = g->c + (size_t)t * g->ldc + 16 * (size_t)p;                                     \
        const size_t ldc_bytes = g->ldc * sizeof(int32_t);                                           \
        _tile_stored(0, c0, ldc_bytes);                                                               \
        if (two_b) _tile_stored(1, c0 + 16, ldc_bytes);                                              \
        if (two_a) {                                                                                  \
            _tile_stored(2, c0 + 16 * g->ldc, ldc_bytes);                                            \
            if (two_b) _tile_stored(3, c0 + 16 * g->ldc + 16, ldc_bytes);                            \
        }                                                                                             \
    } while (0)

void tern_gemm_t2_amx(const tern_gemm_args *g) {
    if (g->n_tokens < AMX_MIN_TOKENS) {
        tern_gemm_t2_avx512(g);
        return;
    }
    const int32_t nc = g->chunk_end - g->chunk_begin;
    const size_t b_stride = TERN_U8_CHUNK_BYTES;
    uint8_t *buf0 = g->scratch, *buf1 = g->scratch + (size_t)nc * TERN_U8_CHUNK_BYTES;
    amx_configure();
    for (int32_t p = 0; p < g->n_panels; p += 2) {
        const int two_b = p + 1 < g->n_panels;
        const uint8_t *src = g->w + (size_t)p * g->panel_bytes + (size_t)g->chunk_begin * TERN_T2_CHUNK_BYTES;
        COMPILER_BARRIER(); /* the previous pair's tile loads read buf0/buf1 */
        unpack_t2(src, nc, buf0);
        if (two_b) unpack_t2(src + g->panel_bytes, nc, buf1);
        COMPILER_BARRIER();
        const uint8_t *b0 = buf0, *b1 = two_b ? buf1 : buf0;
        for (int32_t t = 0; t < g->n_tokens; t += 32) AMX_BLOCK(_tile_dpbssd);
    }
    _tile_release();
}

void tern_gemm_u8_amx(const tern_gemm_args *g) {
    if (g->n_tokens < AMX_MIN_TOKENS) {
        tern_gemm_u8_avx512(g);
        return;
    }
    const int32_t nc = g->chunk_end - g->chunk_begin;
    const size_t b_stride = TERN_U8_CHUNK_BYTES;
    amx_configure();
    for (int32_t p = 0; p < g->n_panels; p += 2) {
        const int two_b = p + 1 < g->n_panels;
        const uint8_t *b0 = g->w + (size_t)p * g->panel_bytes + (size_t)g->chunk_begin * TERN_U8_CHUNK_BYTES;
        const uint8_t *b1 = two_b ? b0 + g->panel_bytes : b0;
        for (int32_t t = 0; t < g->n_tokens; t += 32) AMX_BLOCK(_tile_dpbsud);
    }
    _tile_release();
}
