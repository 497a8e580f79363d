/* test_umt5.c: the umT5 encoder against transformers' UMT5EncoderModel (fp32, ids
 * padded to 512 with the attention mask, real rows kept), on the tiny random model
 * of scripts/golden/make_umt5_golden.py in three files: transformers layout f16,
 * official layout bf16 (a .pth converted by scripts/convert-pth.py) and ComfyUI
 * scaled fp8 under a container prefix. Also: the relative-position buckets against
 * the spec's table and transformers' formula, the padded+masked run against the
 * real-length run, `eval t5` end to end, and bad inputs and files. */
#include "testlib.h"

#include "cli/commands.h"
#include "models/umt5.h"
#include "pipeline/t2v.h"

#include <unistd.h>

#define GOLDEN RL_SOURCE_DIR "/tests/golden/umt5/"

static rl_backend *be;
static rl_safetensors gold;

/* A golden tensor converted to f32 (or i32 for ids) into a malloc'd buffer. */
static void *golden(const char *name, rl_dtype dt, int64_t *numel) {
    const rl_st_tensor *t = rl_st_find(&gold, name);
    if (!t) {
        printf("  golden tensor '%s' missing\n", name);
        return NULL;
    }
    rl_tensor h = rl_tensor_make(NULL, t->dtype, RL_DEVICE_CPU, t->ndim, t->shape);
    *numel = rl_tensor_numel(&h);
    void *buf = malloc((size_t)*numel * 4 + 4);
    if (dt == RL_I32 && t->dtype == RL_I32) memcpy(buf, rl_st_data(&gold, t), (size_t)*numel * 4);
    else if (rl_st_read_as(&gold, t, dt, buf) != 0) printf("  reading '%s': %s\n", name, rl_error_message());
    return buf;
}

/* Encodes golden ids with m and returns max|diff|/max|ref| against the golden context. */
static double encode_err(rl_umt5 *m, const char *ids_name, const char *ctx_name, int64_t run_len) {
    int64_t n, nref;
    int32_t *ids = golden(ids_name, RL_I32, &n);
    float *ref = golden(ctx_name, RL_F32, &nref);
    int64_t s[2] = {n, m->cfg.dim};
    float *y = malloc(sizeof(float) * (size_t)(n * m->cfg.dim));
    rl_tensor out = rl_tensor_make(y, RL_F32, RL_DEVICE_CPU, 2, s);
    double e = INFINITY;
    if (nref != n * m->cfg.dim) printf("  %s has %lld values, expected %lld\n", ctx_name, (long long)nref,
                                       (long long)(n * m->cfg.dim));
    else if (umt5_encode(m, ids, n, run_len, &out) != 0) printf("  encode: %s\n", rl_error_message());
    else e = tl_rel_err_f(y, ref, (size_t)nref);
    free(ids), free(ref), free(y);
    return e;
}

static void test_buckets(void) {
    /* spec 4: |rel| -> sub-bucket; rel > 0 adds 16 */
    static const int lo[] = {8, 12, 16, 23, 32, 46, 64, 91};
    int bad = 0;
    for (int a = 0; a <= 1000; a++) {
        int sub = a < 8 ? a : 0;
        if (a >= 8)
            for (int k = 0; k < 8; k++)
                if (a >= lo[k]) sub = 8 + k;
        int neg = umt5_relative_bucket(-a, 32, 128), pos = umt5_relative_bucket(a, 32, 128);
        if (neg != sub || pos != (a > 0 ? 16 : 0) + sub) {
            if (bad++ < 5) printf("  |rel| %d: buckets %d / %d, spec says %d / %d\n", a, neg, pos, sub, 16 + sub);
        }
    }
    EXPECT(bad == 0, "%d distances disagree with the spec's table", bad);
    int64_t n;
    int32_t *ref = golden("buckets", RL_I32, &n);
    int bad2 = 0;
    for (int64_t i = 0; ref && i < n; i++) bad2 += umt5_relative_bucket(i - 600, 32, 128) != ref[i];
    EXPECT(ref && n == 1201 && bad2 == 0, "%d of %lld buckets differ from transformers'", bad2, (long long)n);
    free(ref);
}

