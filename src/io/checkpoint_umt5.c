/* checkpoint_umt5.c: umT5-XXL encoder key layouts (official Wan .pth converted,
 * transformers UMT5EncoderModel / ComfyUI). */
#include "io/checkpoint.h"

#include <string.h>

int rl_umt5_detect_layout(const rl_safetensors *st, const char *prefix, rl_layout *layout) {
    if (rl_checkpoint_has(st, prefix, "token_embedding.weight") && rl_checkpoint_has(st, prefix, "blocks.0.attn.q.weight")) {
        *layout = RL_LAYOUT_OFFICIAL;
        return 1;
    }
    if (rl_checkpoint_has(st, prefix, "encoder.block.0.layer.0.SelfAttention.q.weight")) {
        *layout = RL_LAYOUT_TRANSFORMERS;
        return 1;
    }
    return 0;
}

int rl_umt5_name(rl_layout layout, const char *canonical, char *buf, size_t n) {
    if (layout == RL_LAYOUT_OFFICIAL || layout == RL_LAYOUT_COMFYUI) {
        snprintf(buf, n, "%s", canonical);
        return 0;
    }
    return -1; /* transformers names: see the umT5 work */
}
