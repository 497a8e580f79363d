/* config.h: named models (configs/NAME.json): their defaults, supported sizes,
 * default negative prompt and the file names to look for in a model directory
 * (ComfyUI's and the official names). */
#ifndef RL_CONFIG_H
#define RL_CONFIG_H

#include "raylight.h"

#define RL_CFG_MAX_NAMES 16

typedef struct {
    char name[64];
    char aliases[4][64];
    int n_aliases;
    char description[160];
    char *negative_prompt;
    char sizes[8][16];
    int n_sizes;
    int64_t steps, frames;
    double cfg, shift, fps;
    char sampler[16], size[16];
    /* candidate file names per component: dit, t5, vae, tokenizer */
    char files[4][RL_CFG_MAX_NAMES][160];
    int n_files[4];
    /* --random-weights: the DiT size, umT5 size and VAE base width to make ("" when
     * the config has no "random" entry), from {"random": {"dit", "t5", "vae"}} */
    char random[3][16];
    char search_dirs[RL_CFG_MAX_NAMES][64];
    int n_search_dirs;
    char path[4096]; /* the json this came from */
} rl_model_config;

enum { RL_COMPONENT_DIT = 0, RL_COMPONENT_T5, RL_COMPONENT_VAE, RL_COMPONENT_TOKENIZER };
extern const char *const rl_component_names[4]; /* "dit", "t5", "vae", "tokenizer" */

/* The configs directory: $RAYLIGHT_CONFIGS, else <exe>/../configs, else the
 * source tree's configs/ (compiled in). */
const char *rl_config_dir(void);
/* Loads the config named name (file stem or alias); an unknown name is an error
 * listing the known ones. */
int rl_config_load(const char *name, rl_model_config *out);
void rl_config_free(rl_model_config *c);
/* Finds component c's file under model_dir (each search dir x each candidate
 * name); the error names the flag to give and every path looked at. */
int rl_config_find_file(const rl_model_config *c, int component, const char *model_dir, char *out, size_t n);

#endif
