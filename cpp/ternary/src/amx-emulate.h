/*
 * amx-emulate.h: a plain-C model of the AMX tile instructions kernels-amx.c uses, written from the
 * Intel SDM's pseudo-code, for the test-only library build with TERN_AMX_EMULATE (CMake option
 * TERNARY_AMX_EMULATION). It lets CPUs without AMX check the AMX kernels' tiling, layouts and
 * bookkeeping; it says nothing about instruction encoding, which only real AMX hardware checks.
 */
#ifndef TERN_AMX_EMULATE_H
#define TERN_AMX_EMULATE_H

#include <stdint.h>
#include <string.h>

#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbssd
#undef _tile_dpbsud
#undef _tile_release

typedef struct emu_tiles {
    uint8_t data[8][16][64]; /* 8 tiles of at most 16 rows x 64 bytes */
    uint8_t rows[8];
    uint16_t colsb[8];
    int configured;
} emu_tiles;

static _Thread_local emu_tiles emu;

static inline void emu_loadconfig(const uint8_t *cfg) {
    /* palette 1: colsb[i] at byte 16 + 2i, rows[i] at byte 48 + i */
    emu.configured = cfg[0] == 1;
    for (int i = 0; i < 8; i++) {
        emu.colsb[i] = (uint16_t)(cfg[16 + 2 * i] | cfg[17 + 2 * i] << 8);
        emu.rows[i] = cfg[48 + i];
    }
}

static inline void emu_loadd(int t, const void *base, long stride) {
    for (int r = 0; r < emu.rows[t]; r++) memcpy(emu.data[t][r], (const uint8_t *)base + r * stride, emu.colsb[t]);
}

static inline void emu_stored(int t, void *base, long stride) {
    for (int r = 0; r < emu.rows[t]; r++) memcpy((uint8_t *)base + r * stride, emu.data[t][r], emu.colsb[t]);
}

/* C[m][n] += sum_k sum_j A[m][4k+j] * B[k][4n+j], int32 elements of C; a_signed/b_signed pick the
 * byte interpretation (tdpbssd: both signed, tdpbsud: A signed, B unsigned). */
static inline void emu_dp(int c, int a, int b, int b_signed) {
    for (int m = 0; m < emu.rows[a]; m++) {
        for (int n = 0; n < emu.colsb[b] / 4; n++) {
            int32_t acc;
            memcpy(&acc, &emu.data[c][m][4 * n], 4);
            for (int k = 0; k < emu.colsb[a] / 4; k++) {
                for (int j = 0; j < 4; j++) {
                    const int av = (int8_t)emu.data[a][m][4 * k + j];
                    const int bv = b_signed ? (int8_t)emu.data[b][k][4 * n + j] : emu.data[b][k][4 * n + j];
                    acc += av * bv;
                }
            }
            memcpy(&emu.data[c][m][4 * n], &acc, 4);
        }
    }
}

#define _tile_loadd(t, base, stride) emu_loadd(t, base, (long)(stride))
#define _tile_stored(t, base, stride) emu_stored(t, base, (long)(stride))
#define _tile_zero(t) memset(emu.data[t], 0, sizeof emu.data[t])
#define _tile_dpbssd(c, a, b) emu_dp(c, a, b, 1)
#define _tile_dpbsud(c, a, b) emu_dp(c, a, b, 0)
#define _tile_release() (emu.configured = 0)
#define TERN_AMX_LOADCONFIG(cfg) emu_loadconfig((const uint8_t *)(cfg))

#endif
