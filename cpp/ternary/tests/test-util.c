/*
 * test-util.c: RNG, family listing, F16C conversions and the format encoders used by the tests and the
 * bench. The encoders follow the format descriptions, not the library's decoders.
 */
#include <immintrin.h>
#include <string.h>
#include <time.h>

#include "test-util.h"

int tu_failures = 0;

tu_rng tu_rng_seed(uint64_t seed) {
    tu_rng r = {seed * 0x9e3779b97f4a7c15ull + 1};
    return r;
}

uint64_t tu_next(tu_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

float tu_uniform(tu_rng *r) { return (float)((tu_next(r) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }
int8_t tu_ternary(tu_rng *r) { return (int8_t)((int)(tu_next(r) % 3) - 1); }
int tu_range(tu_rng *r, int lo, int hi) { return lo + (int)(tu_next(r) % (uint64_t)(hi - lo + 1)); }

int tu_families(int32_t *out) {
    const uint32_t avail = tern_kernels_available();
    int n = 0;
    for (int32_t f = TERN_KERNELS_SCALAR; f <= TERN_KERNELS_AMX; f++) {
        if (avail & (1u << f)) out[n++] = f;
    }
    return n;
}

uint16_t tu_f32_to_f16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }
float tu_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

/* I2_S: 128 weights per 32 bytes, byte[b*32 + k] = q[b*128+k]<<6 | q[+32]<<4 | q[+64]<<2 | q[+96],
 * q = w + 1; then the f32 scale; the tensor is n/4 + 32 bytes. */
size_t tu_i2s_bytes(int64_t n) { return (size_t)(n / 4 + 32); }

void tu_i2s_encode(const int8_t *w, int64_t n, float scale, uint8_t *out) {
    memset(out, 0, tu_i2s_bytes(n));
    for (int64_t b = 0; b < n / 128; b++) {
        for (int k = 0; k < 32; k++) {
            const int8_t *q = w + b * 128 + k;
            out[b * 32 + k] = (uint8_t)((q[0] + 1) << 6 | (q[32] + 1) << 4 | (q[64] + 1) << 2 | (q[96] + 1));
        }
    }
    memcpy(out + n / 4, &scale, 4);
}

/* TQ2_0: per 256 weights qs[64] then fp16 d; qs[h*32 + m] holds weight h*128 + m + 32n in bits 2n. */
size_t tu_tq2_bytes(int64_t n) { return (size_t)(n / 256 * 66); }

void tu_tq2_encode(const int8_t *w, int64_t n, uint16_t d, uint8_t *out) {
    for (int64_t b = 0; b < n / 256; b++) {
        uint8_t *blk = out + b * 66;
        const int8_t *x = w + b * 256;
        for (int h = 0; h < 2; h++) {
            for (int m = 0; m < 32; m++) {
                uint8_t byte = 0;
                for (int k = 0; k < 4; k++) byte |= (uint8_t)((x[h * 128 + m + 32 * k] + 1) << (2 * k));
                blk[h * 32 + m] = byte;
            }
        }
        blk[64] = (uint8_t)(d & 0xff);
        blk[65] = (uint8_t)(d >> 8);
    }
}

/* TQ1_0: per 256 weights qs[48] qh[4] fp16 d. Five trits t0..t4 (t0 most significant, trit = w + 1)
 * make v = sum t_i 3^(4-i) in [0, 242], stored as ceil(v * 256 / 243). qs[m] (m < 32) holds weights
 * m + 32i, qs[32 + m] (m < 16) holds 160 + m + 16i, qh[j] holds 240 + j + 4i for i < 4 with a zero
 * fifth trit. */
size_t tu_tq1_bytes(int64_t n) { return (size_t)(n / 256 * 54); }

static uint8_t pack5(const int *t) {
    int v = 0;
    for (int i = 0; i < 5; i++) v = v * 3 + t[i];
    return (uint8_t)((v * 256 + 242) / 243);
}

void tu_tq1_encode(const int8_t *w, int64_t n, uint16_t d, uint8_t *out) {
    for (int64_t b = 0; b < n / 256; b++) {
        uint8_t *blk = out + b * 54;
        const int8_t *x = w + b * 256;
        int t[5];
        for (int m = 0; m < 32; m++) {
            for (int i = 0; i < 5; i++) t[i] = x[m + 32 * i] + 1;
            blk[m] = pack5(t);
        }
        for (int m = 0; m < 16; m++) {
            for (int i = 0; i < 5; i++) t[i] = x[160 + m + 16 * i] + 1;
            blk[32 + m] = pack5(t);
        }
        for (int j = 0; j < 4; j++) {
            for (int i = 0; i < 4; i++) t[i] = x[240 + j + 4 * i] + 1;
            t[4] = 0;
            blk[48 + j] = pack5(t);
        }
        blk[52] = (uint8_t)(d & 0xff);
        blk[53] = (uint8_t)(d >> 8);
    }
}

double tu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
