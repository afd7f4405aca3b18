/*
 * dispatch.c: the one place that looks at the CPU. Reads CPUID and XCR0, asks Linux for AMX tile
 * permission, and maps a kernel family (or env TERNARY_KERNELS) to its table of kernels.
 * Compiled for the plain x86-64 baseline so that it runs, and refuses cleanly, on any x86-64 CPU.
 */
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA  18

static const tern_kernels table_scalar = {
    TERN_KERNELS_SCALAR, "scalar", tern_gemm_t2_ref, tern_gemm_u8_ref, tern_gemm_f16_ref, tern_gemm_f32_ref,
    0, 64,
};
static const tern_kernels table_avx2 = {
    TERN_KERNELS_AVX2, "avx2", tern_gemm_t2_avx2, tern_gemm_u8_avx2, tern_gemm_f16_avx2, tern_gemm_f32_avx2,
    0, 64,
};
static const tern_kernels table_avx512 = {
    TERN_KERNELS_AVX512, "avx512", tern_gemm_t2_avx512, tern_gemm_u8_avx512, tern_gemm_f16_avx512,
    tern_gemm_f32_avx512, 0, 64,
};
/* AMX unpacks two 16-row panels of ternary codes into int8 tiles: 2 x 1 KiB per chunk. Float GEMMs
 * and small batches (inside tern_gemm_*_amx) use the AVX-512 kernels. */
static const tern_kernels table_amx = {
    TERN_KERNELS_AMX, "amx", tern_gemm_t2_amx, tern_gemm_u8_amx, tern_gemm_f16_avx512, tern_gemm_f32_avx512,
    2 * TERN_U8_CHUNK_BYTES, 256,
};

static uint32_t features;
static char amx_reason[160] = "";
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect(void) {
    unsigned a, b, c, d;
    uint32_t f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1;
    if ((c >> 12) & 1) f |= TERN_CPU_FMA;
    if ((c >> 29) & 1) f |= TERN_CPU_F16C;
    uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    if ((xcr0 & 0x6) == 0x6) f |= TERN_CPU_OS_AVX;                   /* SSE + YMM state */
    if ((xcr0 & 0xe6) == 0xe6) f |= TERN_CPU_OS_AVX512;              /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if ((b >> 5) & 1) f |= TERN_CPU_AVX2;
        if ((b >> 16) & 1) f |= TERN_CPU_AVX512F;
        if ((b >> 30) & 1) f |= TERN_CPU_AVX512BW;
        if ((b >> 31) & 1) f |= TERN_CPU_AVX512VL;
        if ((c >> 11) & 1) f |= TERN_CPU_AVX512VNNI;
        if ((d >> 24) & 1) f |= TERN_CPU_AMX_TILE;
        if ((d >> 25) & 1) f |= TERN_CPU_AMX_INT8;
    }
    if (!(f & TERN_CPU_AMX_TILE) || !(f & TERN_CPU_AMX_INT8)) {
        strcpy(amx_reason, "the CPU has no AMX-TILE/AMX-INT8 (CPUID.7.0:EDX bits 24/25)");
    } else if ((xcr0 & 0x60000) != 0x60000) {
        strcpy(amx_reason, "the OS does not enable tile state (XCR0 bits 17/18)");
    } else {
        /* Linux keeps AMX tile data off until a process asks (kernel >= 5.16); the grant is per process. */
        long r = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
        uint64_t granted = 0;
        if (r == 0) r = syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &granted);
        if (r == 0 && (granted >> XFEATURE_XTILEDATA) & 1) {
            f |= TERN_CPU_OS_AMX;
        } else {
            strcpy(amx_reason, "Linux refused AMX tile permission (arch_prctl ARCH_REQ_XCOMP_PERM)");
        }
    }
    features = f;
}

uint32_t tern_cpu_features(void) {
    pthread_once(&detect_once, detect);
    return features;
}

static int has_all(uint32_t f, uint32_t need) { return (f & need) == need; }

