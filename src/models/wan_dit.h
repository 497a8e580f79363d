/* wan_dit.h: the Wan 2.1 diffusion transformer (wan/modules/model.py WanModel)
 * on the rl_backend op table.
 *
 * Conventions
 * - One call of the model is one batch element: x [in_dim, T, H, W], a scalar
 *   timestep t (0..1000), context [L, text_dim] with L <= text_len (512).
 * - Weights are loaded once by canonical (official) name from any of the three
 *   layouts (io/checkpoint.h); big matrices go to the backend's weight dtype, the
 *   fp32 islands of the reference (time MLP, modulation tables, norm gains, head)
 *   stay f32.
 * - Activations come from one arena sized up front (wan_dit_activation_bytes);
 *   the per-block scratch is released after every block, so the arena's peak is
 *   the forward's peak activation memory.
 * - The token sequence can be processed as a slice [token0, token0+n) with global
 *   RoPE positions (sequence parallelism); self-attention goes through one
 *   replaceable function, wan_self_attention.
 */
#ifndef RL_WAN_DIT_H
#define RL_WAN_DIT_H

#include "io/weights.h"
#include "raylight.h"

typedef struct {
    int64_t dim, ffn_dim, num_layers, num_heads, head_dim;
    int64_t in_dim, out_dim, text_dim, freq_dim, text_len;
    int i2v; /* image-to-video variant (img_emb, k_img/v_img); detected, not yet runnable */
    float eps;
} rl_wan_dit_config;

typedef struct {
    rl_tensor w; /* [out, in] */
    rl_tensor b; /* [out] */
} rl_wan_linear;

typedef struct {
    rl_wan_linear q, k, v, o; /* [D, D] each */
    rl_tensor norm_q;         /* [D] RMSNorm gain over the whole D (all heads) */
    rl_tensor norm_k;         /* [D] */
} rl_wan_attention;

typedef struct {
    rl_tensor modulation;       /* [6, D] f32: shift, scale, gate (attn); shift, scale, gate (ffn) */
    rl_wan_attention self_attn;
    rl_tensor norm3_w, norm3_b; /* [D] f32: affine LayerNorm before cross-attention */
    rl_wan_attention cross_attn;
    rl_wan_linear ffn1;         /* [F, D] */
    rl_wan_linear ffn2;         /* [D, F] */
} rl_wan_block;

/* Self-attention over the whole sequence for this rank's queries: q, k, v are
 * [1, n, H, d] (this rank's tokens, RoPE applied), out [1, n, H, d]; keys at
 * global positions >= kv_len are padding. One process: plain attention. A
 * sequence-parallel layer installs its own (Ulysses / ring) with its context. */
typedef int (*rl_wan_self_attention_fn)(void *ctx, rl_backend *be, rl_tensor *out, const rl_tensor *q,
                                        const rl_tensor *k, const rl_tensor *v, int64_t kv_len);

/* Block swap state (models/wan_dit_offload.h). */
typedef struct rl_wan_offload rl_wan_offload;
/* Sharded blocks (models/wan_dit_fsdp.h) and the ranks they are sharded over (comm/comm.h). */
typedef struct rl_wan_fsdp rl_wan_fsdp;
typedef struct rl_comm rl_comm;

/* Loading choices; a NULL pointer means the defaults (everything resident). */
typedef struct {
    int offload_blocks; /* blocks kept in pinned host memory and streamed in (--offload-blocks) */
    int offload_slots;  /* device slots they rotate through (0 = 2) */
    rl_comm *fsdp;      /* --fsdp: every block sharded over these ranks (NULL or one rank: whole blocks);
                         * with offload_blocks, those blocks' shards live in pinned host memory */
} rl_wan_dit_options;

typedef struct {
    rl_wan_dit_config cfg;
    rl_backend *be;
    rl_wan_linear patch;        /* w [D, in_dim*4] (Conv3d 1x2x2 as a matmul over c*4+kh*2+kw), b [D] */
    rl_wan_linear text1, text2; /* [D, text_dim], [D, D] */
    rl_wan_linear time1, time2; /* [D, freq_dim], [D, D] f32 */
    rl_wan_linear time_proj;    /* [6D, D] f32 */
    rl_tensor head_modulation;  /* [2, D] f32: shift, scale */
    rl_wan_linear head;         /* [out_dim*4, D] f32 */
    rl_wan_block *blocks;       /* [num_layers] */
    size_t weight_bytes;        /* on the device (offloaded blocks not counted) */
    rl_wan_offload *offload;    /* NULL: every block resident */
    rl_wan_fsdp *fsdp;          /* NULL: blocks whole; else every block is a shard, gathered before use */
    uint64_t file_bytes_read;   /* bytes this rank read from the weight file (0 for random weights) */
    rl_wan_self_attention_fn self_attention; /* NULL = wan_self_attention_local */
    void *self_attention_ctx;
    size_t peak_activation_bytes; /* of the last forward */
    void *act_buf;                /* the activation arena's storage, kept across forwards (act_cap bytes) */
    size_t act_cap;
} rl_wan_dit;

/* Architecture from tensor shapes of an opened Wan DiT checkpoint; -1 with an
 * error naming the file and what was found when it is not a Wan 2.1 DiT. The
 * head size is 128 (every released model) unless the file's metadata carries
 * "raylight_head_dim" (tiny test models). */
