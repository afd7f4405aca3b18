/*
 * bench-matmul.c: libternary's matmul benchmark on the BitNet-2B-4T shapes. For every kernel family
 * the CPU has it first checks the result against the scalar family (bit-identical), then times the
 * decode matvec (T = 1, GB/s of packed weights streamed) and the prefill matmul (T = 128, GOP/s with
 * 2 ops per multiply-add) at 1 and 2 threads; also the output head (Q8 and F16) matvec.
 * "matvec" reuses one matrix (it stays in the CPU caches); "matvec-cold" cycles through copies adding
 * up to >= 256 MB, as a decode step does through a model's layers, so it measures DRAM streaming.
 * "dram-read" is the machine's roofline: a plain AVX2 sum over 1 GiB (huge pages where available) by 1 and
 * 2 threads (no library code).
 * Prints a table and, last, one JSON line.
 * Usage: ternary-bench [seconds per measurement, default 0.3] [only shapes whose name contains this]
 */
#include <immintrin.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "test-util.h"

typedef struct shape {
    const char *name;
    int64_t rows, cols;
} shape;

static const shape shapes[] = {
    {"attn_q/o 2560x2560", 2560, 2560},
    {"attn_k/v 640x2560", 640, 2560},
    {"ffn_gate/up 6912x2560", 6912, 2560},
    {"ffn_down 2560x6912", 2560, 6912},
};

static double min_seconds = 0.3;

/* Seconds per call of tern_matmul (or tern_matmul_f32 when x is given). */
static double time_calls(tern_pool *pool, const tern_matrix *m, const tern_acts *a, const float *x, int32_t T, float *y) {
    if (x) tern_matmul_f32(pool, m, x, T, y);
    else tern_matmul(pool, m, a, y);
    int n = 0;
    const double t0 = tu_now();
    double t1;
    do {
        if (x) tern_matmul_f32(pool, m, x, T, y);
        else tern_matmul(pool, m, a, y);
        n++;
        t1 = tu_now();
    } while (t1 - t0 < min_seconds);
    return (t1 - t0) / n;
}

/* Seconds per matvec when cycling through n copies (each call reads a matrix no longer in cache). */
static double time_cold(tern_pool *pool, tern_matrix **copies, int n, const tern_acts *a, float *y) {
    for (int i = 0; i < n; i++) tern_matmul(pool, copies[i], a, y);
    int calls = 0;
    const double t0 = tu_now();
    double t1;
    do {
        for (int i = 0; i < n; i++) tern_matmul(pool, copies[i], a, y);
        calls += n;
        t1 = tu_now();
    } while (t1 - t0 < min_seconds);
    return (t1 - t0) / calls;
}

static char json[16384];
static size_t json_len;

static void record(const char *kind, const char *name, const char *family, int threads, int32_t T, double value,
                   const char *unit) {
    printf("  %-11s %-24s %-7s %dT  T=%-4d %9.2f %s\n", kind, name, family, threads, T, value, unit);
    json_len += (size_t)snprintf(json + json_len, sizeof json - json_len,
                                 "%s{\"kind\":\"%s\",\"shape\":\"%s\",\"kernels\":\"%s\",\"threads\":%d,\"tokens\":%d,\"%s\":%.3f}",
                                 json_len > 1 ? "," : "", kind, name, family, threads, T, unit, value);
}

static int check_against_scalar(const tern_matrix *m, int32_t family, const float *x, int32_t T) {
    tern_pool *ref = NULL, *pool = NULL;
    if (tern_pool_init(2, TERN_KERNELS_SCALAR, &ref) != TERN_OK || tern_pool_init(2, family, &pool) != TERN_OK) return 0;
    const int64_t rows = tern_matrix_rows(m);
    float *y0 = malloc((size_t)(rows * T) * 4), *y1 = malloc((size_t)(rows * T) * 4);
    tern_matmul_f32(ref, m, x, T, y0);
    tern_matmul_f32(pool, m, x, T, y1);
    const int ok = !memcmp(y0, y1, (size_t)(rows * T) * 4);
    free(y0);
    free(y1);
    tern_pool_free(ref);
    tern_pool_free(pool);
    return ok;
}