#define NEED_BASE (TERN_CPU_AVX2 | TERN_CPU_FMA | TERN_CPU_F16C | TERN_CPU_OS_AVX)
#define NEED_AVX512 (NEED_BASE | TERN_CPU_AVX512F | TERN_CPU_AVX512BW | TERN_CPU_AVX512VL | \
                     TERN_CPU_AVX512VNNI | TERN_CPU_OS_AVX512)
#define NEED_AMX (NEED_AVX512 | TERN_CPU_AMX_TILE | TERN_CPU_AMX_INT8 | TERN_CPU_OS_AMX)

uint32_t tern_kernels_available(void) {
    uint32_t f = tern_cpu_features(), out = 0;
    if (!has_all(f, NEED_BASE)) return 0; /* the generic code itself is compiled for AVX2 */
    out |= 1u << TERN_KERNELS_SCALAR;
    out |= 1u << TERN_KERNELS_AVX2;
    if (has_all(f, NEED_AVX512)) out |= 1u << TERN_KERNELS_AVX512;
#ifdef TERN_AMX_EMULATE
    if (has_all(f, NEED_AVX512)) out |= 1u << TERN_KERNELS_AMX; /* test build: tiles emulated in C */
#else
    if (has_all(f, NEED_AMX)) out |= 1u << TERN_KERNELS_AMX;
#endif
    return out;
}

const char *tern_kernels_name(int32_t family) {
    switch (family) {
    case TERN_KERNELS_AUTO: return "auto";
    case TERN_KERNELS_SCALAR: return "scalar";
    case TERN_KERNELS_AVX2: return "avx2";
    case TERN_KERNELS_AVX512: return "avx512";
#ifdef TERN_AMX_EMULATE
    case TERN_KERNELS_AMX: return "amx-emulated";
#else
    case TERN_KERNELS_AMX: return "amx";
#endif
    default: return "?";
    }
}

static const tern_kernels *table_of(int32_t family) {
    switch (family) {
    case TERN_KERNELS_SCALAR: return &table_scalar;
    case TERN_KERNELS_AVX2: return &table_avx2;
    case TERN_KERNELS_AVX512: return &table_avx512;
    case TERN_KERNELS_AMX: return &table_amx;
    default: return NULL;
    }
}

static int32_t family_from_env(int32_t *family) {
    const char *env = getenv("TERNARY_KERNELS");
    if (!env || !*env || !strcasecmp(env, "auto")) return TERN_OK;
    static const char *const names[] = {"auto", "scalar", "avx2", "avx512", "amx"};
    for (int32_t f = TERN_KERNELS_SCALAR; f <= TERN_KERNELS_AMX; f++) {
        if (!strcasecmp(env, names[f])) {
            *family = f;
            return TERN_OK;
        }
    }
    return tern_fail(TERN_E_ARG, "TERNARY_KERNELS=%s: expected scalar, avx2, avx512, amx or auto", env);
}

int32_t tern_kernels_select(int32_t family, const tern_kernels **out) {
    *out = NULL;
    const uint32_t avail = tern_kernels_available();
    if (!avail) {
        return tern_fail(TERN_E_UNSUPPORTED, "libternary needs an x86-64 CPU with AVX2, FMA and F16C enabled by the OS");
    }
    if (family == TERN_KERNELS_AUTO) {
        const int32_t st = family_from_env(&family);
        if (st != TERN_OK) return st;
    }
    if (family == TERN_KERNELS_AUTO) {
        for (family = TERN_KERNELS_AMX; family > TERN_KERNELS_SCALAR; family--) {
            if (avail & (1u << family)) break;
        }
    }
    const tern_kernels *k = table_of(family);
    if (!k) return tern_fail(TERN_E_ARG, "unknown kernel family %d", family);
    if (!(avail & (1u << family))) {
        if (family == TERN_KERNELS_AMX) {
            return tern_fail(TERN_E_UNSUPPORTED, "kernel family amx is not available: %s",
                             amx_reason[0] ? amx_reason : "the CPU lacks AVX-512 F/BW/VL/VNNI");
        }
        return tern_fail(TERN_E_UNSUPPORTED, "kernel family %s is not available: the CPU lacks AVX-512 F/BW/VL/VNNI",
                         k->name);
    }
    *out = k;
    return TERN_OK;
}
