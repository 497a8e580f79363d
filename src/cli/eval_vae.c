/* eval_vae.c: `raylight-gen eval vae-decode` and `eval vae-encode` run the Wan 2.1
 * VAE once on a tensor from a file, for checks against other implementations.
 *   vae-decode: IN holds z f32 [16, T, h, w] (normalised latents, as the DiT makes
 *               them); OUT gets video f32 [3, 4(T-1)+1, 8h, 8w] in [-1, 1].
 *   vae-encode: IN holds video f32 [3, F, H, W] (F = 4k+1, H and W multiples of 8,
 *               values in [-1, 1]); OUT gets z f32 [16, (F-1)/4+1, H/8, W/8], the
 *               normalised posterior mean.
 * These tensor names and layouts are an interface used by outside checks: keep
 * them. Errors name the file and tensor at fault. */
#include "cli/args.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "models/wan_vae.h"

#include <stdlib.h>
#include <string.h>

#define VAE_MAX_NUMEL (1LL << 32) /* 16 GiB of f32 */

typedef struct {
    const char *weights, *inputs, *out, *backend;
    int verbose, tile, plan;
    int64_t tile_size, tile_overlap;
} vae_opts;

/* Reads a 4-D f32 tensor `name` from IN into a malloc'd buffer. */
static int read_input(const char *path, const char *name, const char *layout, rl_tensor *out) {
    rl_safetensors st;
    char s[96];
    memset(out, 0, sizeof *out);
    RL_TRY(rl_st_open(&st, path));
    const rl_st_tensor *t = rl_st_find(&st, name);
    int rc = 0;
    rl_tensor h = t ? rl_tensor_make(NULL, t->dtype, RL_DEVICE_CPU, t->ndim, t->shape) : (rl_tensor){0};
    int64_t n = t ? rl_tensor_numel(&h) : 0;
    if (!t) rc = rl_error_set("%s: tensor '%s' is missing; it must hold %s", path, name, layout);
    else if (t->ndim != 4)
        rc = rl_error_set("%s: tensor '%s' is %s (%d dims) but must be %s", path, name, rl_shape_str(&h, s, sizeof s),
                          t->ndim, layout);
    else if (t->dtype != RL_F32)
        rc = rl_error_set("%s: tensor '%s' is %s but must be f32 %s", path, name, rl_dtype_name(t->dtype), layout);
    else if (n == 0) rc = rl_error_set("%s: tensor '%s' is %s: it is empty", path, name, rl_shape_str(&h, s, sizeof s));
    else if (n > VAE_MAX_NUMEL) rc = rl_error_set("%s: tensor '%s' is too large (%lld values)", path, name, (long long)n);
    float *buf = rc == 0 ? malloc((size_t)n * sizeof(float)) : NULL;
    if (rc == 0 && !buf) rc = rl_error_set("out of host memory reading '%s' from %s", name, path);
    if (rc == 0) rc = rl_st_read_as(&st, t, RL_F32, buf);
    if (rc == 0) *out = rl_tensor_make(buf, RL_F32, RL_DEVICE_CPU, 4, t->shape);
    else free(buf);
    rl_st_close(&st);
    return rc;
}

static int write_output(const char *path, const char *name, const int64_t *shape, const float *data,
                        const char *desc) {
    rl_st_writer *w = rl_st_writer_new();
    if (!w) return rl_error_set("out of memory for the writer of %s", path);
    int rc = rl_st_writer_add(w, name, RL_F32, 4, shape, data);
    if (rc == 0) rc = rl_st_writer_meta(w, "model", desc);
    if (rc == 0) rc = rl_st_writer_save(w, path);
    rl_st_writer_free(w);
    return rc;
}

static void report(const rl_wan_vae *v, const rl_vae_stats *s, const char *what) {
    char a[32], c[32], f[32], t[32], wb[32];
    rl_log(RL_LOG_VERBOSE, "%s: %.2f s%s; peak working memory %s (activations %s, causal caches %s, latents %s), "
           "weights %s\n", what, s->seconds, s->tiles > 1 ? " (tiled)" : "",
           rl_bytes_str(s->act_peak + s->cache_bytes + s->fixed_bytes, t, sizeof t), rl_bytes_str(s->act_peak, a, sizeof a),
           rl_bytes_str(s->cache_bytes, c, sizeof c), rl_bytes_str(s->fixed_bytes, f, sizeof f),
           rl_bytes_str(v->weight_bytes, wb, sizeof wb));
    if (s->tiles > 1) rl_log(RL_LOG_VERBOSE, "%d tiles\n", s->tiles);
}

