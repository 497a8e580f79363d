/* checkpoint_umt5.c: umT5-XXL encoder key layouts.
 *
 * Canonical names are the official Wan T5Encoder module paths (the .pth converted
 * by scripts/convert-pth.py keeps them). transformers' UMT5EncoderModel and
 * ComfyUI's T5 files (umt5_xxl_fp16, umt5_xxl_fp8_e4m3fn_scaled) share the
 * "encoder.block.N.layer.M..." names; the token embedding is tied there and saved
 * as "shared.weight" or "encoder.embed_tokens.weight", so both are tried. */
#include "io/checkpoint.h"

#include <stdlib.h>
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

/* Per-block tensors: official suffix after "blocks.N." -> transformers suffix after
 * "encoder.block.N.". */
static const char *const block_names[][2] = {
    {"norm1.weight", "layer.0.layer_norm.weight"},
    {"attn.q.weight", "layer.0.SelfAttention.q.weight"},
    {"attn.k.weight", "layer.0.SelfAttention.k.weight"},
    {"attn.v.weight", "layer.0.SelfAttention.v.weight"},
    {"attn.o.weight", "layer.0.SelfAttention.o.weight"},
    {"pos_embedding.embedding.weight", "layer.0.SelfAttention.relative_attention_bias.weight"},
    {"norm2.weight", "layer.1.layer_norm.weight"},
    {"ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight"}, /* the GELU branch */
    {"ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight"},    /* the linear branch */
    {"ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight"},
};

static int transformers_name(const char *canonical, char *buf, size_t n) {
    if (!strcmp(canonical, "token_embedding.weight")) {
        snprintf(buf, n, "shared.weight|encoder.embed_tokens.weight");
        return 0;
    }
    if (!strcmp(canonical, "norm.weight")) {
        snprintf(buf, n, "encoder.final_layer_norm.weight");
        return 0;
    }
    if (strncmp(canonical, "blocks.", 7) != 0) return -1;
    char *end;
    long i = strtol(canonical + 7, &end, 10);
    if (end == canonical + 7 || *end != '.' || i < 0 || i > 100000) return -1;
    for (size_t k = 0; k < sizeof block_names / sizeof *block_names; k++)
        if (!strcmp(end + 1, block_names[k][0])) {
            snprintf(buf, n, "encoder.block.%ld.%s", i, block_names[k][1]);
            return 0;
        }
    return -1;
}

int rl_umt5_name(rl_layout layout, const char *canonical, char *buf, size_t n) {
    switch (layout) {
    case RL_LAYOUT_OFFICIAL:
    case RL_LAYOUT_COMFYUI: snprintf(buf, n, "%s", canonical); return 0;
    case RL_LAYOUT_TRANSFORMERS: return transformers_name(canonical, buf, n);
    default: return -1;
    }
}
