/* checkpoint_wan_vae.c: Wan 2.1 VAE key layouts.
 *
 * Canonical names are the official wan/modules/vae.py module paths, which the
 * official .pth (converted by scripts/convert-pth.py) and ComfyUI's
 * wan_2.1_vae.safetensors both use. diffusers' AutoencoderKLWan renames them
 * (its convert_wan_vae_to_diffusers; spec §7.5); the map below is that rename.
 * The decoder's flat upsamples.N list becomes up_blocks.(N/4): three resnets and
 * one upsampler per stage, i.e. Wan 2.1's num_res_blocks = 2 (diffusers' own
 * converter assumes the same). */
#include "io/checkpoint.h"

#include <stdlib.h>
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

/* The part of a residual block's name after "<block>.": residual.{0,2,3,6} and
 * shortcut become norm1/conv1/norm2/conv2/conv_shortcut; anything else (a
 * Resample's resample.1 / time_conv) is unchanged. */
static void map_block_leaf(const char *leaf, char *buf, size_t n) {
    static const char *const pairs[][2] = {
        {"residual.0.", "norm1."}, {"residual.2.", "conv1."}, {"residual.3.", "norm2."},
        {"residual.6.", "conv2."}, {"shortcut.", "conv_shortcut."},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        size_t k = strlen(pairs[i][0]);
        if (!strncmp(leaf, pairs[i][0], k)) {
            snprintf(buf, n, "%s%s", pairs[i][1], leaf + k);
            return;
        }
    }
    snprintf(buf, n, "%s", leaf);
}

/* Parses "<digits>." at s; returns the number and sets *rest past the dot, or -1. */
static long parse_index(const char *s, const char **rest) {
    char *end;
    if (*s < '0' || *s > '9') return -1;
    long v = strtol(s, &end, 10);
    if (*end != '.' || v > 100000) return -1;
    *rest = end + 1;
    return v;
}

static int diffusers_name(const char *c, char *buf, size_t n) {
    char leaf[192];
    const char *rest;
    long i;
    if (!strncmp(c, "conv1.", 6)) return snprintf(buf, n, "quant_conv.%s", c + 6), 0;
    if (!strncmp(c, "conv2.", 6)) return snprintf(buf, n, "post_quant_conv.%s", c + 6), 0;
    const char *part = !strncmp(c, "encoder.", 8) ? "encoder" : !strncmp(c, "decoder.", 8) ? "decoder" : NULL;
    if (!part) return -1;
    const char *s = c + 8;
    if (!strncmp(s, "conv1.", 6)) return snprintf(buf, n, "%s.conv_in.%s", part, s + 6), 0;
    if (!strncmp(s, "head.0.", 7)) return snprintf(buf, n, "%s.norm_out.%s", part, s + 7), 0;
    if (!strncmp(s, "head.2.", 7)) return snprintf(buf, n, "%s.conv_out.%s", part, s + 7), 0;
    if (!strncmp(s, "middle.1.", 9)) return snprintf(buf, n, "%s.mid_block.attentions.0.%s", part, s + 9), 0;
    if (!strncmp(s, "middle.", 7) && (i = parse_index(s + 7, &rest)) >= 0) {
        if (i != 0 && i != 2) return -1;
        map_block_leaf(rest, leaf, sizeof leaf);
        return snprintf(buf, n, "%s.mid_block.resnets.%ld.%s", part, i / 2, leaf), 0;
    }
    if (!strcmp(part, "encoder") && !strncmp(s, "downsamples.", 12) && (i = parse_index(s + 12, &rest)) >= 0) {
        map_block_leaf(rest, leaf, sizeof leaf);
        return snprintf(buf, n, "encoder.down_blocks.%ld.%s", i, leaf), 0;
    }
    if (!strcmp(part, "decoder") && !strncmp(s, "upsamples.", 10) && (i = parse_index(s + 10, &rest)) >= 0) {
        if (i % 4 == 3) return snprintf(buf, n, "decoder.up_blocks.%ld.upsamplers.0.%s", i / 4, rest), 0;
        map_block_leaf(rest, leaf, sizeof leaf);
        return snprintf(buf, n, "decoder.up_blocks.%ld.resnets.%ld.%s", i / 4, i % 4, leaf), 0;
    }
    return -1;
}

int rl_wan_vae_name(rl_layout layout, const char *canonical, char *buf, size_t n) {
    if (layout == RL_LAYOUT_OFFICIAL || layout == RL_LAYOUT_COMFYUI) {
        snprintf(buf, n, "%s", canonical);
        return 0;
    }
    if (layout == RL_LAYOUT_DIFFUSERS) return diffusers_name(canonical, buf, n);
    return -1;
}