static void check_config(const rl_umt5_config *c, const char *file) {
    EXPECT(c->vocab == 300 && c->dim == 64 && c->dim_attn == 96 && c->heads == 4 && c->head_dim == 24 &&
               c->ffn == 96 && c->layers == 2 && c->num_buckets == 32 && c->max_distance == 128,
           "%s: config vocab %lld dim %lld attn %lld heads %lld ffn %lld layers %lld buckets %d", file,
           (long long)c->vocab, (long long)c->dim, (long long)c->dim_attn, (long long)c->heads, (long long)c->ffn,
           (long long)c->layers, c->num_buckets);
}

static void layout_case(const char *file, const char *ctx_long) {
    rl_umt5 m;
    char path[512], name[160];
    snprintf(path, sizeof path, GOLDEN "%s", file);
    if (umt5_load(&m, path, be) != 0) {
        CASE(file, 0, "load: %s", rl_error_message());
        return;
    }
    check_config(&m.cfg, file);
    double es = strcmp(ctx_long, "context_long") ? 0 : encode_err(&m, "ids_short", "context_short", 0);
    double el = encode_err(&m, "ids_long", ctx_long, 0);
    double ep = encode_err(&m, "ids_long", ctx_long, 512);
    printf("  %s: max rel err short %.2e, long %.2e, long padded to 512 + masked %.2e\n", file, es, el, ep);
    snprintf(name, sizeof name, "umt5 %s matches transformers (<= 1e-4)", file);
    CASE(name, es <= 1e-4 && el <= 1e-4 && ep <= 1e-4, "errors %.3e %.3e %.3e", es, el, ep);
    umt5_free(&m);
}

static void test_layouts(void) {
    layout_case("umt5_tiny_hf_f16.safetensors", "context_long");
    layout_case("umt5_tiny_official_bf16.safetensors", "context_long");
    layout_case("umt5_tiny_fp8_scaled.safetensors", "context_fp8_long");
}

/* Padding changes nothing for the real rows (beyond float reassociation). */
static void test_padding_equivalence(void) {
    rl_umt5 m;
    if (umt5_load(&m, GOLDEN "umt5_tiny_hf_f16.safetensors", be) != 0) {
        EXPECT(0, "load: %s", rl_error_message());
        return;
    }
    int32_t ids[7] = {5, 17, 0, 299, 42, 42, 1};
    int64_t s[2] = {7, m.cfg.dim};
    float a[7 * 64], b[7 * 64];
    rl_tensor ta = rl_tensor_make(a, RL_F32, RL_DEVICE_CPU, 2, s), tb = rl_tensor_make(b, RL_F32, RL_DEVICE_CPU, 2, s);
    EXPECT(umt5_encode(&m, ids, 7, 0, &ta) == 0, "%s", rl_error_message());
    EXPECT(umt5_encode(&m, ids, 7, 300, &tb) == 0, "%s", rl_error_message());
    double e = tl_rel_err_f(b, a, 7 * 64);
    printf("  real length vs padded to 300: %.2e\n", e);
    EXPECT(e < 1e-6, "padded run differs by %g", e);
    /* and the mask matters: the same ids with the padding unmasked would differ */
    int32_t padded[300] = {0};
    memcpy(padded, ids, sizeof ids);
    int64_t s2[2] = {300, m.cfg.dim};
    float *c = malloc(sizeof(float) * 300 * 64);
    rl_tensor tc = rl_tensor_make(c, RL_F32, RL_DEVICE_CPU, 2, s2);
    EXPECT(umt5_encode(&m, padded, 300, 0, &tc) == 0, "%s", rl_error_message());
    EXPECT(tl_rel_err_f(c, a, 7 * 64) > 1e-3, "unmasked padding changed nothing: the test would not see a bad mask");
    free(c);
    umt5_free(&m);
}

