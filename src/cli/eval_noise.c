/* eval_noise.c: `raylight-gen eval noise --seed N --shape 1,16,T,h,w --out F.safetensors`
 * writes tensor `noise` (f32, the given shape) = torch.randn(shape,
 * generator=torch.manual_seed(N)) on the CPU, bit for bit, for checks by other
 * tools. --seed -1 draws a random seed and prints it. Returns 0, or -1 with an
 * error naming the flag. */
#include "cli/args.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "sampler/noise.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define NOISE_MAX_NUMEL (1LL << 31) /* 8 GiB of f32: far beyond any latent */

/* "1,16,21,60,104" -> shape; 1..RL_MAX_DIMS positive integers. */
static int parse_shape(const char *text, int64_t *shape, int *ndim, int64_t *numel)
{
    const char *p = text;
    *ndim = 0;
    *numel = 1;
    if (!text || !*text) return rl_error_set("--shape is required, e.g. --shape 1,16,21,60,104");
    for (;;) {
        if (*ndim == RL_MAX_DIMS)
            return rl_error_set("--shape '%s' has more than %d dimensions", text, RL_MAX_DIMS);
        if (*p < '0' || *p > '9')
            return rl_error_set("--shape '%s' is not a comma-separated list of positive integers", text);
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno || d < 1 || d > NOISE_MAX_NUMEL)
            return rl_error_set("--shape '%s': dimension %d must be a positive integer", text, *ndim);
        shape[(*ndim)++] = d;
        if (*numel > NOISE_MAX_NUMEL / d)
            return rl_error_set("--shape '%s' has more than %lld elements", text, (long long)NOISE_MAX_NUMEL);
        *numel *= d;
        if (*end == '\0') return 0;
        if (*end != ',') return rl_error_set("--shape '%s' is not a comma-separated list of positive integers", text);
        p = end + 1;
    }
}

int eval_noise(int argc, char **argv)
{
    const char *seed_text = NULL, *shape_text = NULL, *out = NULL;
    rl_opt opts[] = {
        {"--seed", NULL, NULL, RL_OPT_STR, &seed_text, "0", "N",
         "0..2^64-1 as torch.manual_seed takes it (only the low 32 bits matter); -1 = random, printed", 0, 0, 0},
        {"--shape", NULL, NULL, RL_OPT_STR, &shape_text, NULL, "D0,D1,...",
         "tensor shape, e.g. 1,16,21,60,104 for 832x480, 81 frames", 0, 0, 0},
        {"--out", "-o", NULL, RL_OPT_STR, &out, NULL, "FILE", "output .safetensors (tensor 'noise', f32)", 0, 0, 0},
    };
    rl_args a = {"eval noise", "eval noise --seed N --shape 1,16,T,h,w --out FILE.safetensors",
                 "Writes torch.randn(shape, generator=torch.manual_seed(N)) (CPU, float32), bit for bit.",
                 opts, 3, 0, 0, NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    free(a.positional);
    if (a.help) return 0;
    if (!out) return rl_error_set("eval noise: --out FILE.safetensors is required");
    uint64_t seed;
    int is_random = 0;
    int64_t shape[RL_MAX_DIMS], numel;
    int ndim;
    RL_TRY(rl_seed_parse(seed_text, &seed, &is_random));
    RL_TRY(parse_shape(shape_text, shape, &ndim, &numel));
    if (is_random) fprintf(stderr, "raylight-gen: random seed %" PRIu64 "\n", seed);

    float *data = malloc(sizeof(float) * (size_t)numel);
    if (!data) return rl_error_set("eval noise: out of memory for %lld values", (long long)numel);
    int rc = rl_randn_torch(data, numel, seed);
    rl_st_writer *w = rc == 0 ? rl_st_writer_new() : NULL;
    if (rc == 0 && !w) rc = rl_error_set("eval noise: out of memory for the writer");
    char seed_str[32];
    snprintf(seed_str, sizeof seed_str, "%" PRIu64, seed);
    if (rc == 0) rc = rl_st_writer_add(w, "noise", RL_F32, ndim, shape, data);
    free(data);
    if (rc == 0) rc = rl_st_writer_meta(w, "seed", seed_str);
    if (rc == 0) rc = rl_st_writer_meta(w, "generator", "torch.randn(shape, generator=torch.manual_seed(seed)), cpu, float32");
    if (rc == 0) rc = rl_st_writer_save(w, out);
    rl_st_writer_free(w);
    return rc;
}
