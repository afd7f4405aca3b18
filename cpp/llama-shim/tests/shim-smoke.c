/*
 * shim-smoke: loads a GGUF through libllama-shim and exercises the whole ABI once.
 *
 *   shim-smoke <model.gguf> [--vocab-only] [--prompt TEXT]
 *
 * With weights it decodes the prompt, greedily extends it by a few tokens, checks the cache
 * edits and a non-causal (block) decode, and prints the first logits of the prompt's last token
 * so two files with the same weights can be compared. Exits 0 when every check passes.
 */
#include "llama-shim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures = 0;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                  \
            fprintf(stderr, __VA_ARGS__);                                         \
            fprintf(stderr, " (last error: %s)\n", lshim_last_error());           \
            g_failures++;                                                         \
        }                                                                         \
    } while (0)

#define CHECK_OK(call) CHECK((call) == LSHIM_OK, "%s", #call)

static void on_progress(float progress, void *user) {
    float *last = (float *) user;
    *last = progress;
}

static int64_t info(const lshim_model *m, int32_t key) {
    int64_t v = -999;
    CHECK_OK(lshim_model_info(m, key, &v));
    return v;
}

static int32_t argmax(const float *row, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) {
        if (row[i] > row[best]) best = i;
    }
    return best;
}

static void check_strings(const lshim_model *m) {
    char buf[256];
    int32_t len = 0;
    CHECK_OK(lshim_model_str(m, LSHIM_STR_ARCH, buf, sizeof buf, &len));
    printf("arch: %.*s\n", len, buf);
    CHECK_OK(lshim_model_str(m, LSHIM_STR_DESC, buf, sizeof buf, &len));
    printf("desc: %.*s\n", len, buf);

    /* a buffer that is too small reports the size it needs */
    int32_t need = 0;
    CHECK(lshim_model_meta(m, "general.architecture", buf, 1, &need) == LSHIM_E_BUFFER_TOO_SMALL && need > 1,
          "meta with a 1-byte buffer");
    CHECK(lshim_model_meta(m, "no.such.key", buf, sizeof buf, &len) == LSHIM_E_NOT_FOUND, "missing meta key");

    int32_t tmpl_len = 0;
    const int32_t st = lshim_model_str(m, LSHIM_STR_CHAT_TEMPLATE, NULL, 0, &tmpl_len);
    CHECK(st == LSHIM_E_NOT_FOUND || st == LSHIM_E_BUFFER_TOO_SMALL || (st == LSHIM_OK && tmpl_len == 0),
          "chat template status %d", st);
    printf("chat template: %d bytes\n", st == LSHIM_E_NOT_FOUND ? -1 : tmpl_len);
}