static void test_eval_cli(void) {
    char out[64];
    snprintf(out, sizeof out, "/tmp/rl_test_umt5_%d.safetensors", (int)getpid());
    char *argv[] = {"--weights", GOLDEN "umt5_tiny_official_bf16.safetensors", "--inputs",
                    GOLDEN "ids_long.safetensors", "--out", out};
    EXPECT(eval_t5(6, argv) == 0, "eval t5: %s", rl_error_message());
    rl_safetensors st;
    int64_t n;
    float *ref = golden("context_long", RL_F32, &n);
    if (rl_st_open(&st, out) == 0) {
        const rl_st_tensor *t = rl_st_find(&st, "context"), *h = rl_st_find(&st, "hidden");
        EXPECT(t && t->dtype == RL_F32 && t->ndim == 2 && t->shape[0] == 150 && t->shape[1] == 64,
               "'context' missing or not f32 [150, 64]");
        EXPECT(h && h->nbytes == (t ? t->nbytes : 0), "'hidden' missing");
        if (t && t->shape[0] * t->shape[1] == n) {
            double e = tl_rel_err_f(rl_st_data(&st, t), ref, (size_t)n);
            printf("  eval t5 (official bf16, i64 ids [150]): max rel err %.2e\n", e);
            EXPECT(e <= 1e-4, "eval t5 output rel err %g", e);
        }
        rl_st_close(&st);
    } else EXPECT(0, "output unreadable: %s", rl_error_message());
    unlink(out);
    free(ref);
}

/* Writes a copy of the hf_f16 golden model with tensor `drop` left out and, when
 * `rename_from` is given, that tensor written as `rename_to` (also under its own
 * name when keep). */
static int write_variant(const char *path, const char *drop, const char *rename_from, const char *rename_to,
                         int keep) {
    rl_safetensors st;
    if (rl_st_open(&st, GOLDEN "umt5_tiny_hf_f16.safetensors") != 0) return -1;
    rl_st_writer *w = rl_st_writer_new();
    for (int i = 0; i < st.n_tensors; i++) {
        const rl_st_tensor *t = &st.tensors[i];
        if (drop && !strcmp(t->name, drop)) continue;
        int renamed = rename_from && !strcmp(t->name, rename_from);
        if (renamed) rl_st_writer_add(w, rename_to, t->dtype, t->ndim, t->shape, rl_st_data(&st, t));
        if (!renamed || keep) rl_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, rl_st_data(&st, t));
    }
    int rc = rl_st_writer_save(w, path);
    rl_st_writer_free(w);
    rl_st_close(&st);
    return rc;
}

static void expect_load_error(const char *path, const char *needle, const char *what) {
    rl_umt5 m;
    int rc = umt5_load(&m, path, be);
    EXPECT(rc == -1 && strstr(rl_error_message(), needle), "%s: rc %d, error '%s' lacks '%s'", what, rc,
           rl_error_message(), needle);
    if (rc == 0) umt5_free(&m);
}

static void test_bad_files(void) {
    char p[64];
    snprintf(p, sizeof p, "/tmp/rl_test_umt5_bad_%d.safetensors", (int)getpid());
    expect_load_error("/nonexistent/umt5.safetensors", "/nonexistent/umt5.safetensors", "missing file");
    expect_load_error(RL_SOURCE_DIR "/tests/golden/umt5/ids_long.safetensors", "ids_long.safetensors", "not a model");
    /* a T5 v1.1 encoder: relative bias only in layer 0 */
    write_variant(p, "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", NULL, NULL, 0);
    expect_load_error(p, "not umT5", "T5 with a shared bias");
    /* a lost FFN matrix is named */
    write_variant(p, "encoder.block.1.layer.1.DenseReluDense.wo.weight", NULL, NULL, 0);
    expect_load_error(p, "blocks.1.ffn.fc2.weight", "missing tensor");
    /* the tied embedding under its other name still loads */
    write_variant(p, NULL, "shared.weight", "encoder.embed_tokens.weight", 0);
    rl_umt5 m;
    EXPECT(umt5_load(&m, p, be) == 0, "embedding as encoder.embed_tokens.weight: %s", rl_error_message());
    if (m.be) umt5_free(&m);
    /* a shape that does not fit: o of layer 1 replaced by a copy of q of layer 0 ([96, 64], not [64, 96]) */
    write_variant(p, "encoder.block.1.layer.0.SelfAttention.o.weight", "encoder.block.0.layer.0.SelfAttention.q.weight",
                  "encoder.block.1.layer.0.SelfAttention.o.weight", 1);
    expect_load_error(p, "shape", "wrong shape");
    unlink(p);
}

