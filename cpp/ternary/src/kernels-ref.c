/*
 * kernels-ref.c: the scalar reference of every kernel, written straight from the layout's definition
 * (internal.h). Each ISA file implements the same signatures and is tested against these.
 */
#include "internal.h"

/* code of B[i][4n + j] in a 2-bit chunk: group i/4, byte 4n + j, bits 2 * (i % 4) */
static inline int t2_code(const uint8_t *chunk, int i, int n, int j) {
    return (chunk[(i / 4) * 64 + 4 * n + j] >> (2 * (i % 4))) & 3;
}

void tern_gemm_t2_ref(const tern_gemm_args *g) {
    for (int32_t p = 0; p < g->n_panels; p++) {
        const uint8_t *panel = g->w + (size_t)p * g->panel_bytes;
        for (int32_t t = 0; t < g->n_tokens; t++) {
            const int8_t *a = g->a + (size_t)t * g->lda;
            for (int n = 0; n < 16; n++) {
                int32_t acc = 0;
                for (int32_t c = g->chunk_begin; c < g->chunk_end; c++) {
                    const uint8_t *chunk = panel + (size_t)c * TERN_T2_CHUNK_BYTES;
                    for (int i = 0; i < 16; i++) {
                        for (int j = 0; j < 4; j++) acc += t2_code(chunk, i, n, j) * a[64 * c + 4 * i + j];
                    }
                }
                g->c[(size_t)t * g->ldc + 16 * p + n] = acc;
            }
        }
    }
}

void tern_gemm_u8_ref(const tern_gemm_args *g) {
    for (int32_t p = 0; p < g->n_panels; p++) {
        const uint8_t *panel = g->w + (size_t)p * g->panel_bytes;
        for (int32_t t = 0; t < g->n_tokens; t++) {
            const int8_t *a = g->a + (size_t)t * g->lda;
            for (int n = 0; n < 16; n++) {
                int32_t acc = 0;
                for (int32_t c = g->chunk_begin; c < g->chunk_end; c++) {
                    const uint8_t *chunk = panel + (size_t)c * TERN_U8_CHUNK_BYTES;
                    for (int i = 0; i < 16; i++) {
                        for (int j = 0; j < 4; j++) acc += chunk[i * 64 + 4 * n + j] * a[64 * c + 4 * i + j];
                    }
                }
                g->c[(size_t)t * g->ldc + 16 * p + n] = acc;
            }
        }
    }
}

void tern_gemm_f32_ref(const tern_gemmf_args *g) {
    const float *w = g->w;
    for (int32_t t = 0; t < g->n_tokens; t++) {
        for (int32_t r = 0; r < g->n_rows; r++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < g->k; k++) acc += g->x[t * g->ldx + k] * w[r * g->ldw + k];
            g->y[t * g->ldy + r] = acc;
        }
    }
}

void tern_gemm_f16_ref(const tern_gemmf_args *g) {
    const uint16_t *w = g->w;
    for (int32_t t = 0; t < g->n_tokens; t++) {
        for (int32_t r = 0; r < g->n_rows; r++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < g->k; k++) acc += g->x[t * g->ldx + k] * tern_f16_to_f32(w[r * g->ldw + k]);
            g->y[t * g->ldy + r] = acc;
        }
    }
}