/* Tokenizes `prompt` into *out (malloc'd); returns the count. */
static int32_t check_tokenizer(const lshim_model *m, const char *prompt, int32_t **out) {
    const int32_t n_vocab = (int32_t) info(m, LSHIM_INFO_N_VOCAB);
    int32_t n = 0;
    const int32_t st = lshim_tokenize(m, prompt, (int32_t) strlen(prompt), 1, 1, NULL, 0, &n);
    CHECK(st == LSHIM_E_BUFFER_TOO_SMALL && n > 0, "tokenize size query: status %d, n %d", st, n);
    int32_t *tokens = calloc((size_t) n, sizeof *tokens);
    int32_t got = 0;
    CHECK_OK(lshim_tokenize(m, prompt, (int32_t) strlen(prompt), 1, 1, tokens, n, &got));
    CHECK(got == n, "tokenize count %d != %d", got, n);
    printf("tokens:");
    for (int32_t i = 0; i < n; i++) printf(" %d", tokens[i]);
    printf("\n");

    char text[1024];
    int32_t len = 0;
    CHECK_OK(lshim_detokenize(m, tokens, n, 1, 0, text, sizeof text, &len));
    CHECK(len == (int32_t) strlen(prompt) && memcmp(text, prompt, (size_t) len) == 0, "round trip gave '%.*s'", len,
          text);

    char piece[64];
    int32_t piece_len = 0;
    CHECK_OK(lshim_token_piece(m, tokens[n - 1], 0, piece, sizeof piece, &piece_len));
    CHECK(piece_len > 0, "empty piece for token %d", tokens[n - 1]);

    int32_t eog[16];
    int32_t n_eog = 0;
    CHECK_OK(lshim_vocab_eog_tokens(m, eog, 16, &n_eog));
    printf("eog tokens: %d (first %d)\n", n_eog, n_eog > 0 ? eog[0] : -1);
    for (int32_t i = 0; i < n_eog && i < 16; i++) {
        int32_t is_eog = 0;
        CHECK_OK(lshim_token_is_eog(m, eog[i], &is_eog));
        CHECK(is_eog == 1, "token %d listed as EOG but is_eog says %d", eog[i], is_eog);
    }

    int32_t attr = 0;
    CHECK(lshim_token_attr(m, n_vocab, &attr) == LSHIM_E_INVALID_ARG, "token n_vocab accepted");
    const int64_t bos = info(m, LSHIM_INFO_BOS);
    if (bos >= 0) {
        char bos_text[128];
        int32_t bos_len = 0, found = -1;
        CHECK_OK(lshim_token_text(m, (int32_t) bos, bos_text, sizeof bos_text, &bos_len));
        CHECK_OK(lshim_token_find(m, bos_text, bos_len, &found));
        CHECK(found == bos, "token_find(BOS text) = %d, BOS = %lld", found, (long long) bos);
    }
    *out = tokens;
    return n;
}

