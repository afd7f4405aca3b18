/*
 * error.c: the thread-local last-error message behind tern_last_error(), status names, aligned
 * allocation and half-precision conversion helpers shared by the library's files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[512];

int32_t tern_fail(int32_t status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

void tern_clear_error(void) { last_error[0] = '\0'; }

const char *tern_last_error(void) { return last_error; }

uint32_t tern_abi_version(void) { return TERN_ABI_VERSION; }

const char *tern_status_name(int32_t status) {
    switch (status) {
    case TERN_OK: return "TERN_OK";
    case TERN_E_ARG: return "TERN_E_ARG";
    case TERN_E_FORMAT: return "TERN_E_FORMAT";
    case TERN_E_UNSUPPORTED: return "TERN_E_UNSUPPORTED";
    case TERN_E_NOMEM: return "TERN_E_NOMEM";
    case TERN_E_CAPACITY: return "TERN_E_CAPACITY";
    case TERN_E_THREAD: return "TERN_E_THREAD";
    default: return "TERN_E_UNKNOWN";
    }
}

void *tern_alloc(size_t bytes) {
    if (bytes == 0) bytes = TERN_ALIGN;
    if (bytes > SIZE_MAX - TERN_ALIGN) return NULL;
    size_t rounded = (bytes + TERN_ALIGN - 1) / TERN_ALIGN * TERN_ALIGN;
    void *p = aligned_alloc(TERN_ALIGN, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void tern_free_aligned(void *p) { free(p); }

#define HUGE_PAGE ((size_t)2 << 20)

void *tern_alloc_pages(size_t bytes) {
    if (bytes == 0) bytes = TERN_ALIGN;
    if (bytes > SIZE_MAX / 2) return NULL;
    const size_t len = (bytes + 4095) & ~(size_t)4095;
    /* over-map by a huge page, then trim both ends so the buffer starts on a 2 MiB boundary */
    uint8_t *raw = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    const size_t tail = (size_t)(raw + len + HUGE_PAGE - (p + len));
    if (tail) munmap(p + len, tail);
#ifdef MADV_HUGEPAGE
    if (len >= HUGE_PAGE) madvise(p, len / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE); /* advice only: failure is fine */
#endif
    return p; /* anonymous mappings are zero-filled */
}

void tern_free_pages(void *p, size_t bytes) {
    if (!p) return;
    munmap(p, (bytes + 4095) & ~(size_t)4095);
}

/* IEEE binary16 <-> binary32 in plain C (exact; round-to-nearest-even on narrowing), so that the
 * reference paths do not depend on F16C. */
float tern_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);               /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);      /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign;                                           /* zero */
    } else {
        /* subnormal half = man * 2^-24: normalise the mantissa into the float's implicit bit */
        int e = -1;
        do { man <<= 1; e++; } while ((man & 0x400u) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t tern_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u);
    if (ax >= 0x477ff000u) return sign | 0x7c00u;              /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {                                    /* below 2^-14: subnormal or zero */
        if (ax < 0x33000000u) return sign;                     /* below 2^-25: rounds to zero */
        uint32_t e = ax >> 23;
        uint32_t man = (ax & 0x7fffffu) | 0x800000u;
        /* value = man * 2^(e - 150) and the half subnormal unit is 2^-24, so q = man >> (126 - e) */
        uint32_t shift = 126u - e;
        uint32_t q = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t q = ((ax >> 13) - (112u << 10));                  /* rebias 127 -> 15, keep 10 bits */
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++;
    return sign | (uint16_t)q;
}
