/* cmd_bench.c: `raylight-gen bench dit|attention|vae ...`: timings on random
 * full-size weights made on the device (never shipped), printed as figures
 * (ms per forward, model TFLOP/s, peak memory); benchmarks never pass or fail.
 * Model FLOPs per DiT block: 12*L*D^2 + 4*512*D^2 + 4*L^2*D + 4*L*512*D + 4*L*D*F. */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/mem_flags.h"
#include "cli/bench_usp.h"
#include "comm/comm.h"
#include "models/wan_dit_fsdp.h"
#include "models/wan_dit_offload.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_size(const char *s, int *w, int *h) {
    char x;
    if (!s || sscanf(s, "%d%c%d", w, &x, h) != 3 || (x != 'x' && x != '*'))
        return rl_error_set("--size '%s' is not WIDTHxHEIGHT", s ? s : "");
    return 0;
}

static int alloc_random(rl_backend *be, rl_tensor *t, rl_dtype dt, int nd, const int64_t *shape, uint64_t seed) {
    *t = rl_tensor_make(NULL, dt, be->device, nd, shape);
    if (!(t->data = be->alloc(be, rl_tensor_nbytes(t)))) return -1;
    return be->fill_normal(be, t, seed, 0.0f, 1.0f);
}

static void free_tensor(rl_backend *be, rl_tensor *t) {
    if (t->data) be->free(be, t->data, rl_tensor_nbytes(t));
    t->data = NULL;
}

static double dit_flops(const rl_wan_dit_config *c, double L) {
    double D = (double)c->dim, F = (double)c->ffn_dim;
    return (double)c->num_layers *
           (12 * L * D * D + 4 * 512 * D * D + 4 * L * L * D + 4 * L * 512 * D + 4 * L * D * F);
}

/* The largest device peak over the ranks (under mpirun each rank is one GPU). */
static size_t peak_over_ranks(rl_comm *comm, size_t mine) {
    uint64_t v = mine, *all = malloc(sizeof v * (size_t)comm->size);
    size_t peak = mine;
    if (all && comm->all_gather(comm, &v, all, sizeof v) == 0)
        for (int r = 0; r < comm->size; r++) peak = all[r] > peak ? (size_t)all[r] : peak;
    free(all);
    return peak;
}

/* Under mpirun (with --fsdp) every rank runs the whole forward on its GPU; rank 0 prints. */
static int bench_dit(rl_backend *be, rl_comm *comm, const char *model, const char *size, int64_t frames, int64_t iters,
                     int64_t warmup, const rl_mem_flags *mf) {
    rl_wan_dit_config cfg;
    int W, H;
    RL_TRY(wan_dit_config_named(model, &cfg));
    RL_TRY(parse_size(size, &W, &H));
    int64_t T = (frames - 1) / 4 + 1, h = H / 8, w = W / 8, L = T * (h / 2) * (w / 2);
    rl_wan_dit m;
    rl_wan_dit_options lo;
    size_t io_bytes = (size_t)(2 * 16 * T * h * w + 512 * cfg.text_dim) * sizeof(float); /* x, y, context */
    RL_TRY(rl_mem_flags_apply(mf, be, comm, &cfg, L, io_bytes, &lo));
    double t0 = rl_time_now();
    RL_TRY(wan_dit_init_random_opts(&m, &cfg, be, 1, &lo));
    RL_TRY(be->synchronize(be));
    char wb[32], pk[32];
    rl_bytes_str(m.weight_bytes, wb, sizeof wb);
    if (comm->rank == 0)
        printf("dit %s: %s of random %s weights made in %.1f s%s\n", model, wb, rl_dtype_name(be->weight_dtype),
               rl_time_now() - t0, m.fsdp ? " (this rank's shards and the whole non-block weights)" : "");
    int64_t xs[4] = {16, T, h, w}, cs[2] = {512, cfg.text_dim};
    rl_tensor x, y, ctx;
    int rc = alloc_random(be, &x, RL_F32, 4, xs, 2);
    if (rc == 0) rc = alloc_random(be, &y, RL_F32, 4, xs, 3);
    if (rc == 0) rc = alloc_random(be, &ctx, RL_F32, 2, cs, 4);
    for (int64_t i = 0; rc == 0 && i < warmup; i++) rc = wan_dit_forward(&m, &y, &x, 999.0, &ctx);
    if (rc == 0) rc = be->synchronize(be);
    rl_mem_reset_peak(be->device);
    t0 = rl_time_now();
    for (int64_t i = 0; rc == 0 && i < iters; i++) rc = wan_dit_forward(&m, &y, &x, 999.0, &ctx);
    if (rc == 0) rc = be->synchronize(be);
    double s = (rl_time_now() - t0) / (double)iters;
    size_t peak = peak_over_ranks(comm, rl_mem_peak(be->device));
    int n_off = m.fsdp ? wan_fsdp_offload_blocks(m.fsdp) : wan_offload_blocks(m.offload);
    if (rc == 0 && comm->rank == 0)
        printf("dit %s %dx%dx%lld (%lld tokens) on %s: %.1f ms/forward, %.1f model TFLOP/s, peak %s (weights %s), "
               "activations %s, offload %d blocks (%s pinned host), fsdp %d ranks, gathers %.1f ms/forward\n", model,
               W, H, (long long)frames, (long long)L, be->name, s * 1e3, dit_flops(&cfg, (double)L) / s / 1e12,
               rl_bytes_str(peak, pk, sizeof pk), wb, rl_bytes_str(m.peak_activation_bytes, (char[32]){0}, 32), n_off,
               rl_bytes_str(rl_mem_pinned(), (char[32]){0}, 32), wan_fsdp_world(m.fsdp),
               wan_fsdp_gather_seconds(m.fsdp) * 1e3 / (double)(iters + warmup));
    free_tensor(be, &x);
    free_tensor(be, &y);
    free_tensor(be, &ctx);
    wan_dit_free(&m);
    return rc;
}