static void check_decode(lshim_model *m, const int32_t *prompt, int32_t n_prompt) {
    const int32_t n_vocab = (int32_t) info(m, LSHIM_INFO_N_VOCAB);
    const int32_t n_batch = (int32_t) info(m, LSHIM_INFO_N_BATCH);
    const int32_t n_seq_max = (int32_t) info(m, LSHIM_INFO_N_SEQ_MAX);
    const int32_t cap = n_prompt + 8 > n_batch + 1 ? n_prompt + 8 : n_batch + 1;
    int32_t *tok = calloc((size_t) cap, 4), *pos = calloc((size_t) cap, 4), *seq = calloc((size_t) cap, 4);
    int8_t *want = calloc((size_t) cap, 1);
    int32_t n_out = 0, rows = 0;
    float *logits = NULL;

    /* prompt: only the last token's logits */
    for (int32_t i = 0; i < n_prompt; i++) {
        tok[i] = prompt[i];
        pos[i] = i;
        seq[i] = 0;
        want[i] = i == n_prompt - 1;
    }
    CHECK_OK(lshim_decode(m, tok, pos, seq, want, n_prompt, &n_out));
    CHECK(n_out == 1, "prompt outputs %d", n_out);
    CHECK_OK(lshim_logits(m, &logits, &rows));
    CHECK(logits && rows == 1, "logits %p rows %d", (void *) logits, rows);
    if (!logits) return;
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; i++) sum += logits[i];
    CHECK(isfinite(sum), "logits not finite");
    printf("logits[0..5]: %.6f %.6f %.6f %.6f %.6f  sum %.6f\n", logits[0], logits[1], logits[2], logits[3], logits[4],
           sum);

    /* greedy extension, one token at a time */
    int32_t next = argmax(logits, n_vocab);
    printf("greedy:");
    for (int32_t step = 0; step < 4; step++) {
        printf(" %d", next);
        const int32_t p = n_prompt + step;
        int8_t yes = 1;
        CHECK_OK(lshim_decode(m, &next, &p, &seq[0], &yes, 1, &n_out));
        CHECK_OK(lshim_logits(m, &logits, &rows));
        if (!logits) return;
        next = argmax(logits, n_vocab);
    }
    printf("\n");
    int32_t pmax = -1;
    CHECK_OK(lshim_kv_seq_pos_max(m, 0, &pmax));
    CHECK(pmax == n_prompt + 3, "pos_max %d after prompt + 4", pmax);

    /* rewind to the prompt, then a block decode: 4 tokens that see each other */
    CHECK_OK(lshim_kv_seq_rm(m, 0, n_prompt, -1));
    CHECK_OK(lshim_kv_seq_pos_max(m, 0, &pmax));
    CHECK(pmax == n_prompt - 1, "pos_max %d after rewind", pmax);
    CHECK_OK(lshim_set_causal(m, 0));
    CHECK(info(m, LSHIM_INFO_CAUSAL) == 0, "causal flag not cleared");
    for (int32_t i = 0; i < 4; i++) {
        tok[i] = prompt[i % n_prompt];
        pos[i] = n_prompt + i;
        seq[i] = 0;
        want[i] = 1;
    }
    CHECK_OK(lshim_decode(m, tok, pos, seq, want, 4, &n_out));
    CHECK_OK(lshim_logits(m, &logits, &rows));
    CHECK(n_out == 4 && rows == 4, "block decode outputs %d rows %d", n_out, rows);
    CHECK_OK(lshim_set_causal(m, 1));
    CHECK_OK(lshim_kv_seq_rm(m, 0, n_prompt, -1));

    /* sharing a prefix with another sequence */
    if (n_seq_max >= 2) {
        CHECK_OK(lshim_kv_seq_cp(m, 0, 1, 0, -1));
        CHECK_OK(lshim_kv_seq_pos_max(m, 1, &pmax));
        CHECK(pmax == n_prompt - 1, "seq 1 pos_max %d after copy", pmax);
        CHECK_OK(lshim_kv_seq_rm(m, 1, -1, -1));
        CHECK_OK(lshim_kv_seq_pos_max(m, 1, &pmax));
        CHECK(pmax == -1, "seq 1 pos_max %d after removal", pmax);
    }

    /* errors come back as statuses */
    for (int32_t i = 0; i < n_batch + 1; i++) {
        tok[i] = 0;
        pos[i] = n_prompt + i;
        seq[i] = 0;
        want[i] = 0;
    }
    CHECK(lshim_decode(m, tok, pos, seq, want, n_batch + 1, &n_out) == LSHIM_E_BATCH_TOO_LARGE, "oversized batch");
    seq[0] = n_seq_max;
    CHECK(lshim_decode(m, tok, pos, seq, want, 1, &n_out) == LSHIM_E_INVALID_ARG, "bad sequence id");
    seq[0] = 0;
    tok[0] = n_vocab;
    CHECK(lshim_decode(m, tok, pos, seq, want, 1, &n_out) == LSHIM_E_INVALID_ARG, "bad token");
    tok[0] = 0;
    pos[0] = n_prompt + 5; /* a gap after the cached positions */
    const int32_t st = lshim_decode(m, tok, pos, seq, want, 1, &n_out);
    printf("gap decode: status %d: %s\n", st, st == LSHIM_OK ? "" : lshim_last_error());
    CHECK(lshim_kv_seq_rm(m, n_seq_max, 0, -1) == LSHIM_E_INVALID_ARG, "kv rm bad sequence");
    CHECK_OK(lshim_kv_clear(m));
    CHECK_OK(lshim_kv_seq_pos_max(m, 0, &pmax));
    CHECK(pmax == -1, "pos_max %d after clear", pmax);
    CHECK_OK(lshim_set_threads(m, 1, 1));
    CHECK(info(m, LSHIM_INFO_N_THREADS) == 1, "threads not set");
    free(tok);
    free(pos);
    free(seq);
    free(want);
}

