/*
 * test-ops.c: RMSNorm, GLU, add, softmax/argmax and RoPE against double-precision references.
 * Named tolerances (relative to the reference's magnitude):
 *   TOL_REDUCE  = 1e-5  float reductions over <= 4096 values (RMSNorm sum of squares, softmax sum)
 *   TOL_EXP     = 4e-6  the vector exp (< 2 ulp) inside SiLU and softmax, plus division
 *   TOL_ROPE    = 2e-6  a rotation with table cos/sin rounded to float (abs, per unit of |x|)
 *   exact               ReLU^2-GLU and add (the same float operations as the reference)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test-util.h"

#define TOL_REDUCE 1e-5
#define TOL_EXP 4e-6
#define TOL_ROPE 2e-6

void test_ops_rmsnorm(void) {
    tu_rng rng = tu_rng_seed(20);
    tern_pool *pool = NULL;
    CHECK_OK(tern_pool_init(2, TERN_KERNELS_AUTO, &pool));
    static const int32_t dims[] = {1, 7, 8, 100, 2560};
    for (int di = 0; di < 5; di++) {
        const int32_t dim = dims[di], T = 5;
        float *x = malloc((size_t)(T * dim) * 4), *w = malloc((size_t)dim * 4), *y = malloc((size_t)(T * dim) * 4);
        for (int32_t i = 0; i < T * dim; i++) x[i] = tu_uniform(&rng) * 4;
        for (int32_t i = 0; i < dim; i++) w[i] = tu_uniform(&rng);
        memset(x, 0, (size_t)dim * 4); /* a zero token: y = 0 thanks to eps */
        for (int with_w = 0; with_w < 2; with_w++) {
            CHECK_OK(tern_rmsnorm(pool, x, with_w ? w : NULL, y, T, dim, 1e-5f));
            int bad = 0;
            for (int32_t t = 0; t < T; t++) {
                double ss = 0;
                for (int32_t i = 0; i < dim; i++) ss += (double)x[t * dim + i] * x[t * dim + i];
                const double inv = 1.0 / sqrt(ss / dim + 1e-5);
                for (int32_t i = 0; i < dim; i++) {
                    const double want = x[t * dim + i] * inv * (with_w ? w[i] : 1.0);
                    bad += fabs(y[t * dim + i] - want) > TOL_REDUCE * fabs(want) + 1e-30;
                }
            }
            CHECK(bad == 0, "rmsnorm dim %d: %d values outside TOL_REDUCE", dim, bad);
        }
        /* in place */
        memcpy(y, x, (size_t)(T * dim) * 4);
        float *y2 = malloc((size_t)(T * dim) * 4);
        CHECK_OK(tern_rmsnorm(pool, x, w, y2, T, dim, 1e-6f));
        CHECK_OK(tern_rmsnorm(pool, y, w, y, T, dim, 1e-6f));
        CHECK(!memcmp(y, y2, (size_t)(T * dim) * 4), "in-place rmsnorm differs");
        free(y2);
        free(x);
        free(w);
        free(y);
    }
    float v = 1;
    CHECK_STATUS(tern_rmsnorm(pool, &v, NULL, &v, 1, 0, 1e-5f), TERN_E_ARG);
    CHECK_STATUS(tern_rmsnorm(pool, &v, NULL, &v, 1, 1, NAN), TERN_E_ARG);
    tern_pool_free(pool);
}

void test_ops_glu_add(void) {
    tu_rng rng = tu_rng_seed(21);
    tern_pool *pool = NULL;
    CHECK_OK(tern_pool_init(2, TERN_KERNELS_AUTO, &pool));
    const int64_t n = 200003; /* several tasks and a scalar tail */
    float *g = malloc((size_t)n * 4), *u = malloc((size_t)n * 4), *o = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        g[i] = tu_uniform(&rng) * 20;
        u[i] = tu_uniform(&rng) * 3;
    }
    g[0] = -100.0f; /* silu far left: ~0 */
    g[1] = 100.0f;  /* silu far right: ~g */
    g[2] = 0.0f;
    CHECK_OK(tern_glu(pool, TERN_GLU_SILU, g, u, o, n));
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const double want = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        bad += fabs(o[i] - want) > TOL_EXP * fabs(want) + 1e-35;
    }
    CHECK(bad == 0, "silu-glu: %lld values outside TOL_EXP", (long long)bad);
    CHECK_OK(tern_glu(pool, TERN_GLU_RELU2, g, u, o, n));
    bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const float p = g[i] > 0 ? g[i] : 0.0f;
        const float want = p * p * u[i];
        bad += o[i] != want;
    }
    CHECK(bad == 0, "relu2-glu: %lld values differ (exact)", (long long)bad);
    CHECK_OK(tern_add(pool, g, u, o, n));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += o[i] != g[i] + u[i];
    CHECK(bad == 0, "add: %lld values differ", (long long)bad);
    CHECK_OK(tern_add(pool, g, u, g, n)); /* out aliases a */
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += g[i] != o[i];
    CHECK(bad == 0, "in-place add differs");
    CHECK_STATUS(tern_glu(pool, 7, g, u, o, n), TERN_E_ARG);
    CHECK_OK(tern_glu(pool, TERN_GLU_SILU, g, u, o, 0));
    free(g);
    free(u);
    free(o);
    tern_pool_free(pool);
}

