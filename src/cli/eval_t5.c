/* eval_t5.c: `raylight-gen eval t5 --weights W --inputs IN --out OUT [--backend B]`
 * runs the umT5 encoder once. IN holds `ids` i32 or i64 [L] (1 <= L <= 512, the
 * token ids including the closing </s>); OUT gets `context` f32 [L, dim] (the name
 * eval dit reads) and the same values as `hidden` (the name issue 5 gives). These
 * names are an interface used by outside checks: keep them. With --tokenizer F
 * --prompt S instead of --inputs, the whole prompt path runs (clean, tokenize,
 * truncate to 512 keeping </s>, encode) and OUT also gets the `ids` used.
 * Errors name the file and tensor at fault. */
#include "cli/args.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "models/umt5.h"
#include "models/umt5_prompt.h"

#include <stdlib.h>
#include <string.h>

/* Reads `ids` (i32 or i64, [L] or [1, L]) of path into a malloc'd i32 array; every
 * value is range-checked as int64 before narrowing. */
static int read_ids(const char *path, int32_t **ids_out, int64_t *n_out) {
    rl_safetensors st;
    RL_TRY(rl_st_open(&st, path));
    const rl_st_tensor *t = rl_st_find(&st, "ids");
    int rc = 0;
    char s[96];
    rl_tensor h = t ? rl_tensor_make(NULL, t->dtype, RL_DEVICE_CPU, t->ndim, t->shape) : (rl_tensor){0};
    int64_t n = t ? rl_tensor_numel(&h) : 0;
    if (!t) rc = rl_error_set("%s: tensor 'ids' is missing; eval t5 needs 'ids' i32 or i64 [L]", path);
    else if (t->dtype != RL_I32 && t->dtype != RL_I64)
        rc = rl_error_set("%s: tensor 'ids' is %s but must be i32 or i64 [L]", path, rl_dtype_name(t->dtype));
    else if (!(t->ndim == 1 || (t->ndim == 2 && t->shape[0] == 1)))
        rc = rl_error_set("%s: tensor 'ids' is %s but must be [L] (one sequence)", path, rl_shape_str(&h, s, sizeof s));
    else if (n < 1 || n > RL_UMT5_MAX_TOKENS)
        rc = rl_error_set("%s: tensor 'ids' holds %lld ids; the umT5 encoder takes 1 to %d (Wan truncates to %d "
                          "including </s>)", path, (long long)n, RL_UMT5_MAX_TOKENS, RL_UMT5_MAX_TOKENS);
    int32_t *ids = rc == 0 ? malloc(sizeof(int32_t) * (size_t)n) : NULL;
    if (rc == 0 && !ids) rc = rl_error_set("out of host memory reading 'ids' from %s", path);
    const uint8_t *p = rc == 0 ? rl_st_data(&st, t) : NULL;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        int64_t v;
        if (t->dtype == RL_I64) memcpy(&v, p + 8 * i, 8);
        else {
            int32_t v32;
            memcpy(&v32, p + 4 * i, 4);
            v = v32;
        }
        if (v < 0 || v > INT32_MAX)
            rc = rl_error_set("%s: tensor 'ids' holds %lld at position %lld; token ids are >= 0 and fit in i32",
                              path, (long long)v, (long long)i);
        else ids[i] = (int32_t)v;
    }
    rl_st_close(&st);
    if (rc != 0) {
        free(ids);
        return -1;
    }
    *ids_out = ids, *n_out = n;
    return 0;
}

static int write_out(const char *out, const char *desc, const float *ctx, int64_t n, int64_t dim,
                     const int32_t *ids) {
    rl_st_writer *w = rl_st_writer_new();
    if (!w) return rl_error_set("out of memory for the writer of %s", out);
    int64_t s[2] = {n, dim};
    int rc = rl_st_writer_add(w, "context", RL_F32, 2, s, ctx);
    if (rc == 0) rc = rl_st_writer_add(w, "hidden", RL_F32, 2, s, ctx);
    if (rc == 0 && ids) rc = rl_st_writer_add(w, "ids", RL_I32, 1, &n, ids);
    if (rc == 0) rc = rl_st_writer_meta(w, "model", desc);
    if (rc == 0) rc = rl_st_writer_save(w, out);
    rl_st_writer_free(w);
    return rc;
}

