/* test_umt5_prompt.c: Wan's prompt path (clean, tokenize, truncate to 512 keeping
 * </s>, encode) against the reference: for the prompts of tests/golden/umt5/prompts.txt,
 * the ids T5TokenizerFast gives with padding='max_length', truncation=True,
 * max_length=512 (every id must match) and the context transformers'
 * UMT5EncoderModel gives at 512 with the mask (<= 1e-4), on the test tokenizer of
 * tests/golden/tokenizer and a tiny encoder with its vocabulary. Also the
 * truncation rule on its own, a tokenizer larger than the encoder, and a prompt
 * that is not UTF-8. */
#include "testlib.h"

#include "models/umt5_prompt.h"

#define GOLDEN RL_SOURCE_DIR "/tests/golden/umt5/"
#define TOKENIZER RL_SOURCE_DIR "/tests/golden/tokenizer/tokenizer.json"

static rl_backend *be;

static void test_truncate(void) {
    int32_t ids[10], t1[1] = {1}, t2[2] = {7, 9};
    /* T5: "$A </s>": 8 content ids then </s>, cut to 5 -> 4 content ids + </s> */
    for (int i = 0; i < 9; i++) ids[i] = 100 + i;
    ids[8] = 1;
    EXPECT(umt5_truncate_ids(ids, 9, t1, 1, 5) == 5 && ids[3] == 103 && ids[4] == 1, "T5 truncation: %d %d",
           ids[3], ids[4]);
    /* short enough: unchanged */
    for (int i = 0; i < 9; i++) ids[i] = 100 + i;
    ids[8] = 1;
    EXPECT(umt5_truncate_ids(ids, 9, t1, 1, 512) == 9 && ids[8] == 1, "no truncation expected");
    /* "[7] $A [9]" (BERT-like): prefix kept, content cut, suffix last */
    int32_t b[8] = {7, 50, 51, 52, 53, 54, 55, 9};
    EXPECT(umt5_truncate_ids(b, 8, t2, 2, 4) == 4 && b[0] == 7 && b[1] == 50 && b[2] == 51 && b[3] == 9,
           "prefix+suffix truncation: %d %d %d %d", b[0], b[1], b[2], b[3]);
    /* an encoding that does not carry the template, or a limit below it */
    int32_t c[4] = {5, 6, 7, 8};
    EXPECT(umt5_truncate_ids(c, 4, t1, 1, 3) == -1 && strstr(rl_error_message(), "post-processor"),
           "template not found accepted: %s", rl_error_message());
    EXPECT(umt5_truncate_ids(b, 4, t2, 2, 2) == -1, "max_len <= template length accepted");
}

/* prompts.txt: hex of each prompt's UTF-8 bytes, one a line. */
static int read_prompts(char **prompts, int max) {
    FILE *f = fopen(GOLDEN "prompts.txt", "r");
    if (!f) return 0;
    static char line[65536];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        char *p = malloc(len / 2 + 1);
        for (size_t i = 0; i + 1 < len; i += 2) {
            unsigned v;
            sscanf(line + i, "%2x", &v);
            p[i / 2] = (char)v;
        }
        p[len / 2] = 0;
        prompts[n++] = p;
    }
    fclose(f);
    return n;
}

static void test_prompt_path(void) {
    rl_tokenizer *tok = NULL;
    rl_umt5 m;
    rl_safetensors gold;
    if (rl_tokenizer_load(&tok, TOKENIZER) != 0 || umt5_load(&m, GOLDEN "umt5_tiny_v3100_bf16.safetensors", be) != 0 ||
        rl_st_open(&gold, GOLDEN "umt5_prompt_golden.safetensors") != 0) {
        EXPECT(0, "setup: %s", rl_error_message());
        return;
    }
    EXPECT(umt5_check_tokenizer(&m, tok, TOKENIZER) == 0, "%s", rl_error_message());
    char *prompts[8];
    int np = read_prompts(prompts, 8);
    EXPECT(np == 3, "prompts.txt holds %d prompts", np);
    for (int k = 0; k < np; k++) {
        char name[64];
        int32_t *ids = NULL;
        int64_t n = 0;
        float *ctx = NULL;
        snprintf(name, sizeof name, "ids_%d", k);
        const rl_st_tensor *ti = rl_st_find(&gold, name);
        snprintf(name, sizeof name, "context_%d", k);
        const rl_st_tensor *tc = rl_st_find(&gold, name);
        if (!ti || !tc || umt5_encode_prompt(&m, tok, prompts[k], &ids, &n, &ctx) != 0) {
            EXPECT(0, "prompt %d: %s", k, rl_error_message());
            free(prompts[k]);
            continue;
        }
        int64_t nref = ti->shape[0];
        const int32_t *ref_ids = rl_st_data(&gold, ti);
        int same = n == nref;
        for (int64_t i = 0; same && i < n; i++) same = ids[i] == ref_ids[i];
        double e = INFINITY;
        if (same) {
            float *ref = malloc(sizeof(float) * (size_t)(n * m.cfg.dim));
            rl_st_read_as(&gold, tc, RL_F32, ref);
            e = tl_rel_err_f(ctx, ref, (size_t)(n * m.cfg.dim));
            free(ref);
        }
        printf("  prompt %d: %lld tokens (reference %lld), ids %s, context max rel err %.2e\n", k, (long long)n,
               (long long)nref, same ? "equal" : "DIFFER", e);
        snprintf(name, sizeof name, "prompt %d: ids equal and context <= 1e-4", k);
        CASE(name, same && e <= 1e-4, "%lld vs %lld ids, err %.3e", (long long)n, (long long)nref, e);
        if (n == 512) EXPECT(ids[511] == 1, "a truncated prompt must end with </s> (1), got %d", ids[511]);
        free(ids), free(ctx), free(prompts[k]);
    }
    /* a prompt that is not UTF-8 is refused, not encoded */
    int32_t *ids = NULL;
    int64_t n = 0;
    float *ctx = NULL;
    EXPECT(umt5_encode_prompt(&m, tok, "caf\xe9 au lait", &ids, &n, &ctx) == -1 && strstr(rl_error_message(), "UTF-8"),
           "Latin-1 prompt accepted: %s", rl_error_message());
    rl_st_close(&gold);
    umt5_free(&m);
    /* the same tokenizer with the 300-row encoder: not a pair */
    if (umt5_load(&m, GOLDEN "umt5_tiny_hf_f16.safetensors", be) == 0) {
        EXPECT(umt5_check_tokenizer(&m, tok, TOKENIZER) == -1 && strstr(rl_error_message(), "3100") &&
                   strstr(rl_error_message(), "300 rows"),
               "oversized tokenizer accepted: %s", rl_error_message());
        umt5_free(&m);
    }
    rl_tokenizer_free(tok);
}

int main(void) {
    be = rl_backend_cpu();
    RUN(test_truncate);
    RUN(test_prompt_path);
    TL_EXIT();
}