static int bench_attention(rl_backend *be, int64_t heads, int64_t tokens, int64_t d, int64_t iters, int64_t warmup) {
    int64_t s[4] = {1, tokens, heads, d};
    rl_tensor q, k, v, o;
    int rc = alloc_random(be, &q, be->act_dtype, 4, s, 1);
    if (rc == 0) rc = alloc_random(be, &k, be->act_dtype, 4, s, 2);
    if (rc == 0) rc = alloc_random(be, &v, be->act_dtype, 4, s, 3);
    if (rc == 0) rc = alloc_random(be, &o, be->act_dtype, 4, s, 4);
    float scale = 1.0f / sqrtf((float)d);
    for (int64_t i = 0; rc == 0 && i < warmup; i++) rc = be->attention(be, &o, &q, &k, &v, 0, NULL, scale, NULL);
    if (rc == 0) rc = be->synchronize(be);
    double t0 = rl_time_now();
    for (int64_t i = 0; rc == 0 && i < iters; i++) rc = be->attention(be, &o, &q, &k, &v, 0, NULL, scale, NULL);
    if (rc == 0) rc = be->synchronize(be);
    double sec = (rl_time_now() - t0) / (double)iters;
    double fl = 4.0 * (double)tokens * (double)tokens * (double)d * (double)heads;
    if (rc == 0)
        printf("attention [%lld, %lld, %lld] %s on %s: %.2f ms, %.1f TFLOP/s\n", (long long)heads, (long long)tokens,
               (long long)d, rl_dtype_name(be->act_dtype), be->name, sec * 1e3, fl / sec / 1e12);
    free_tensor(be, &q);
    free_tensor(be, &k);
    free_tensor(be, &v);
    free_tensor(be, &o);
    return rc;
}