int wan_dit_detect_config(const rl_weights *w, rl_wan_dit_config *cfg);
/* One line: "Wan 2.1 DiT t2v 1.3B: dim 1536, 30 blocks, 12 heads, ffn 8960, text 4096". */
void wan_dit_describe(const rl_wan_dit_config *cfg, char *buf, size_t n);
/* For `info`: describes the file at path when it is a Wan DiT; 1 when it is
 * not one (buf untouched), 0 on success, -1 on a broken DiT file. */
int wan_dit_describe_file(const rl_safetensors *st, char *buf, size_t n);

/* Opens path, checks it is a Wan 2.1 DiT in one layout, detects the config and
 * loads every weight onto be. */
int wan_dit_load(rl_wan_dit *m, const char *path, rl_backend *be);
/* As wan_dit_load with options (opt may be NULL). */
int wan_dit_load_opts(rl_wan_dit *m, const char *path, rl_backend *be, const rl_wan_dit_options *opt);
/* The config of the DiT at path, without loading weights (for --auto-plan). */
int wan_dit_read_config(const char *path, rl_backend *be, rl_wan_dit_config *cfg);
void wan_dit_free(rl_wan_dit *m);
/* The released configurations by name: "1.3b", "14b" (t2v). -1 with an error
 * listing them otherwise. */
int wan_dit_config_named(const char *name, rl_wan_dit_config *cfg);
/* A model of config cfg with random weights made on the device (benchmarks). */
int wan_dit_init_random(rl_wan_dit *m, const rl_wan_dit_config *cfg, rl_backend *be, uint64_t seed);
int wan_dit_init_random_opts(rl_wan_dit *m, const rl_wan_dit_config *cfg, rl_backend *be, uint64_t seed,
                             const rl_wan_dit_options *opt);

/* Bytes of activation arena a forward over n_total tokens (this rank holding n)
 * needs, alignment included. */
size_t wan_dit_activation_bytes(const rl_wan_dit_config *cfg, int64_t n_total, int64_t n);

/* The whole model on one rank: x [in_dim, T, H, W] f32, context [L, text_dim] f32
 * (L <= text_len), y [out_dim, T, H, W] f32 (allocated by the caller), all on
 * the backend's device. H and W must be even. */
int wan_dit_forward(rl_wan_dit *m, rl_tensor *y, const rl_tensor *x, double t, const rl_tensor *context);
/* An arena over the model's activation storage of at least cap bytes: allocated
 * by the first forward and kept for the next ones (a sampling loop allocates and
 * frees nothing per step; a device free would stall the GPU), grown when a
 * larger forward comes, released by wan_dit_free. */
int wan_dit_activation_arena(rl_wan_dit *m, size_t cap, rl_arena *a);

/* Shared per-call state of the token forward. */
typedef struct {
    int64_t F, Hp, Wp;     /* token grid */
    int64_t token0, n;     /* this rank's token slice */
    int64_t seq_len;       /* real tokens in the whole sequence (F*Hp*Wp) */
    rl_tensor e;           /* [D] f32: time embedding (head modulation) */
    rl_tensor e0;          /* [6, D] f32: time projection (block modulation) */
    rl_tensor ctx;         /* [text_len, D]: embedded, zero-padded text */
    rl_tensor rope_cos;    /* [n, d/2] f32 */
    rl_tensor rope_sin;    /* [n, d/2] f32 */
} rl_wan_step;

/* Pieces of the forward, for callers that split the sequence. */
int wan_dit_embed_time(rl_wan_dit *m, rl_arena *a, double t, rl_tensor *e, rl_tensor *e0);
int wan_dit_embed_text(rl_wan_dit *m, rl_arena *a, const rl_tensor *context, rl_tensor *ctx);
/* Tokens [n, D] of x for the slice in st (patch embedding). */
int wan_dit_embed_patches(rl_wan_dit *m, rl_arena *a, const rl_tensor *x, const rl_wan_step *st, rl_tensor *tokens);
/* A block's last residual, x += ffn_out * gate_ffn, left for the next block to add
 * fused with its first norm (one pass over x less per block); wan_dit_run_blocks
 * adds the last block's. */
typedef struct {
    rl_tensor y;    /* [n, D] act dtype: the FFN output */
    rl_tensor gate; /* [D] f32: its gate */
    int pending;    /* y * gate not yet added to x */
} rl_wan_carry;
/* One block over x [n, D] f32. carry NULL: every residual added before return. */
int wan_block_forward(rl_wan_dit *m, const rl_wan_block *blk, rl_tensor *x, const rl_wan_step *st, rl_arena *a,
                      rl_wan_carry *carry);
/* Every block in order over tokens [n, D] (offloaded blocks streamed in). */
int wan_dit_run_blocks(rl_wan_dit *m, rl_tensor *tokens, const rl_wan_step *st, rl_arena *a);
/* out [n, out_dim*4] = head(x) with e's modulation. */
int wan_dit_head(rl_wan_dit *m, rl_arena *a, const rl_tensor *x, const rl_wan_step *st, rl_tensor *out);
int wan_self_attention_local(void *ctx, rl_backend *be, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                             const rl_tensor *v, int64_t kv_len);

/* A random t2v model of config c (official layout, f32) at path, deterministic
 * from seed (torch-identical normals), for demos and CI renders. */
int wan_dit_write_tiny(const char *path, const rl_wan_dit_config *c, uint64_t seed);

#endif
