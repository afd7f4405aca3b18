/*
 * formats.c: reads the ternary input formats (I2_S, TQ2_0, TQ1_0, plain int8) into int8 weights in
 * {-1, 0, 1}, one row at a time, checking sizes, codes and scales. See FACTS.md §2 for the layouts.
 */
#include <math.h>
#include <string.h>

#include "formats.h"

/* TQ1_0: 256 weights = qs[48] (5 trits per byte) + qh[4] (4 trits per byte) + fp16 d: 1.6875 bpw. */
#define TQ1_BLOCK_BYTES 54
/* TQ2_0: 256 weights = qs[64] (2 bits each) + fp16 d: 2.0625 bpw. */
#define TQ2_BLOCK_BYTES 66
/* I2_S: 128 weights per 32 bytes (2 bpw), one f32 scale after all blocks. */
#define I2S_BLOCK_WEIGHTS 128
#define I2S_BLOCK_BYTES 32
_Static_assert(TQ1_BLOCK_BYTES == 48 + 4 + 2, "TQ1_0 block = qs[48] + qh[4] + d");
_Static_assert(TQ2_BLOCK_BYTES == 64 + 2, "TQ2_0 block = qs[64] + d");
_Static_assert(I2S_BLOCK_BYTES * 4 == I2S_BLOCK_WEIGHTS, "I2_S: 4 weights per byte");

