/* checkpoint_wan_dit.c: Wan 2.1 DiT key layouts.
 *
 * Canonical names are the official module paths (wan/modules/model.py); ComfyUI's
 * repackaged files use them too, under a container prefix stripped by checkpoint.c.
 * diffusers' WanTransformer3DModel renames most modules (its
 * convert_wan_transformer_to_diffusers, spec §7.3); the table below is that
 * renaming written per component rather than as chained substring replacements,
 * so one canonical name maps to exactly one diffusers name. Note the swap: the
 * official affine cross-attention norm `norm3` is diffusers' `norm2`. */
#include "io/checkpoint.h"

#include <stdlib.h>
#include <string.h>

int rl_wan_dit_detect_layout(const rl_safetensors *st, const char *prefix, rl_layout *layout) {
    if (rl_checkpoint_has(st, prefix, "head.modulation") && rl_checkpoint_has(st, prefix, "patch_embedding.weight")) {
        *layout = RL_LAYOUT_OFFICIAL;
        return 1;
    }
    if (rl_checkpoint_has(st, prefix, "scale_shift_table") && rl_checkpoint_has(st, prefix, "patch_embedding.weight") &&
        rl_checkpoint_has(st, prefix, "proj_out.weight")) {
        *layout = RL_LAYOUT_DIFFUSERS;
        return 1;
    }
    return 0;
}

typedef struct {
    const char *official, *diffusers;
} name_pair;

/* Module paths outside the blocks (a name matches a whole dotted component). */
static const name_pair top_names[] = {
    {"patch_embedding", "patch_embedding"},
    {"time_embedding.0", "condition_embedder.time_embedder.linear_1"},
    {"time_embedding.2", "condition_embedder.time_embedder.linear_2"},
    {"time_projection.1", "condition_embedder.time_proj"},
    {"text_embedding.0", "condition_embedder.text_embedder.linear_1"},
    {"text_embedding.2", "condition_embedder.text_embedder.linear_2"},
    {"head.modulation", "scale_shift_table"},
    {"head.head", "proj_out"},
    {"img_emb.proj.0", "condition_embedder.image_embedder.norm1"},
    {"img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj"},
    {"img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2"},
    {"img_emb.proj.4", "condition_embedder.image_embedder.norm2"},
    {"img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"},
};

/* Module paths inside blocks.N. */
static const name_pair block_names[] = {
    {"modulation", "scale_shift_table"},
    {"self_attn.q", "attn1.to_q"},
    {"self_attn.k", "attn1.to_k"},
    {"self_attn.v", "attn1.to_v"},
    {"self_attn.o", "attn1.to_out.0"},
    {"self_attn.norm_q", "attn1.norm_q"},
    {"self_attn.norm_k", "attn1.norm_k"},
    {"cross_attn.q", "attn2.to_q"},
    {"cross_attn.k", "attn2.to_k"},
    {"cross_attn.v", "attn2.to_v"},
    {"cross_attn.o", "attn2.to_out.0"},
    {"cross_attn.norm_q", "attn2.norm_q"},
    {"cross_attn.norm_k", "attn2.norm_k"},
    {"cross_attn.k_img", "attn2.add_k_proj"},
    {"cross_attn.v_img", "attn2.add_v_proj"},
    {"cross_attn.norm_k_img", "attn2.norm_added_k"},
    {"norm3", "norm2"}, /* affine LayerNorm before cross-attention */
    {"ffn.0", "ffn.net.0.proj"},
    {"ffn.2", "ffn.net.2"},
};

/* When name is `module` or `module.<rest>`, writes out_module + rest into buf. */
static int map_component(const name_pair *tab, size_t n, const char *lead, const char *name, char *buf,
                         size_t bufn) {
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(tab[i].official);
        if (strncmp(name, tab[i].official, len) != 0 || (name[len] != '\0' && name[len] != '.')) continue;
        int w = snprintf(buf, bufn, "%s%s%s", lead, tab[i].diffusers, name + len);
        return (w < 0 || (size_t)w >= bufn) ? -1 : 0;
    }
    return -1;
}

int rl_wan_dit_name(rl_layout layout, const char *canonical, char *buf, size_t n) {
    if (layout == RL_LAYOUT_OFFICIAL || layout == RL_LAYOUT_COMFYUI) {
        int w = snprintf(buf, n, "%s", canonical);
        return (w < 0 || (size_t)w >= n) ? -1 : 0;
    }
    if (layout != RL_LAYOUT_DIFFUSERS) return -1;
    if (strncmp(canonical, "blocks.", 7) == 0) {
        const char *p = canonical + 7;
        char *end = NULL;
        long idx = strtol(p, &end, 10);
        if (end == p || *end != '.' || idx < 0) return -1;
        char lead[32];
        snprintf(lead, sizeof lead, "blocks.%ld.", idx);
        return map_component(block_names, sizeof block_names / sizeof *block_names, lead, end + 1, buf, n);
    }
    return map_component(top_names, sizeof top_names / sizeof *top_names, "", canonical, buf, n);
}