static void test_bad_ids(void) {
    rl_umt5 m;
    if (umt5_load(&m, GOLDEN "umt5_tiny_hf_f16.safetensors", be) != 0) {
        EXPECT(0, "load: %s", rl_error_message());
        return;
    }
    int32_t ids[513];
    for (int i = 0; i < 513; i++) ids[i] = i % 300;
    float y[64];
    int64_t s[2] = {1, 64};
    rl_tensor out = rl_tensor_make(y, RL_F32, RL_DEVICE_CPU, 2, s);
    ids[0] = 300;
    EXPECT(umt5_encode(&m, ids, 1, 0, &out) == -1 && strstr(rl_error_message(), "id 300 at position 0"),
           "id = vocab accepted: %s", rl_error_message());
    ids[0] = -3;
    EXPECT(umt5_encode(&m, ids, 1, 0, &out) == -1 && strstr(rl_error_message(), "outside"),
           "negative id accepted: %s", rl_error_message());
    EXPECT(umt5_check_ids(&m.cfg, ids + 1, 513 - 1, "x") == 0, "512 ids refused: %s", rl_error_message());
    ids[0] = 1;
    EXPECT(umt5_check_ids(&m.cfg, ids, 513, "in.safetensors") == -1 && strstr(rl_error_message(), "513"),
           "513 ids accepted: %s", rl_error_message());
    EXPECT(umt5_encode(&m, ids, 0, 0, &out) == -1, "no ids accepted");
    EXPECT(umt5_encode(&m, ids, 2, 0, &out) == -1 && strstr(rl_error_message(), "output"),
           "output of the wrong shape accepted: %s", rl_error_message());
    umt5_free(&m);

    /* eval t5 names the input file and tensor */
    char in[64], out_path[64];
    snprintf(in, sizeof in, "/tmp/rl_test_umt5_in_%d.safetensors", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/rl_test_umt5_out_%d.safetensors", (int)getpid());
    char *argv[] = {"--weights", GOLDEN "umt5_tiny_hf_f16.safetensors", "--inputs", in, "--out", out_path};
    struct { rl_dtype dt; int64_t n; int64_t bad; const char *needle; } cases[] = {
        {RL_I64, 4, 1LL << 40, "1099511627776"}, /* would wrap to a valid i32 if narrowed first */
        {RL_I32, 4, 300, "outside"},
        {RL_I32, 600, 1, "600 ids"},
        {RL_F32, 4, 1, "must be i32 or i64"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int64_t buf[600] = {0};
        for (int64_t i = 0; i < cases[c].n; i++) {
            int64_t v = i == 1 ? cases[c].bad : 7;
            if (cases[c].dt == RL_I64) buf[i] = v;
            else if (cases[c].dt == RL_I32) ((int32_t *)buf)[i] = (int32_t)v;
            else ((float *)buf)[i] = (float)v;
        }
        rl_st_writer *w = rl_st_writer_new();
        rl_st_writer_add(w, "ids", cases[c].dt, 1, &cases[c].n, buf);
        rl_st_writer_save(w, in);
        rl_st_writer_free(w);
        int rc = eval_t5(6, argv);
        EXPECT(rc == -1 && strstr(rl_error_message(), cases[c].needle) && strstr(rl_error_message(), in),
               "case %zu: rc %d, '%s'", c, rc, rl_error_message());
    }
    unlink(in);
    unlink(out_path);
}

/* make-tiny's writer: loads back with the config it was given, deterministic from
 * the seed, and encodes to rows of RMS about one (norm gains ~1). */
static void test_write_tiny(void) {
    char p1[64], p2[64];
    snprintf(p1, sizeof p1, "/tmp/rl_test_umt5_tiny1_%d.safetensors", (int)getpid());
    snprintf(p2, sizeof p2, "/tmp/rl_test_umt5_tiny2_%d.safetensors", (int)getpid());
    rl_umt5_config c = {.vocab = 500, .dim = 48, .dim_attn = 64, .heads = 2, .head_dim = 32, .ffn = 80, .layers = 3,
                        .num_buckets = 32, .max_distance = 128, .eps = 1e-6f};
    EXPECT(umt5_write_tiny(p1, &c, 5) == 0 && umt5_write_tiny(p2, &c, 5) == 0, "%s", rl_error_message());
    FILE *a = fopen(p1, "rb"), *b = fopen(p2, "rb");
    int same = a && b, x = 0, y = 0;
    while (same && x != EOF) {
        x = fgetc(a), y = fgetc(b);
        same = x == y;
    }
    if (a) fclose(a);
    if (b) fclose(b);
    EXPECT(same, "two writes with the same seed differ");
    rl_umt5 m;
    if (umt5_load(&m, p1, be) == 0) {
        rl_umt5_config *g = &m.cfg;
        EXPECT(g->vocab == 500 && g->dim == 48 && g->dim_attn == 64 && g->heads == 2 && g->ffn == 80 && g->layers == 3,
               "loaded config differs");
        int32_t ids[5] = {3, 499, 0, 17, 1};
        float y[5 * 48];
        int64_t s[2] = {5, 48};
        rl_tensor out = rl_tensor_make(y, RL_F32, RL_DEVICE_CPU, 2, s);
        EXPECT(umt5_encode(&m, ids, 5, 0, &out) == 0, "%s", rl_error_message());
        double ss = 0;
        for (int i = 0; i < 5 * 48; i++) ss += (double)y[i] * y[i];
        double rms = sqrt(ss / (5 * 48));
        EXPECT(rms > 0.5 && rms < 2.0, "output RMS %g", rms);
        umt5_free(&m);
    } else EXPECT(0, "load: %s", rl_error_message());
    c.dim_attn = 63;
    EXPECT(umt5_write_tiny(p1, &c, 5) == -1, "heads x head_dim != dim_attn accepted");
    unlink(p1), unlink(p2);
}

/* What --text-backend auto weighs: umT5-XXL's matrices at bf16 are 5.68e9 values
 * (11.36 GB; the H100 measured a 10.65 GiB text-stage peak), the tiny one's its own. */
static void test_encoder_bytes(void) {
    rl_umt5_config xxl, tiny;
    EXPECT(umt5_config_named("xxl", &xxl) == 0 && umt5_config_named("tiny", &tiny) == 0, "%s", rl_error_message());
    const size_t b = rl_text_encoder_bytes(&xxl, RL_BF16);
    const size_t want = (size_t)2 * (256384ull * 4096 + 24ull * (4ull * 4096 * 4096 + 3ull * 4096 * 10240));
    EXPECT(b == want, "umT5-XXL bf16: %zu bytes, expected %zu", b, want);
    EXPECT(rl_text_encoder_bytes(&xxl, RL_F32) == 2 * b, "f32 should be twice bf16");
    EXPECT(rl_text_encoder_bytes(&tiny, RL_BF16) < b / 100, "the tiny encoder (4096 x 4096 embedding, 2 narrow layers) is small");
}

int main(void) {
    be = rl_backend_cpu();
    if (rl_st_open(&gold, GOLDEN "umt5_golden.safetensors") != 0) {
        printf("FAIL: golden file: %s\n", rl_error_message());
        return 1;
    }
    RUN(test_buckets);
    RUN(test_layouts);
    RUN(test_padding_equivalence);
    RUN(test_eval_cli);
    RUN(test_bad_files);
    RUN(test_bad_ids);
    RUN(test_write_tiny);
    RUN(test_encoder_bytes);
    rl_st_close(&gold);
    TL_EXIT();
}
