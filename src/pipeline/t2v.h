/* t2v.h: text to video, the whole pipeline in stages:
 *   text   tokenizer + umT5 -> context (and the negative one); encoder freed
 *   dit    noise -> sampler loop with classifier-free guidance -> latents; DiT freed
 *   vae    latents -> frames -> MP4 / PNG (rank 0)
 * Each stage loads one model, reports its time and peak memory, and frees it
 * before the next. */
#ifndef RL_PIPELINE_T2V_H
#define RL_PIPELINE_T2V_H

#include "comm/comm.h"
#include "models/umt5.h"
#include "parallel/plan.h"
#include "raylight.h"
#include "sampler/sampler.h"

typedef struct {
    const char *dit_path, *t5_path, *vae_path, *tokenizer_path;
    const char *model_name; /* for the metadata */
    const char *prompt, *negative_prompt;
    int width, height, frames, steps;
    double cfg, shift, fps;
    int crf;
    rl_sampler_kind sampler;
    uint64_t seed;
    const char *output;       /* file or dir/; NULL with save_latents only */
    const char *save_latents; /* .safetensors with tensor "latents" f32 [16,T,h,w], or NULL */
    int vae_tile;             /* latent pixels per tile edge, 0 = untiled */
    int progress;             /* 0 quiet, 1 progress lines */
    const char *label;        /* "prompts.txt:3" for a batch line (error context), or NULL */
    rl_plan_request parallel; /* --ulysses, --ring, --cfg-parallel (all 0: automatic plan) */
    int offload_blocks;       /* --offload-blocks: DiT blocks in pinned host memory */
    int auto_plan;            /* --auto-plan: choose offload_blocks (and fsdp) under the device limit (rl_mem_limit) */
    int fsdp;                 /* --fsdp: DiT blocks and umT5 layers sharded over every rank (one rank: whole) */
    const char *text_backend; /* --text-backend: "auto" (or NULL), "cpu", or the render backend's name */
} rl_t2v_request;

enum { RL_STAGE_TEXT = 0, RL_STAGE_DIT, RL_STAGE_VAE, RL_STAGE_OUTPUT, RL_STAGE_COUNT };
extern const char *const rl_stage_names[RL_STAGE_COUNT];

typedef struct {
    double seconds[RL_STAGE_COUNT];
    size_t peak_bytes[RL_STAGE_COUNT]; /* device peak during the stage (this rank) */
    size_t host_peak_bytes[RL_STAGE_COUNT];
    size_t pinned_bytes[RL_STAGE_COUNT];   /* pinned host memory held at the stage's end (offloaded DiT blocks) */
    int offload_blocks;    /* DiT blocks streamed from host memory */
    int fsdp_ranks;        /* ranks the DiT blocks were sharded over (1: whole) */
    uint64_t bytes_read[RL_STAGE_COUNT]; /* weight-file bytes this rank read in the stage (text: umT5, dit: DiT) */
    double seconds_per_step;
    int64_t latent_shape[4];
    uint64_t latents_hash; /* FNV-1a of the final f32 latents */
    int prompt_tokens, negative_tokens;
    char plan[96];         /* "cfg 2 x ulysses 1 x ring 1 (2 ranks)" */
    double comm_seconds;   /* sequence-parallel and CFG exchanges of the sampling loop (this rank) */
    double forward_seconds; /* in DiT passes (latent rows up, forward, velocity down) of the loop; the
                               rest of it is the sampler and guidance arithmetic on the host */
    int forwards;
} rl_t2v_report;

/* "random:NAME" as a weight path (--random-weights): full-size random weights
 * made on the device instead of a file (benchmarks without the files); returns
 * NAME (a DiT size, a umT5 size, a VAE base width), or NULL for a real path. */
const char *rl_t2v_random_name(const char *path);
#define RL_RANDOM_WEIGHTS_SEED 20250225u /* the same weights on every rank and run */

/* Checks sizes, frames, steps and the output path before any model is loaded;
 * errors name the flag. */
int rl_t2v_validate(const rl_t2v_request *r);
/* The same checks without opening the weight files (for each line of a batch). */
int rl_t2v_validate_settings(const rl_t2v_request *r);
int rl_t2v_render(const rl_t2v_request *r, rl_backend *be, rl_comm *comm, rl_t2v_report *rep);
/* n requests naming the same four model files (--prompts-file): every request is
 * validated first, then the text encoder, the DiT and the VAE are each loaded
 * once (text for all, sampling for all, decode and write for all). Contexts and
 * latents of all requests wait on the host between stages. reps[i] holds request
 * i's own times and peaks (the text stage's time is shared evenly; loading the DiT
 * and the VAE counts in the first request's stage time).
 * Progress lines carry "prompt i/n" when n > 1. */
int rl_t2v_render_batch(const rl_t2v_request *reqs, int n, rl_backend *be, rl_comm *comm, rl_t2v_report *reps);

/* The text stage alone: clean, tokenize, truncate to 512 keeping </s>, encode.
 * *context is a malloc'd host f32 [*len, *dim]. */
/* texts[0..n) encoded with one load of the tokenizer and encoder; NULL entries
 * are skipped. contexts[i] is a malloc'd host f32 [lens[i], *dim] (NULL for a
 * skipped text); on failure nothing is left allocated. fsdp (NULL: whole
 * layers): the encoder's layers sharded over these ranks, which must all call
 * this with the same texts. *bytes_read (when given): encoder file bytes read. */
/* The backend the text stage runs on: be; the CPU backend for mode "cpu"; with mode
 * "auto" (or NULL) also the CPU backend when be is a GPU under a device limit
 * (--vram-limit) that cannot hold the encoder's weights (t5_path's, or a "random:"
 * size), which is logged with the sizes. NULL with an error for an unknown mode or
 * one naming another device. */
rl_backend *rl_text_backend(const char *mode, rl_backend *be, const char *t5_path);
/* The mode alone (before anything is loaded): 0, or -1 with the sentence above. */
int rl_text_backend_check(const char *mode, const rl_backend *be);
/* umT5 weights of cfg on a device at weight dtype wdt (the embedding table and every
 * layer's matrices; norms and the bias table are noise): what rl_text_backend weighs. */
size_t rl_text_encoder_bytes(const rl_umt5_config *cfg, rl_dtype wdt);
int rl_text_encode_many(const char *tokenizer_path, const char *t5_path, rl_backend *be, const char *const *texts,
                        int n, float **contexts, int64_t *lens, int64_t *dim, rl_comm *fsdp, uint64_t *bytes_read);
int rl_text_encode(const char *tokenizer_path, const char *t5_path, rl_backend *be, const char *prompt,
                   const char *negative, float **context, int64_t *len, float **neg_context, int64_t *neg_len,
                   int64_t *dim);

#endif
