/*
 * formats.h: reading ternary input formats into int8 weights (formats.c), used by matrix.c.
 */
#ifndef TERN_FORMATS_H
#define TERN_FORMATS_H

#include "internal.h"

typedef struct tern_format_info {
    int32_t block_bytes; /* TQ: bytes per 256-weight block */
    uint16_t ref_d;      /* TQ: the fp16 scale every nonzero block must carry */
    float scale;         /* the tensor scale (TQ: ref_d as f32; I2_S: the trailing f32; else 1) */
} tern_format_info;

/* Checks shape and size for any TERN_FMT_*. */
int32_t tern_format_check(int32_t fmt, uint64_t nbytes, int64_t rows, int64_t cols, tern_format_info *info);
/* Finds the tensor scale of a ternary format (after tern_format_check). */
int32_t tern_format_scale(int32_t fmt, const uint8_t *data, int64_t rows, int64_t cols, tern_format_info *info);
/* Decodes row `row` of a ternary format into out [cols] in {-1, 0, 1}; checks codes and block scales. */
int32_t tern_format_decode_row(int32_t fmt, const uint8_t *data, int64_t cols, int64_t row,
                               const tern_format_info *info, int8_t *out);

#endif
