/* checkpoint.c: model and layout detection over all known models, and the
 * prefix-stripping lookup. The per-model name tables live in checkpoint_<model>.c. */
#include "io/checkpoint.h"

#include <string.h>

static const char *const known_prefixes[] = {
    "", "model.diffusion_model.", "diffusion_model.", "model.", "first_stage_model.", "vae.", "text_encoders.umt5xxl.transformer.",
};

const char *rl_model_kind_name(rl_model_kind k) {
    switch (k) {
    case RL_MODEL_WAN_DIT: return "Wan 2.1 DiT";
    case RL_MODEL_UMT5: return "umT5 encoder";
    case RL_MODEL_WAN_VAE: return "Wan 2.1 VAE";
    default: return "unknown";
    }
}

const char *rl_layout_name(rl_layout l) {
    switch (l) {
    case RL_LAYOUT_OFFICIAL: return "official";
    case RL_LAYOUT_COMFYUI: return "ComfyUI";
    case RL_LAYOUT_DIFFUSERS: return "diffusers";
    case RL_LAYOUT_TRANSFORMERS: return "transformers";
    }
    return "?";
}

int rl_checkpoint_has(const rl_safetensors *st, const char *prefix, const char *name) {
    char key[320];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    return rl_st_find(st, key) != NULL;
}

static rl_dtype bulk_dtype(const rl_safetensors *st) {
    uint64_t bytes[RL_DTYPE_COUNT] = {0};
    for (int i = 0; i < st->n_tensors; i++)
        if (st->tensors[i].dtype != RL_ST_OPAQUE) bytes[st->tensors[i].dtype] += st->tensors[i].nbytes;
    int best = 0;
    for (int t = 1; t < RL_DTYPE_COUNT; t++)
        if (bytes[t] > bytes[best]) best = t;
    return (rl_dtype)best;
}

int rl_checkpoint_detect(const rl_safetensors *st, rl_ckpt *out) {
    memset(out, 0, sizeof *out);
    for (size_t p = 0; p < sizeof known_prefixes / sizeof *known_prefixes; p++) {
        const char *prefix = known_prefixes[p];
        rl_layout layout;
        rl_model_kind kind = RL_MODEL_UNKNOWN;
        if (rl_wan_dit_detect_layout(st, prefix, &layout)) kind = RL_MODEL_WAN_DIT;
        else if (rl_umt5_detect_layout(st, prefix, &layout)) kind = RL_MODEL_UMT5;
        else if (rl_wan_vae_detect_layout(st, prefix, &layout)) kind = RL_MODEL_WAN_VAE;
        if (kind == RL_MODEL_UNKNOWN) continue;
        out->kind = kind;
        out->layout = (prefix[0] && layout == RL_LAYOUT_OFFICIAL) ? RL_LAYOUT_COMFYUI : layout;
        snprintf(out->prefix, sizeof out->prefix, "%s", prefix);
        char key[256];
        snprintf(key, sizeof key, "%sscaled_fp8", prefix);
        out->scaled_fp8 = rl_st_find(st, key) != NULL;
        out->weight_dtype = bulk_dtype(st);
        return 0;
    }
    const char *first = st->n_tensors ? st->tensors[0].name : "(no tensors)";
    return rl_error_set("%s: not a checkpoint raylight-gen knows (%d tensors, the first named '%s'); expected a Wan 2.1 "
                        "DiT, a umT5-XXL encoder or a Wan 2.1 VAE in the official, ComfyUI or diffusers layout",
                        st->path, st->n_tensors, first);
}

const rl_st_tensor *rl_checkpoint_find(const rl_safetensors *st, const rl_ckpt *ck, const char *canonical) {
    char name[256], key[320];
    int r = -1;
    switch (ck->kind) {
    case RL_MODEL_WAN_DIT: r = rl_wan_dit_name(ck->layout, canonical, name, sizeof name); break;
    case RL_MODEL_UMT5: r = rl_umt5_name(ck->layout, canonical, name, sizeof name); break;
    case RL_MODEL_WAN_VAE: r = rl_wan_vae_name(ck->layout, canonical, name, sizeof name); break;
    default: break;
    }
    if (r != 0) return NULL;
    /* A layout may give alternatives "a|b" (tied tensors saved under either name). */
    for (const char *alt = name; alt;) {
        const char *bar = strchr(alt, '|');
        int len = bar ? (int)(bar - alt) : (int)strlen(alt);
        snprintf(key, sizeof key, "%s%.*s", ck->prefix, len, alt);
        const rl_st_tensor *t = rl_st_find(st, key);
        if (t) return t;
        alt = bar ? bar + 1 : NULL;
    }
    return NULL;
}
