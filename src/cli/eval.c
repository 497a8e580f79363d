/* eval.c: `raylight-gen eval TARGET ...` runs one module on inputs read from a
 * safetensors file and writes its outputs, for checks against other
 * implementations. Each target lives in eval_<target>.c. */
#include "cli/commands.h"
#include "raylight.h"

#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} eval_target;

static const eval_target targets[] = {
    {"noise", eval_noise, "torch.randn(shape) for a seed, bit for bit (CPU generator)"},
    {"t5", eval_t5, "the umT5 text encoder once: ids (or a prompt) -> context [L, dim]"},
    {"dit", eval_dit, "the Wan 2.1 DiT once: x, t, context from a file -> y"},
    {"vae-decode", eval_vae_decode, "the Wan 2.1 VAE decoder: z [16,T,h,w] -> video [3,4(T-1)+1,8h,8w]"},
    {"vae-encode", eval_vae_encode, "the Wan 2.1 VAE encoder: video [3,F,H,W] -> z [16,(F-1)/4+1,H/8,W/8]"},
};

int cmd_eval(int argc, char **argv) {
    size_t n = sizeof targets / sizeof *targets;
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        printf("usage: raylight-gen eval TARGET [options]\n\ntargets:\n");
        for (size_t i = 0; i < n; i++) printf("  %-12s %s\n", targets[i].name, targets[i].summary);
        return 0;
    }
    if (argc < 1) {
        char names[256] = "";
        for (size_t i = 0; i < n; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", targets[i].name);
        return rl_error_set("eval needs a target: one of %s", names);
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(argv[0], targets[i].name)) return targets[i].run(argc - 1, argv + 1);
    return rl_error_set("eval: unknown target '%s'; see raylight-gen eval --help", argv[0]);
}
