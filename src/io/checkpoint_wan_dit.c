/* checkpoint_wan_dit.c: Wan 2.1 DiT key layouts (official/ComfyUI, diffusers). */
#include "io/checkpoint.h"

#include <string.h>

int rl_wan_dit_detect_layout(const rl_safetensors *st, const char *prefix, rl_layout *layout) {
    if (rl_checkpoint_has(st, prefix, "head.modulation") && rl_checkpoint_has(st, prefix, "patch_embedding.weight")) {
        *layout = RL_LAYOUT_OFFICIAL;
        return 1;
    }
    if (rl_checkpoint_has(st, prefix, "scale_shift_table") && rl_checkpoint_has(st, prefix, "patch_embedding.weight")) {
        *layout = RL_LAYOUT_DIFFUSERS;
        return 1;
    }
    return 0;
}

int rl_wan_dit_name(rl_layout layout, const char *canonical, char *buf, size_t n) {
    if (layout == RL_LAYOUT_OFFICIAL || layout == RL_LAYOUT_COMFYUI) {
        snprintf(buf, n, "%s", canonical);
        return 0;
    }
    return -1; /* diffusers names: see the DiT work */
}