static uint16_t read_u16le(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

int32_t tern_format_check(int32_t fmt, uint64_t nbytes, int64_t rows, int64_t cols, tern_format_info *info) {
    memset(info, 0, sizeof *info);
    if (rows <= 0 || cols <= 0 || rows > (1LL << 31) || cols > (1LL << 24)) {
        return tern_fail(TERN_E_ARG, "matrix shape %lld x %lld out of range (rows <= 2^31, cols <= 2^24)",
                         (long long)rows, (long long)cols);
    }
    const uint64_t n = (uint64_t)rows * (uint64_t)cols;
    uint64_t need;
    switch (fmt) {
    case TERN_FMT_F32: need = n * 4; break;
    case TERN_FMT_F16: need = n * 2; break;
    case TERN_FMT_TERNARY_I8: need = n; break;
    case TERN_FMT_TQ2_0:
    case TERN_FMT_TQ1_0:
        if (cols % 256) {
            return tern_fail(TERN_E_FORMAT, "%s needs cols %% 256 == 0, got cols %lld",
                             fmt == TERN_FMT_TQ2_0 ? "TQ2_0" : "TQ1_0", (long long)cols);
        }
        info->block_bytes = fmt == TERN_FMT_TQ2_0 ? TQ2_BLOCK_BYTES : TQ1_BLOCK_BYTES;
        need = n / 256 * (uint64_t)info->block_bytes;
        break;
    case TERN_FMT_I2_S:
        if (n % I2S_BLOCK_WEIGHTS) {
            return tern_fail(TERN_E_FORMAT, "I2_S needs rows*cols %% 128 == 0, got %llu", (unsigned long long)n);
        }
        need = n / 4 + 4;
        break;
    default: return tern_fail(TERN_E_ARG, "unknown input format %d", fmt);
    }
    if (nbytes < need) {
        return tern_fail(TERN_E_FORMAT, "format %d, %lld x %lld: %llu bytes given, %llu needed", fmt,
                         (long long)rows, (long long)cols, (unsigned long long)nbytes, (unsigned long long)need);
    }
    info->scale = 1.0f;
    return TERN_OK;
}

/* ---- per-block decoders: 256 (TQ) weights to int8, returning 0 if any code was invalid ---------- */

/* TQ2_0: byte qs[h*32 + m] holds weight h*128 + m + 32n in bits 2n (value = code - 1; code 3 invalid). */
static int decode_tq2_block(const uint8_t *blk, int8_t *out) {
    int ok = 1;
    for (int h = 0; h < 2; h++) {
        for (int n = 0; n < 4; n++) {
            for (int m = 0; m < 32; m++) {
                int code = (blk[h * 32 + m] >> (2 * n)) & 3;
                ok &= code != 3;
                out[h * 128 + n * 32 + m] = (int8_t)(code - 1);
            }
        }
    }
    return ok;
}

/* TQ1_0: a byte is a base-3 fixed-point fraction q/256 ~ (t0 t1 t2 t3 t4)_3 / 243, most significant
 * trit first. Multiplying by 3^n (mod 256) shifts trit n to the front; (x * 3) >> 8 reads it.
 * qs[0..32): weights m + 32n (n = trit 0..4); qs[32..48): 160 + m + 16n; qh[0..4): 240 + j + 4n. */
static int8_t trit(uint8_t byte, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t shifted = (uint8_t)(byte * pow3[n]);
    return (int8_t)((((uint16_t)shifted * 3) >> 8) - 1);
}

static void decode_tq1_block(const uint8_t *blk, int8_t *out) {
    const uint8_t *qs = blk, *qh = blk + 48;
    for (int n = 0; n < 5; n++) {
        for (int m = 0; m < 32; m++) out[n * 32 + m] = trit(qs[m], n);
        for (int m = 0; m < 16; m++) out[160 + n * 16 + m] = trit(qs[32 + m], n);
    }
    for (int n = 0; n < 4; n++) {
        for (int j = 0; j < 4; j++) out[240 + n * 4 + j] = trit(qh[j], n);
    }
}

static int any_nonzero(const int8_t *w, int n) {
    for (int i = 0; i < n; i++) {
        if (w[i]) return 1;
    }
    return 0;
}

int32_t tern_format_scale(int32_t fmt, const uint8_t *data, int64_t rows, int64_t cols, tern_format_info *info) {
    const uint64_t n = (uint64_t)rows * (uint64_t)cols;
    if (fmt == TERN_FMT_I2_S) {
        float s;
        memcpy(&s, data + n / 4, sizeof s);
        if (!isfinite(s)) return tern_fail(TERN_E_FORMAT, "I2_S scale at byte %llu is not finite", (unsigned long long)(n / 4));
        info->scale = s;
        return TERN_OK;
    }
    if (fmt != TERN_FMT_TQ1_0 && fmt != TERN_FMT_TQ2_0) {
        info->scale = 1.0f;
        return TERN_OK;
    }
    /* The reference d is the first block with a nonzero weight (blocks of zeros may carry any d). */
    const uint64_t n_blocks = n / 256;
    int8_t w[256];
    info->ref_d = read_u16le(data + info->block_bytes - 2);
    for (uint64_t b = 0; b < n_blocks; b++) {
        const uint8_t *blk = data + b * (uint64_t)info->block_bytes;
        if (fmt == TERN_FMT_TQ2_0) {
            if (!decode_tq2_block(blk, w)) {
                return tern_fail(TERN_E_FORMAT, "TQ2_0 block %llu holds code 3 (not ternary)", (unsigned long long)b);
            }
        } else {
            decode_tq1_block(blk, w);
        }
        if (any_nonzero(w, 256)) {
            info->ref_d = read_u16le(blk + info->block_bytes - 2);
            break;
        }
    }
    info->scale = tern_f16_to_f32(info->ref_d);
    if (!isfinite(info->scale)) return tern_fail(TERN_E_FORMAT, "ternary block scale d is not finite");
    return TERN_OK;
}

int32_t tern_format_decode_row(int32_t fmt, const uint8_t *data, int64_t cols, int64_t row,
                               const tern_format_info *info, int8_t *out) {
    const int64_t base = row * cols;
    switch (fmt) {
    case TERN_FMT_TERNARY_I8: {
        const int8_t *src = (const int8_t *)data + base;
        for (int64_t c = 0; c < cols; c++) {
            if (src[c] < -1 || src[c] > 1) {
                return tern_fail(TERN_E_FORMAT, "ternary int8 weight (%lld, %lld) = %d is not in {-1, 0, 1}",
                                 (long long)row, (long long)c, src[c]);
            }
        }
        memcpy(out, src, (size_t)cols);
        return TERN_OK;
    }
    case TERN_FMT_I2_S:
        if (base % I2S_BLOCK_WEIGHTS == 0 && cols % I2S_BLOCK_WEIGHTS == 0) {
            /* whole blocks: quarter s (0..3) of a block is bits 6 - 2s of its 32 bytes */
            int bad = 0;
            for (int64_t b = 0; b < cols / I2S_BLOCK_WEIGHTS; b++) {
                const uint8_t *blk = data + (base / I2S_BLOCK_WEIGHTS + b) * I2S_BLOCK_BYTES;
                int8_t *o = out + b * I2S_BLOCK_WEIGHTS;
                for (int sh = 0; sh < 4; sh++) {
                    for (int k = 0; k < 32; k++) {
                        const int code = (blk[k] >> (6 - 2 * sh)) & 3;
                        bad |= code == 3;
                        o[32 * sh + k] = (int8_t)(code - 1);
                    }
                }
            }
            if (!bad) return TERN_OK;
            /* fall through to the per-weight loop, which names the first bad weight */
        }
        /* weight i lives in block i/128; within it k = i%128 is byte k%32 at shift 6 - 2*(k/32) */
        for (int64_t c = 0; c < cols; c++) {
            const int64_t i = base + c;
            const int64_t k = i & (I2S_BLOCK_WEIGHTS - 1);
            const uint8_t byte = data[(i >> 7) * I2S_BLOCK_BYTES + (k & 31)];
            const int code = (byte >> (6 - 2 * (k >> 5))) & 3;
            if (code == 3) {
                return tern_fail(TERN_E_FORMAT, "I2_S weight (%lld, %lld) holds code 3 (not ternary)",
                                 (long long)row, (long long)c);
            }
            out[c] = (int8_t)(code - 1);
        }
        return TERN_OK;
    case TERN_FMT_TQ2_0:
    case TERN_FMT_TQ1_0: {
        const int64_t nb = cols / 256;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = data + (uint64_t)(row * nb + b) * (uint64_t)info->block_bytes;
            int8_t *w = out + b * 256;
            if (fmt == TERN_FMT_TQ2_0) {
                if (!decode_tq2_block(blk, w)) {
                    return tern_fail(TERN_E_FORMAT, "TQ2_0 row %lld block %lld holds code 3 (not ternary)",
                                     (long long)row, (long long)b);
                }
            } else {
                decode_tq1_block(blk, w);
            }
            const uint16_t d = read_u16le(blk + info->block_bytes - 2);
            if (d != info->ref_d && any_nonzero(w, 256)) {
                return tern_fail(TERN_E_FORMAT,
                                 "%s row %lld block %lld has scale d=%g but the tensor's is %g: per-block scales "
                                 "are not supported (ternarise per tensor, then pack)",
                                 fmt == TERN_FMT_TQ2_0 ? "TQ2_0" : "TQ1_0", (long long)row, (long long)b,
                                 (double)tern_f16_to_f32(d), (double)info->scale);
            }
        }
        return TERN_OK;
    }
    default: return tern_fail(TERN_E_ARG, "format %d is not ternary", fmt);
    }
}