/* Encodes on the device and downloads into a malloc'd [n, dim] buffer. */
static int encode_to_host(rl_umt5 *m, const int32_t *ids, int64_t n, int64_t pad_to, float **host_out) {
    rl_backend *be = m->be;
    int64_t s[2] = {n, m->cfg.dim};
    rl_tensor out = rl_tensor_make(NULL, RL_F32, be->device, 2, s);
    size_t nb = rl_tensor_nbytes(&out);
    float *host = malloc(nb);
    out.data = be->alloc(be, nb);
    int rc = host && out.data ? 0 : (host ? -1 : rl_error_set("out of host memory for the umT5 output"));
    if (rc == 0) rc = umt5_encode(m, ids, n, pad_to, &out);
    if (rc == 0) rc = be->download(be, host, out.data, nb);
    if (out.data) be->free(be, out.data, nb);
    if (rc != 0) {
        free(host);
        return -1;
    }
    *host_out = host;
    return 0;
}

int eval_t5(int argc, char **argv) {
    const char *weights = NULL, *inputs = NULL, *out = NULL, *backend = NULL, *tokenizer = NULL, *prompt = NULL;
    int64_t pad_to = 0;
    rl_opt opts[] = {
        {"--weights", NULL, NULL, RL_OPT_STR, &weights, NULL, "FILE",
         "umT5 encoder .safetensors (official converted .pth, transformers or ComfyUI layout; f32/bf16/f16/fp8)",
         0, 0, 0},
        {"--inputs", NULL, NULL, RL_OPT_STR, &inputs, NULL, "FILE",
         ".safetensors with ids i32 or i64 [L], L <= 512, including </s>", 0, 0, 0},
        {"--tokenizer", NULL, NULL, RL_OPT_STR, &tokenizer, NULL, "FILE",
         "tokenizer.json or spiece.model, with --prompt instead of --inputs", 0, 0, 0},
        {"--prompt", NULL, NULL, RL_OPT_STR, &prompt, NULL, "TEXT", "the raw prompt (cleaned as Wan cleans it)", 0, 0, 0},
        {"--out", "-o", NULL, RL_OPT_STR, &out, NULL, "FILE",
         "output .safetensors (context f32 [L, dim], also as 'hidden')", 0, 0, 0},
        {"--backend", NULL, "RAYLIGHT_BACKEND", RL_OPT_STR, &backend, "cpu", "NAME", "cpu or cuda", 0, 0, 0},
        {"--pad-to", NULL, NULL, RL_OPT_INT, &pad_to, "0", "N",
         "diagnostic: run at N tokens with the padding masked, as the reference does at 512 (0: real length; "
         "the real rows are the same)", 0, 512, 0},
    };
    rl_args a = {"eval t5", "eval t5 --weights W.safetensors (--inputs IN.safetensors | --tokenizer F --prompt TEXT) "
                 "--out OUT.safetensors [--backend cpu|cuda]",
                 "Runs the umT5 text encoder once on token ids (or a prompt) and writes the context.", opts,
                 (int)(sizeof opts / sizeof *opts), 0, 0, NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    free(a.positional);
    if (a.help) return 0;
    if (!weights) return rl_error_set("eval t5: --weights FILE.safetensors is required");
    if (!out) return rl_error_set("eval t5: --out FILE.safetensors is required");
    if (!inputs == !(tokenizer || prompt))
        return rl_error_set("eval t5: give either --inputs FILE.safetensors or --tokenizer FILE with --prompt TEXT");
    if (!inputs && (!tokenizer || !prompt))
        return rl_error_set("eval t5: --tokenizer and --prompt go together (%s is missing)",
                            tokenizer ? "--prompt" : "--tokenizer");
    rl_backend *be = rl_backend_by_name(backend);
    if (!be) return -1;
    int32_t *ids = NULL;
    int64_t n = 0;
    if (inputs) RL_TRY(read_ids(inputs, &ids, &n));
    rl_umt5 m;
    if (umt5_load(&m, weights, be) != 0) {
        free(ids);
        return -1;
    }
    char desc[160];
    umt5_describe(&m.cfg, desc, sizeof desc);
    float *ctx = NULL;
    int rc;
    if (inputs) {
        rc = umt5_check_ids(&m.cfg, ids, n, inputs);
        if (rc == 0 && pad_to > 0 && pad_to < n)
            rc = rl_error_set("eval t5: --pad-to %lld is shorter than the %lld ids in %s", (long long)pad_to,
                              (long long)n, inputs);
        if (rc == 0) rc = encode_to_host(&m, ids, n, pad_to, &ctx);
    } else {
        rl_tokenizer *tok = NULL;
        rc = rl_tokenizer_load(&tok, tokenizer);
        if (rc == 0) rc = umt5_check_tokenizer(&m, tok, tokenizer);
        if (rc == 0) rc = umt5_encode_prompt(&m, tok, prompt, &ids, &n, &ctx);
        if (tok) rl_tokenizer_free(tok);
    }
    if (rc == 0) rc = write_out(out, desc, ctx, n, m.cfg.dim, inputs ? NULL : ids);
    free(ctx);
    free(ids);
    umt5_free(&m);
    return rc;
}
