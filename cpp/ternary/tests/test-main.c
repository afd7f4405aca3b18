/*
 * test-main.c: runs every C test of libternary, prints one line per test and the closing
 * "N passed, N failed" line; exits non-zero if any failed.
 */
#include <stdio.h>
#include <string.h>

#include "test-util.h"

#define TESTS(X)                  \
    X(abi_and_dispatch)           \
    X(formats_round_trip)         \
    X(formats_reject_bad_input)   \
    X(float_and_q8_matrices)      \
    X(matrix_drop_input)          \
    X(acts_token_mode)            \
    X(acts_q8k_mode)              \
    X(matmul_ternary_families)    \
    X(matmul_ternary_edges)       \
    X(matmul_q8k_mode)            \
    X(matmul_q8_head)             \
    X(matmul3)                    \
    X(matmul_float_head)          \
    X(matmul_amx)                 \
    X(ops_rmsnorm)                \
    X(ops_glu_add)                \
    X(ops_softmax_argmax)         \
    X(ops_rope)                   \
    X(pool_stress)                \
    X(attention_masks_and_edits)  \
    X(attention_errors)

#define DECLARE(name) void test_##name(void);
TESTS(DECLARE)
#define ENTRY(name) {#name, test_##name},
static const tu_test tests[] = {TESTS(ENTRY)};

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    printf("libternary tests (ABI %u)\n", tern_abi_version());
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (only && !strstr(tests[i].name, only)) continue;
        tu_failures = 0;
        printf("  %s\n", tests[i].name);
        fflush(stdout);
        tests[i].fn();
        if (tu_failures) {
            printf("  FAILED %s (%d checks)\n", tests[i].name, tu_failures);
            failed++;
        } else {
            printf("  ok     %s\n", tests[i].name);
            passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