/* ---- DRAM read bandwidth: each thread sums its half of a buffer far larger than the caches ------------ */

typedef struct read_arg {
    const uint8_t *p;
    size_t n;
    uint64_t out;
} read_arg;

static void *read_part(void *v) {
    read_arg *r = v;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
    for (size_t i = 0; i + 64 <= r->n; i += 64) {
        acc0 = _mm256_add_epi64(acc0, _mm256_load_si256((const __m256i *)(r->p + i)));
        acc1 = _mm256_add_epi64(acc1, _mm256_load_si256((const __m256i *)(r->p + i + 32)));
    }
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi64(acc0, acc1));
    r->out = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    return NULL;
}

static void bench_dram_read(void) {
    const size_t n = (size_t)1 << 30;
    /* huge pages where the kernel gives them, as libternary's weights get: the TLB then costs little */
    uint8_t *buf = aligned_alloc((size_t)2 << 20, n);
    if (!buf) return;
    madvise(buf, n, MADV_HUGEPAGE);
    memset(buf, 1, n);
    for (int threads = 1; threads <= 2; threads++) {
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            pthread_t th[2];
            read_arg args[2];
            const double t0 = tu_now();
            for (int i = 0; i < threads; i++) {
                args[i] = (read_arg){buf + (n / threads) * i, n / threads, 0};
                pthread_create(&th[i], NULL, read_part, &args[i]);
            }
            for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
            const double gbs = (double)n / (tu_now() - t0) / 1e9;
            if (gbs > best) best = gbs;
        }
        record("dram-read", "1 GiB", "avx2", threads, 0, best, "GB/s");
    }
    free(buf);
}