static int bench_vae(rl_backend *be, const char *size, int64_t frames, int tile) {
    int W, H;
    RL_TRY(parse_size(size, &W, &H));
    char path[] = "/tmp/raylight-bench-vae-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return rl_error_set("bench vae: cannot create a temporary file in /tmp");
    close(fd);
    rl_wan_vae vae;
    int rc = wan_vae_write_random(path, 96, 5);
    if (rc == 0) rc = wan_vae_load(&vae, path, be, RL_VAE_DECODER);
    unlink(path);
    RL_TRY(rc);
    int64_t T = (frames - 1) / 4 + 1, h = H / 8, w = W / 8, F = 4 * (T - 1) + 1;
    float *z = malloc(sizeof(float) * (size_t)(16 * T * h * w)), *video = malloc(sizeof(float) * (size_t)(3 * F * H * W));
    if (!z || !video) rc = rl_error_set("out of host memory for the VAE benchmark");
    for (int64_t i = 0; rc == 0 && i < 16 * T * h * w; i++) z[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    rl_vae_stats st = {0};
    rl_vae_tiling tl = {tile, tile / 4};
    rl_mem_reset_peak(be->device);
    double t0 = rl_time_now();
    if (rc == 0) rc = wan_vae_decode(&vae, z, T, h, w, video, tile ? &tl : NULL, &st);
    double s = rl_time_now() - t0;
    char pk[32];
    if (rc == 0)
        printf("vae decode %dx%dx%lld on %s%s: %.2f s, peak %s\n", W, H, (long long)F, be->name,
               tile ? " (tiled)" : "", s, rl_bytes_str(rl_mem_peak(be->device), pk, sizeof pk));
    free(z);
    free(video);
    wan_vae_free(&vae);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    const char *model, *size, *backend;
    int64_t frames, iters, warmup, heads, tokens, head_dim, tile;
    rl_mem_flags mf;
    rl_bench_usp_flags uf;
    rl_opt opts[10 + RL_MEM_FLAG_ROWS + RL_BENCH_USP_ROWS] = {
        {"--model", NULL, NULL, RL_OPT_STR, &model, "14b", "SIZE", "dit: 1.3b or 14b", 0, 0, 0},
        {"--size", NULL, NULL, RL_OPT_STR, &size, "832x480", "WxH", "dit, vae: frame size", 0, 0, 0},
        {"--frames", NULL, NULL, RL_OPT_INT, &frames, "33", "N", "dit, vae: frame count (4k+1)", 1, 1001, 0},
        {"--heads", NULL, NULL, RL_OPT_INT, &heads, "40", "N", "attention: heads", 1, 1024, 0},
        {"--tokens", NULL, NULL, RL_OPT_INT, &tokens, "14040", "N", "attention: sequence length", 1, 1e7, 0},
        {"--head-dim", NULL, NULL, RL_OPT_INT, &head_dim, "128", "N", "attention: head size", 1, 256, 0},
        {"--vae-tile", NULL, NULL, RL_OPT_INT, &tile, "0", "N", "vae: tile edge in latent pixels (0 = untiled)", 0, 4096, 0},
        {"--iters", NULL, NULL, RL_OPT_INT, &iters, "3", "N", "timed iterations", 1, 1000, 0},
        {"--warmup", NULL, NULL, RL_OPT_INT, &warmup, "1", "N", "untimed iterations first", 0, 1000, 0},
        {"--backend", NULL, "RAYLIGHT_BACKEND", RL_OPT_STR, &backend, "cuda", "NAME", "cpu or cuda", 0, 0, 0},
    };
    rl_mem_flags_rows(&mf, opts + 10); /* dit: --offload-blocks, --vram-limit, --auto-plan, --fsdp */
    rl_bench_usp_rows(&uf, opts + 10 + RL_MEM_FLAG_ROWS); /* dit: --ulysses, --ring, --cfg-parallel, --comm, ... */
    rl_args a = {"bench", "bench dit|attention|vae [options]",
                 "Times one module on random full-size weights and prints figures (never pass/fail).", opts,
                 (int)(sizeof opts / sizeof *opts), 1, 1, NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    if (a.help) {
        free(a.positional);
        return 0;
    }
    char what[32];
    snprintf(what, sizeof what, "%s", a.positional[0]);
    free(a.positional);
    if (!strcmp(what, "dit")) { /* under mpirun: one GPU per rank, --fsdp over the ranks */
        rl_world world;
        RL_TRY(rl_world_init(NULL, NULL, &world));
        rl_comm *comm = rl_comm_world_host();
        if (!comm) return -1;
        rl_backend *be = rl_cli_backend(&world, backend);
        int rc = be ? rl_comm_flags_apply(&uf.comm, comm, be) : rl_error_wrap("--backend %s", backend);
        if (rc == 0 && rl_bench_usp_wanted(&uf)) /* the sliced forward under a plan (scripts/bench-usp.sh) */
            rc = rl_bench_dit_usp(be, comm, model, size, frames, iters, warmup, &mf, &uf);
        else if (rc == 0)
            rc = bench_dit(be, comm, model, size, frames, iters, warmup, &mf);
        if (rc != 0) rl_comm_abort_devices(); /* on the way out NCCL waits for no peer */
        comm->destroy(comm);
        if (rc == 0) rl_world_finalize();
        else if (world.size > 1) rl_error_wrap("rank %d", world.rank);
        return rc;
    }
    rl_backend *be = rl_backend_by_name(backend);
    if (!be) return rl_error_wrap("--backend %s", backend);
    if (!strcmp(what, "attention")) return bench_attention(be, heads, tokens, head_dim, iters, warmup);
    if (!strcmp(what, "vae")) return bench_vae(be, size, frames, (int)tile);
    return rl_error_set("bench: unknown target '%s'; use dit, attention or vae", what);
}