void test_ops_softmax_argmax(void) {
    tu_rng rng = tu_rng_seed(22);
    tern_pool *pool = NULL;
    CHECK_OK(tern_pool_init(2, TERN_KERNELS_AUTO, &pool));
    static const int32_t cols_list[] = {1, 5, 8, 1000, 128256};
    for (int ci = 0; ci < 5; ci++) {
        const int32_t rows = 3, cols = cols_list[ci];
        float *x = malloc((size_t)rows * cols * 4), *p = malloc((size_t)rows * cols * 4);
        for (int64_t i = 0; i < (int64_t)rows * cols; i++) x[i] = tu_uniform(&rng) * 30;
        if (cols > 4) x[cols + 3] = x[cols + 4] = 1000; /* tie: the first index wins */
        memcpy(p, x, (size_t)rows * cols * 4);
        CHECK_OK(tern_softmax(pool, p, rows, cols));
        int32_t ids[3];
        float probs[3];
        CHECK_OK(tern_argmax(x, rows, cols, ids, probs));
        int bad = 0;
        for (int32_t r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * cols;
            int32_t best = 0;
            double m = xr[0], s = 0;
            for (int32_t i = 1; i < cols; i++) if (xr[i] > m) { m = xr[i]; best = i; }
            for (int32_t i = 0; i < cols; i++) s += exp(xr[i] - m);
            for (int32_t i = 0; i < cols; i++) {
                const double want = exp(xr[i] - m) / s;
                bad += fabs(p[(size_t)r * cols + i] - want) > (TOL_EXP + TOL_REDUCE) * want + 1e-38;
            }
            CHECK(ids[r] == best, "argmax row %d: %d want %d", r, ids[r], best);
            CHECK(fabs(probs[r] - 1.0 / s) <= (TOL_EXP + TOL_REDUCE) / s, "max prob row %d", r);
        }
        CHECK(bad == 0, "softmax cols %d: %d values outside tolerance", cols, bad);
        free(x);
        free(p);
    }
    tern_pool_free(pool);
}