/* Parses the shared flags; returns 1 after --help, 0 to go on, -1 on error. */
static int parse(int argc, char **argv, vae_opts *o, int decode) {
    memset(o, 0, sizeof *o);
    const char *cmd = decode ? "eval vae-decode" : "eval vae-encode";
    rl_opt opts[] = {
        {"--weights", NULL, NULL, RL_OPT_STR, &o->weights, NULL, "FILE",
         "Wan 2.1 VAE .safetensors (official names as converted from Wan2.1_VAE.pth, ComfyUI, or diffusers)", 0, 0, 0},
        {"--inputs", NULL, NULL, RL_OPT_STR, &o->inputs, NULL, "FILE",
         decode ? ".safetensors with z f32 [16,T,h,w] (normalised latents)"
                : ".safetensors with video f32 [3,F,H,W], F = 4k+1, H and W multiples of 8", 0, 0, 0},
        {"--out", "-o", NULL, RL_OPT_STR, &o->out, NULL, "FILE",
         decode ? "output .safetensors (video f32 [3,4(T-1)+1,8h,8w] in [-1,1])"
                : "output .safetensors (z f32 [16,(F-1)/4+1,H/8,W/8], normalised mean)", 0, 0, 0},
        {"--backend", NULL, "RAYLIGHT_BACKEND", RL_OPT_STR, &o->backend, "cpu", "NAME", "cpu or cuda", 0, 0, 0},
        {"--verbose", "-v", NULL, RL_OPT_FLAG, &o->verbose, NULL, NULL,
         "print the model, time and peak working memory", 0, 0, 0},
        {"--vae-tile", NULL, "RAYLIGHT_VAE_TILE", RL_OPT_FLAG, &o->tile, NULL, NULL,
         "decode in overlapping spatial tiles blended across the seams (less memory; not exact, see docs/vae.md)",
         0, 0, 0},
        {"--vae-tile-size", NULL, NULL, RL_OPT_INT, &o->tile_size, "32", "N", "tile edge in latent pixels (8 px each)",
         2, 4096, 0},
        {"--vae-tile-overlap", NULL, NULL, RL_OPT_INT, &o->tile_overlap, "8", "N",
         "latent pixels shared by neighbouring tiles", 0, 4096, 0},
        {"--plan", NULL, NULL, RL_OPT_FLAG, &o->plan, NULL, NULL,
         "print the memory the decode would use and stop (needs no --out)", 0, 0, 0},
    };
    rl_args a = {cmd, decode ? "eval vae-decode --weights W --inputs IN --out OUT [--backend cpu|cuda] [--vae-tile] "
                               "[--verbose]"
                             : "eval vae-encode --weights W --inputs IN --out OUT [--backend cpu|cuda] [--verbose]",
                 decode ? "Decodes normalised latents z with the Wan 2.1 VAE into video frames in [-1, 1]."
                        : "Encodes video frames in [-1, 1] with the Wan 2.1 VAE into normalised latents (the mean).",
                 opts, decode ? 9 : 5, 0, 0, NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    free(a.positional);
    if (a.help) return 1;
    if (!o->weights) return rl_error_set("%s: --weights FILE.safetensors is required", cmd);
    if (!o->inputs) return rl_error_set("%s: --inputs FILE.safetensors is required", cmd);
    if (!o->out && !o->plan) return rl_error_set("%s: --out FILE.safetensors is required", cmd);
    if (o->tile && o->tile_overlap >= o->tile_size)
        return rl_error_set("%s: --vae-tile-overlap %lld must be smaller than --vae-tile-size %lld", cmd,
                            (long long)o->tile_overlap, (long long)o->tile_size);
    if (o->verbose && rl_log_level() < RL_LOG_VERBOSE) rl_log_set_level(RL_LOG_VERBOSE);
    return 0;
}

int eval_vae_decode(int argc, char **argv) {
    vae_opts o;
    int p = parse(argc, argv, &o, 1);
    if (p != 0) return p > 0 ? 0 : -1;
    rl_backend *be = rl_backend_by_name(o.backend);
    if (!be) return -1;
    rl_tensor z;
    char s[96], desc[256];
    RL_TRY(read_input(o.inputs, "z", "f32 [16, T, h, w] (normalised latents)", &z));
    int rc = 0;
    if (z.shape[0] != 16)
        rc = rl_error_set("%s: tensor 'z' is %s: its %lld channels must be 16, the Wan VAE's latent channels",
                          o.inputs, rl_shape_str(&z, s, sizeof s), (long long)z.shape[0]);
    rl_wan_vae v;
    memset(&v, 0, sizeof v);
    if (rc == 0) rc = wan_vae_load(&v, o.weights, be, RL_VAE_DECODER);
    if (rc == 0) rl_log(RL_LOG_VERBOSE, "%s\n", wan_vae_describe(&v, desc, sizeof desc));
    int64_t T = z.shape[1], h = z.shape[2], w = z.shape[3], vs[4] = {3, 4 * (T - 1) + 1, 8 * h, 8 * w};
    rl_vae_tiling tl = {o.tile ? (int)o.tile_size : 0, (int)o.tile_overlap};
    rl_vae_stats st;
    if (rc == 0 && o.plan) {
        char a[32], c[32], f[32], t[32], wb[32];
        if ((rc = wan_vae_decode_plan(&v, T, h, w, &tl, &st)) == 0)
            printf("decode plan for z [16, %lld, %lld, %lld] -> video [3, %lld, %lld, %lld]%s: working memory %s "
                   "(activations %s, causal caches %s, latents %s) in %d tile%s; weights %s\n", (long long)T,
                   (long long)h, (long long)w, (long long)vs[1], (long long)vs[2], (long long)vs[3],
                   st.tiles > 1 ? " tiled" : "", rl_bytes_str(st.act_peak + st.cache_bytes + st.fixed_bytes, t, sizeof t),
                   rl_bytes_str(st.act_peak, a, sizeof a), rl_bytes_str(st.cache_bytes, c, sizeof c),
                   rl_bytes_str(st.fixed_bytes, f, sizeof f), st.tiles, st.tiles == 1 ? "" : "s",
                   rl_bytes_str(v.weight_bytes, wb, sizeof wb));
        free(z.data);
        wan_vae_free(&v);
        return rc;
    }
    float *video = NULL;
    if (rc == 0 && (double)vs[1] * (double)vs[2] * (double)vs[3] * 3 > (double)VAE_MAX_NUMEL)
        rc = rl_error_set("%s: tensor 'z' is %s: its video would be too large", o.inputs, rl_shape_str(&z, s, sizeof s));
    if (rc == 0 && !(video = malloc(sizeof(float) * (size_t)(vs[0] * vs[1] * vs[2] * vs[3]))))
        rc = rl_error_set("out of host memory for the decoded video of %s", o.inputs);
    if (rc == 0 && (rc = wan_vae_decode(&v, z.data, T, h, w, video, &tl, &st)) != 0)
        rl_error_wrap("%s, tensor 'z'", o.inputs);
    if (rc == 0) report(&v, &st, "decode");
    if (rc == 0) rc = write_output(o.out, "video", vs, video, desc);
    free(video);
    free(z.data);
    wan_vae_free(&v);
    return rc;
}

int eval_vae_encode(int argc, char **argv) {
    vae_opts o;
    int p = parse(argc, argv, &o, 0);
    if (p != 0) return p > 0 ? 0 : -1;
    rl_backend *be = rl_backend_by_name(o.backend);
    if (!be) return -1;
    rl_tensor x;
    char s[96], desc[256];
    RL_TRY(read_input(o.inputs, "video", "f32 [3, F, H, W] (F = 4k+1, H and W multiples of 8)", &x));
    int64_t F = x.shape[1], H = x.shape[2], W = x.shape[3];
    int rc = 0;
    if (x.shape[0] != 3)
        rc = rl_error_set("%s: tensor 'video' is %s: it must have 3 channels (RGB)", o.inputs,
                          rl_shape_str(&x, s, sizeof s));
    else if ((F - 1) % 4)
        rc = rl_error_set("%s: tensor 'video' is %s: its %lld frames are not 4k+1 (the VAE encodes 1, then 4 at a "
                          "time); use %lld or %lld frames", o.inputs, rl_shape_str(&x, s, sizeof s), (long long)F,
                          (long long)((F - 1) / 4 * 4 + 1), (long long)((F - 1) / 4 * 4 + 5));
    else if (H % 8 || W % 8)
        rc = rl_error_set("%s: tensor 'video' is %s: height %lld and width %lld must be multiples of 8", o.inputs,
                          rl_shape_str(&x, s, sizeof s), (long long)H, (long long)W);
    rl_wan_vae v;
    memset(&v, 0, sizeof v);
    if (rc == 0) rc = wan_vae_load(&v, o.weights, be, RL_VAE_ENCODER);
    if (rc == 0) rl_log(RL_LOG_VERBOSE, "%s\n", wan_vae_describe(&v, desc, sizeof desc));
    int64_t zs[4] = {16, (F - 1) / 4 + 1, H / 8, W / 8};
    float *z = NULL;
    if (rc == 0 && !(z = malloc(sizeof(float) * (size_t)(zs[0] * zs[1] * zs[2] * zs[3]))))
        rc = rl_error_set("out of host memory for the latents of %s", o.inputs);
    rl_vae_stats st;
    if (rc == 0 && (rc = wan_vae_encode(&v, x.data, F, H, W, z, &st)) != 0) rl_error_wrap("%s, tensor 'video'", o.inputs);
    if (rc == 0) report(&v, &st, "encode");
    if (rc == 0) rc = write_output(o.out, "z", zs, z, desc);
    free(z);
    free(x.data);
    wan_vae_free(&v);
    return rc;
}
