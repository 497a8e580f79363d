/* checkpoint.h: which model a weight file holds, in which key layout, and the
 * one place where the names of every layout users download are mapped to ours.
 *
 * Our canonical names are the official Wan 2.1 module paths (blocks.N.self_attn.q.weight,
 * decoder.upsamples.3.resample.1.weight, blocks.N.attn.q.weight for umT5). A layout
 * maps a canonical name to the name inside the file; container prefixes such as
 * "model.diffusion_model." are stripped first. */
#ifndef RL_CHECKPOINT_H
#define RL_CHECKPOINT_H

#include "io/safetensors.h"

typedef enum {
    RL_MODEL_UNKNOWN = 0,
    RL_MODEL_WAN_DIT,
    RL_MODEL_UMT5,
    RL_MODEL_WAN_VAE,
} rl_model_kind;

typedef enum {
    RL_LAYOUT_OFFICIAL = 0, /* Wan2.1 repository names (also ComfyUI's repackaged files) */
    RL_LAYOUT_COMFYUI,      /* official names under a container prefix, maybe fp8 with scales */
    RL_LAYOUT_DIFFUSERS,    /* diffusers WanTransformer3DModel / AutoencoderKLWan */
    RL_LAYOUT_TRANSFORMERS, /* transformers UMT5EncoderModel (also ComfyUI's T5 files) */
} rl_layout;

typedef struct {
    rl_model_kind kind;
    rl_layout layout;
    char prefix[64];  /* stripped from every file key ("" if none) */
    int scaled_fp8;   /* ComfyUI scaled fp8: weights carry <layer>.scale_weight */
    rl_dtype weight_dtype; /* dtype of the bulk of the weights */
} rl_ckpt;

const char *rl_model_kind_name(rl_model_kind k); /* "Wan 2.1 DiT", "umT5 encoder", "Wan 2.1 VAE" */
const char *rl_layout_name(rl_layout l);         /* "official", "ComfyUI", "diffusers", "transformers" */

/* Detects model and layout from the key names; -1 with an error saying what
 * the file holds when it is none we know. */
int rl_checkpoint_detect(const rl_safetensors *st, rl_ckpt *out);

/* The file's tensor for a canonical name, or NULL when the file lacks it. */
const rl_st_tensor *rl_checkpoint_find(const rl_safetensors *st, const rl_ckpt *ck, const char *canonical);

/* 1 when the file holds prefix+name. */
int rl_checkpoint_has(const rl_safetensors *st, const char *prefix, const char *name);

/* Per-model parts of the name table (checkpoint_<model>.c). Each maps a canonical
 * name to the layout's name (without prefix) into buf; returns 0, or -1 when the
 * layout has no such tensor; the name may list alternatives "a|b", tried in order.
 * detect returns 1 when the stripped keys look like
 * the model in some layout (setting layout), else 0. */
int rl_wan_dit_detect_layout(const rl_safetensors *st, const char *prefix, rl_layout *layout);
int rl_wan_dit_name(rl_layout layout, const char *canonical, char *buf, size_t n);
int rl_umt5_detect_layout(const rl_safetensors *st, const char *prefix, rl_layout *layout);
int rl_umt5_name(rl_layout layout, const char *canonical, char *buf, size_t n);
int rl_wan_vae_detect_layout(const rl_safetensors *st, const char *prefix, rl_layout *layout);
int rl_wan_vae_name(rl_layout layout, const char *canonical, char *buf, size_t n);

#endif