int main(int argc, char **argv) {
    if (argc > 1) min_seconds = atof(argv[1]);
    const char *only = argc > 2 ? argv[2] : "";
    int32_t fams[8];
    const int nf = tu_families(fams);
    tu_rng rng = tu_rng_seed(99);
    const int32_t T_prefill = 128;
    json_len = (size_t)snprintf(json, sizeof json, "[");
    printf("libternary bench: %.2f s per measurement\n", min_seconds);
    int failures = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const shape *sh = &shapes[si];
        if (!strstr(sh->name, only)) continue;
        int8_t *w = malloc((size_t)(sh->rows * sh->cols));
        for (int64_t i = 0; i < sh->rows * sh->cols; i++) w[i] = tu_ternary(&rng);
        tern_matrix *m = NULL;
        if (tern_matrix_init(NULL, TERN_FMT_TERNARY_I8, w, (uint64_t)(sh->rows * sh->cols), sh->rows, sh->cols, 0, &m) != TERN_OK) {
            printf("matrix init failed: %s\n", tern_last_error());
            return 1;
        }
        const double bytes = (double)tern_matrix_nbytes(m);
        const int n_copies = (int)(256e6 / bytes) + 1;
        tern_matrix **copies = calloc((size_t)n_copies, sizeof *copies);
        {
            tern_pool *init_pool = NULL;
            tern_pool_init(2, TERN_KERNELS_AUTO, &init_pool);
            for (int i = 0; i < n_copies; i++) {
                tern_matrix_init(init_pool, TERN_FMT_TERNARY_I8, w, (uint64_t)(sh->rows * sh->cols), sh->rows, sh->cols, 0,
                                 &copies[i]);
            }
            tern_pool_free(init_pool);
        }
        free(w);
        float *x = malloc((size_t)(T_prefill * sh->cols) * 4);
        for (int64_t i = 0; i < T_prefill * sh->cols; i++) x[i] = tu_uniform(&rng);
        float *y = malloc((size_t)(T_prefill * sh->rows) * 4);
        tern_acts *a = NULL;
        tern_acts_init(T_prefill, sh->cols, &a);
        printf("%s (%.2f MB packed)\n", sh->name, bytes / 1e6);
        for (int fi = 0; fi < nf; fi++) {
            const char *fam = tern_kernels_name(fams[fi]);
            if (fams[fi] != TERN_KERNELS_SCALAR) {
                const int ok = check_against_scalar(m, fams[fi], x, 1) && check_against_scalar(m, fams[fi], x, 17);
                printf("  check    %-24s %-7s vs scalar: %s\n", sh->name, fam, ok ? "identical" : "MISMATCH");
                failures += !ok;
            }
            for (int threads = 1; threads <= 2; threads++) {
                tern_pool *pool = NULL;
                tern_pool_init(threads, fams[fi], &pool);
                tern_acts_quantize(pool, a, x, 1, TERN_ACT_TOKEN);
                const double tv = time_calls(pool, m, a, NULL, 1, y);
                record("matvec", sh->name, fam, threads, 1, bytes / tv / 1e9, "GB/s");
                if (fams[fi] != TERN_KERNELS_SCALAR) {
                    const double tc = time_cold(pool, copies, n_copies, a, y);
                    record("matvec-cold", sh->name, fam, threads, 1, bytes / tc / 1e9, "GB/s");
                }
                if (fams[fi] != TERN_KERNELS_SCALAR) {
                    tern_acts_quantize(pool, a, x, T_prefill, TERN_ACT_TOKEN);
                    const double tm = time_calls(pool, m, a, NULL, T_prefill, y);
                    record("matmul", sh->name, fam, threads, T_prefill, 2.0 * sh->rows * sh->cols * T_prefill / tm / 1e9, "GOP/s");
                }
                tern_pool_free(pool);
            }
        }
        tern_acts_free(a);
        free(x);
        free(y);
        tern_matrix_free(m);
        for (int i = 0; i < n_copies; i++) tern_matrix_free(copies[i]);
        free(copies);
    }

    if (strstr("dram-read", only)) bench_dram_read();

    /* output head slice: 32768 of the 128256 vocab rows x 2560, Q8 and F16 */
    if (strstr("head", only)) {
        const int64_t rows = 32768, cols = 2560;
        uint16_t *h = malloc((size_t)(rows * cols) * 2);
        for (int64_t i = 0; i < rows * cols; i++) h[i] = tu_f32_to_f16(tu_uniform(&rng) * 0.05f);
        float *x = malloc((size_t)cols * 4), *y = malloc((size_t)rows * 4);
        for (int64_t i = 0; i < cols; i++) x[i] = tu_uniform(&rng);
        for (int q8 = 0; q8 < 2; q8++) {
            tern_matrix *m = NULL;
            tern_pool *init_pool = NULL;
            tern_pool_init(2, TERN_KERNELS_AUTO, &init_pool);
            tern_matrix_init(init_pool, TERN_FMT_F16, h, (uint64_t)(rows * cols * 2), rows, cols, q8 ? TERN_MATRIX_FLAG_Q8 : 0, &m);
            tern_pool_free(init_pool);
            const double bytes = (double)tern_matrix_nbytes(m);
            const char *name = q8 ? "head q8 32768x2560" : "head f16 32768x2560";
            printf("%s (%.1f MB)\n", name, bytes / 1e6);
            for (int fi = 0; fi < nf; fi++) {
                if (fams[fi] == TERN_KERNELS_SCALAR) continue;
                for (int threads = 1; threads <= 2; threads++) {
                    tern_pool *pool = NULL;
                    tern_pool_init(threads, fams[fi], &pool);
                    const double tv = time_calls(pool, m, NULL, x, 1, y);
                    record("head", name, tern_kernels_name(fams[fi]), threads, 1, bytes / tv / 1e9, "GB/s");
                    tern_pool_free(pool);
                }
            }
            tern_matrix_free(m);
        }
        free(h);
        free(x);
        free(y);
    }
    printf("%s]\n", json);
    if (failures) printf("%d kernel checks FAILED\n", failures);
    return failures ? 1 : 0;
}
