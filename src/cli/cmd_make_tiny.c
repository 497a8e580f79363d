/* cmd_make_tiny.c: `raylight-gen make-tiny --out DIR [--seed N]` writes small
 * random models into DIR, deterministic from the seed, so the demo and CI can
 * render end to end in seconds on a CPU. Each model adds one entry to `parts`
 * (the text-encoder, VAE and pipeline work add theirs). */
#include "cli/args.h"
#include "cli/commands.h"
#include "io/tokenizer.h"
#include "models/umt5.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *file; /* inside DIR */
    int (*write)(const char *path, uint64_t seed, int64_t text_dim);
    const char *what;
} tiny_part;

/* Heads of the tiny DiT (--heads; several heads let Ulysses run on it). */
static int64_t tiny_heads = 1;

/* Head size 128 keeps the real RoPE split (22/21/21 pairs): dim 128 per head. */
static int write_dit(const char *path, uint64_t seed, int64_t text_dim) {
    rl_wan_dit_config c;
    RL_TRY(wan_dit_config_named("tiny", &c));
    c.dim = 128 * tiny_heads, c.num_heads = tiny_heads, c.text_dim = text_dim;
    return wan_dit_write_tiny(path, &c, seed);
}

static int write_tokenizer(const char *path, uint64_t seed, int64_t text_dim) {
    int vocab = 0;
    return rl_tokenizer_write_tiny(path, &vocab);
}

static int write_vae(const char *path, uint64_t seed, int64_t text_dim) { return wan_vae_write_random(path, 16, seed); }

/* The tokenizer comes first: the text encoder sizes its vocabulary to it. */
static const tiny_part parts[] = {
    {"tokenizer.json", write_tokenizer, "unigram tokenizer with byte fallback (T5 layout)"},
    {"wan_dit_tiny.safetensors", write_dit, "Wan 2.1 DiT, official layout, f32 (dim 128 per head, --heads, 2 blocks)"},
    {"umt5_tiny.safetensors", umt5_make_tiny, "umT5 encoder, official layout, bf16 (dim = --text-dim, 2 layers)"},
    {"wan_vae_tiny.safetensors", write_vae, "Wan 2.1 VAE, official layout, f32 (base width 16)"},
};

int cmd_make_tiny(int argc, char **argv) {
    const char *out = NULL;
    int64_t seed = 0, text_dim = 4096;
    rl_opt opts[] = {
        {"--out", "-o", NULL, RL_OPT_STR, &out, NULL, "DIR", "directory to write the tiny models into (created)", 0, 0, 0},
        {"--seed", NULL, NULL, RL_OPT_INT, &seed, "0", "N", "random seed of the weights", 0, 2147483647.0, 0},
        {"--text-dim", NULL, NULL, RL_OPT_INT, &text_dim, "4096", "N",
         "width of the text features the DiT takes (the text encoder's output width)", 1, 65536, 0},
        {"--heads", NULL, NULL, RL_OPT_INT, &tiny_heads, "1", "N", "attention heads of the DiT (dim = 128 x N; 2+ for Ulysses tests)", 1, 16, 0},
    };
    rl_args a = {"make-tiny", "make-tiny --out DIR [--seed N] [--text-dim N] [--heads N]",
                 "Writes small random models (deterministic from the seed) for demos and tests.", opts, 4, 0, 0,
                 NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    free(a.positional);
    if (a.help) return 0;
    if (!out) return rl_error_set("make-tiny: --out DIR is required");
    if (mkdir(out, 0777) != 0 && errno != EEXIST)
        return rl_error_set("make-tiny: cannot create directory %s: %s", out, strerror(errno));
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", out, parts[i].file);
        if (parts[i].write(path, (uint64_t)seed, text_dim) != 0) return rl_error_wrap("make-tiny: %s", path);
        printf("%s: %s\n", path, parts[i].what);
    }
    return 0;
}
