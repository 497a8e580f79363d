/* cmd_info.c: `raylight-gen info FILE`: every tensor (name, dtype, shape, bytes)
 * and the checkpoint format recognised. */
#include "cli/args.h"
#include "cli/commands.h"
#include "io/checkpoint.h"
#include "models/wan_dit.h"

#include <inttypes.h>
#include <stdlib.h>

int cmd_info(int argc, char **argv) {
    int quiet = 0;
    rl_opt opts[] = {
        {"--summary", NULL, NULL, RL_OPT_FLAG, &quiet, NULL, NULL, "print only the format line and totals", 0, 0, 0},
    };
    rl_args a = {"info", "info [--summary] FILE.safetensors|FILE.safetensors.index.json",
                 "Lists the tensors of a safetensors file (or sharded checkpoint) and the checkpoint format it holds.",
                 opts, 1, 1, 1, NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    if (a.help) return 0;
    rl_safetensors st;
    int rc = rl_st_open(&st, a.positional[0]);
    free(a.positional);
    if (rc != 0) return -1;
    uint64_t total = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const rl_st_tensor *t = &st.tensors[i];
        total += t->nbytes;
        if (quiet) continue;
        char shape[96];
        rl_tensor h = rl_tensor_make(NULL, t->dtype, RL_DEVICE_CPU, t->ndim, t->shape);
        printf("%-64s %-9s %-24s %" PRIu64 "\n", t->name, t->dtype == RL_ST_OPAQUE ? t->file_dtype : rl_dtype_name(t->dtype),
               rl_shape_str(&h, shape, sizeof shape), t->nbytes);
    }
    char size[32];
    printf("%d tensors, %s in %d file%s\n", st.n_tensors, rl_bytes_str(total, size, sizeof size), st.n_files,
           st.n_files == 1 ? "" : "s");
    rl_ckpt ck;
    if (rl_checkpoint_detect(&st, &ck) == 0)
        printf("format: %s, %s layout%s%s%s, weights mostly %s%s\n", rl_model_kind_name(ck.kind),
               rl_layout_name(ck.layout), ck.prefix[0] ? " (prefix '" : "", ck.prefix,
               ck.prefix[0] ? "')" : "", rl_dtype_name(ck.weight_dtype), ck.scaled_fp8 ? " (scaled fp8)" : "");
    else printf("format: not a checkpoint raylight-gen knows\n");
    char arch[256];
    int arc = wan_dit_describe_file(&st, arch, sizeof arch);
    if (arc == 0) printf("architecture: %s\n", arch);
    else if (arc < 0) printf("architecture: not usable: %s\n", rl_error_message());
    if (st.metadata_json && !quiet) printf("metadata: %s\n", st.metadata_json);
    rl_st_close(&st);
    return 0;
}