void test_ops_rope(void) {
    tu_rng rng = tu_rng_seed(23);
    tern_pool *pool = NULL;
    CHECK_OK(tern_pool_init(2, TERN_KERNELS_AUTO, &pool));
    static const int32_t cfg[][3] = {{128, 128, 20}, {64, 64, 3}, {128, 96, 2}, {6, 4, 1}}; /* head_dim, n_rot, heads */
    for (int k = 0; k < 4; k++) {
        const int32_t hd = cfg[k][0], n_rot = cfg[k][1], nh = cfg[k][2], T = 9, n_pos = 4096;
        const float base = 500000.0f;
        tern_rope *rope = NULL;
        CHECK_OK(tern_rope_init(n_rot, base, n_pos, TERN_ROPE_EXACT, &rope));
        if (!rope) continue;
        int32_t pos[9] = {0, 1, 2, 17, 100, 1000, 4095, 2048, 5};
        float *x = malloc((size_t)T * nh * hd * 4), *y = malloc((size_t)T * nh * hd * 4);
        for (int64_t i = 0; i < (int64_t)T * nh * hd; i++) x[i] = tu_uniform(&rng) * 2;
        memcpy(y, x, (size_t)T * nh * hd * 4);
        CHECK_OK(tern_rope_apply(pool, rope, y, T, nh, hd, pos));
        int bad = 0;
        for (int32_t t = 0; t < T; t++) {
            for (int32_t h = 0; h < nh; h++) {
                const float *xi = x + ((size_t)t * nh + h) * hd;
                const float *yo = y + ((size_t)t * nh + h) * hd;
                for (int32_t i = 0; i < n_rot / 2; i++) {
                    const double th = pos[t] * pow(base, -2.0 * i / n_rot);
                    const double x0 = xi[i], x1 = xi[i + n_rot / 2];
                    const double a = x0 * cos(th) - x1 * sin(th), b = x0 * sin(th) + x1 * cos(th);
                    const double mag = fabs(x0) + fabs(x1);
                    bad += fabs(yo[i] - a) > TOL_ROPE * mag + 1e-30;
                    bad += fabs(yo[i + n_rot / 2] - b) > TOL_ROPE * mag + 1e-30;
                }
                for (int32_t i = n_rot; i < hd; i++) bad += yo[i] != xi[i]; /* untouched */
            }
        }
        CHECK(bad == 0, "rope hd %d n_rot %d: %d values outside TOL_ROPE", hd, n_rot, bad);
        pos[3] = 4096;
        CHECK_STATUS(tern_rope_apply(pool, rope, y, T, nh, hd, pos), TERN_E_ARG);
        CHECK_STATUS(tern_rope_apply(pool, rope, y, T, nh, n_rot - 2, pos), TERN_E_ARG);
        free(x);
        free(y);
        tern_rope_free(rope);
    }
    tern_rope *r = NULL;
    CHECK_STATUS(tern_rope_init(7, 10000.0f, 10, TERN_ROPE_EXACT, &r), TERN_E_ARG);
    CHECK_STATUS(tern_rope_init(8, 10000.0f, 10, 2, &r), TERN_E_ARG);

    /* GGML mode: the same rotation with ggml's float theta (exactly its recurrence, so compare exactly) */
    {
        const int32_t hd = 64, nh = 2;
        const float base = 500000.0f;
        CHECK_OK(tern_rope_init(hd, base, 1024, TERN_ROPE_GGML, &r));
        if (r) {
            int32_t pos[3] = {0, 511, 1023};
            float x[3 * 2 * 64], y[3 * 2 * 64];
            for (int i = 0; i < 3 * nh * hd; i++) x[i] = y[i] = tu_uniform(&rng);
            CHECK_OK(tern_rope_apply(pool, r, y, 3, nh, hd, pos));
            const float scale = powf(base, -2.0f / hd);
            int bad = 0;
            for (int t = 0; t < 3; t++) {
                for (int h = 0; h < nh; h++) {
                    float theta = (float)pos[t];
                    const float *xi = x + (t * nh + h) * hd, *yo = y + (t * nh + h) * hd;
                    for (int i = 0; i < hd / 2; i++, theta *= scale) {
                        const float c = cosf(theta), sn = sinf(theta), x0 = xi[i], x1 = xi[i + hd / 2];
                        bad += fabsf(yo[i] - (x0 * c - x1 * sn)) > 1e-6f * (fabsf(x0) + fabsf(x1));
                        bad += fabsf(yo[i + hd / 2] - (x0 * sn + x1 * c)) > 1e-6f * (fabsf(x0) + fabsf(x1));
                    }
                }
            }
            CHECK(bad == 0, "rope ggml mode: %d values off ggml's float recurrence", bad);
            tern_rope_free(r);
        }
    }
    tern_pool_free(pool);
}

/* Many small jobs on pools of 2 and 3 threads, spinning and (spin 0) sleeping between jobs. */
void test_pool_stress(void) {
    for (int sleep_mode = 0; sleep_mode < 2; sleep_mode++) {
        setenv("TERNARY_SPIN_US", sleep_mode ? "0" : "200", 1);
        /* sleeping callers too (the caller's wait for the last tasks), in the sleeping round */
        if (sleep_mode) setenv("TERNARY_DONE_SPIN_US", "0", 1);
        for (int32_t threads = 2; threads <= 3; threads++) {
            tern_pool *pool = NULL;
            CHECK_OK(tern_pool_init(threads, TERN_KERNELS_AUTO, &pool));
            if (!pool) continue;
            float x[6 * 16], y[6 * 16], want[6 * 16];
            for (int i = 0; i < 6 * 16; i++) x[i] = (float)(i % 7) - 3.0f;
            CHECK_OK(tern_rmsnorm(NULL, x, NULL, want, 6, 16, 1e-5f));
            int bad = 0;
            for (int iter = 0; iter < (sleep_mode ? 300 : 3000); iter++) {
                memset(y, 0, sizeof y);
                if (tern_rmsnorm(pool, x, NULL, y, 6, 16, 1e-5f) != TERN_OK) bad++;
                bad += memcmp(y, want, sizeof y) != 0;
            }
            CHECK(bad == 0, "%d threads, spin %s: %d bad iterations", threads, sleep_mode ? "0" : "200", bad);
            tern_pool_free(pool);
        }
    }
    unsetenv("TERNARY_SPIN_US");
    unsetenv("TERNARY_DONE_SPIN_US");
}
