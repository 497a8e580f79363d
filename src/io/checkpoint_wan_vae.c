/* checkpoint_wan_vae.c: Wan 2.1 VAE key layouts (official .pth converted,
 * ComfyUI, diffusers AutoencoderKLWan). */
#include "io/checkpoint.h"

#include <string.h>

int rl_wan_vae_detect_layout(const rl_safetensors *st, const char *prefix, rl_layout *layout) {
    if (rl_checkpoint_has(st, prefix, "decoder.conv1.weight") && rl_checkpoint_has(st, prefix, "conv2.weight")) {
        *layout = RL_LAYOUT_OFFICIAL;
        return 1;
    }
    if (rl_checkpoint_has(st, prefix, "decoder.conv_in.weight") && rl_checkpoint_has(st, prefix, "post_quant_conv.weight")) {
        *layout = RL_LAYOUT_DIFFUSERS;
        return 1;
    }
    return 0;
}

int rl_wan_vae_name(rl_layout layout, const char *canonical, char *buf, size_t n) {
    if (layout == RL_LAYOUT_OFFICIAL || layout == RL_LAYOUT_COMFYUI) {
        snprintf(buf, n, "%s", canonical);
        return 0;
    }
    return -1; /* diffusers names: see the VAE work */
}