int main(int argc, char **argv) {
    const char *path = NULL;
    const char *prompt = "Hello world, this is a test";
    uint32_t flags = LSHIM_LOAD_MMAP;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--vocab-only") == 0) flags |= LSHIM_LOAD_VOCAB_ONLY;
        else if (strcmp(argv[i], "--prompt") == 0 && i + 1 < argc) prompt = argv[++i];
        else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: shim-smoke <model.gguf> [--vocab-only] [--prompt TEXT]\n");
        return 2;
    }

    CHECK(lshim_abi_version() == LSHIM_ABI_VERSION, "abi version %d", lshim_abi_version());
    CHECK_OK(lshim_sizeof_check((int32_t) sizeof(void *), 4, 4, 4, 4));
    CHECK(lshim_sizeof_check(2, 4, 4, 4, 4) == LSHIM_E_ABI, "sizeof mismatch accepted");
    CHECK_OK(lshim_backend_init());
    if (getenv("SHIM_SMOKE_VERBOSE")) CHECK_OK(lshim_log_set_stderr_level(LSHIM_LOG_INFO));

    lshim_model *m = NULL;
    CHECK(lshim_model_load("/nonexistent.gguf", 0, 0, 0, 0, 1, flags, NULL, NULL, &m) == LSHIM_E_LOAD && !m,
          "loading a missing file");
    printf("missing file: %s\n", lshim_last_error());

    float progress = -1;
    if (lshim_model_load(path, 256, 64, 64, 2, 2, flags, on_progress, &progress, &m) != LSHIM_OK) {
        fprintf(stderr, "FAIL: load %s: %s\n", path, lshim_last_error());
        return 1;
    }
    printf("loaded %s (progress %.2f)\n", path, progress);
    printf("n_vocab %lld n_ctx_train %lld n_embd %lld n_layer %lld n_head %lld n_head_kv %lld bos %lld eos %lld eot %lld\n",
           (long long) info(m, LSHIM_INFO_N_VOCAB), (long long) info(m, LSHIM_INFO_N_CTX_TRAIN),
           (long long) info(m, LSHIM_INFO_N_EMBD), (long long) info(m, LSHIM_INFO_N_LAYER),
           (long long) info(m, LSHIM_INFO_N_HEAD), (long long) info(m, LSHIM_INFO_N_HEAD_KV),
           (long long) info(m, LSHIM_INFO_BOS), (long long) info(m, LSHIM_INFO_EOS), (long long) info(m, LSHIM_INFO_EOT));
    check_strings(m);

    int32_t *tokens = NULL;
    const int32_t n = check_tokenizer(m, prompt, &tokens);
    if (flags & LSHIM_LOAD_VOCAB_ONLY) {
        int32_t n_out = 0;
        int8_t want = 1;
        CHECK(lshim_decode(m, tokens, tokens, tokens, &want, 1, &n_out) == LSHIM_E_NO_CONTEXT, "decode without context");
    } else {
        printf("n_ctx %lld n_batch %lld n_ubatch %lld n_seq_max %lld\n", (long long) info(m, LSHIM_INFO_N_CTX),
               (long long) info(m, LSHIM_INFO_N_BATCH), (long long) info(m, LSHIM_INFO_N_UBATCH),
               (long long) info(m, LSHIM_INFO_N_SEQ_MAX));
        CHECK(progress == 1.0f, "progress ended at %f", progress);
        check_decode(m, tokens, n);
    }
    free(tokens);

    CHECK_OK(lshim_model_free(m));
    int64_t v = 0;
    CHECK(lshim_model_info(m, LSHIM_INFO_N_VOCAB, &v) == LSHIM_E_BAD_HANDLE, "use after free");
    CHECK(lshim_model_free(m) == LSHIM_E_BAD_HANDLE, "double free");

    if (g_failures) {
        fprintf(stderr, "%d check(s) failed\n", g_failures);
        return 1;
    }
    printf("OK\n");
    return 0;
}
