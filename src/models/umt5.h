/* umt5.h: the umT5 text encoder (Wan's wan/modules/t5.py T5Encoder = transformers'
 * UMT5EncoderModel) on the rl_backend op table: token ids -> context [L, dim].
 *
 * Conventions
 * - The architecture comes from the tensor shapes (vocab and dim from the token
 *   embedding, heads from the relative-bias table [buckets, heads], attention width
 *   from q, ffn from the gate, layers by counting blocks); only the maximum
 *   relative distance (128) is not in the weights.
 * - The reference pads the ids to 512, masks padded keys and keeps the rows of the
 *   real tokens. Masked keys get a logit of about -3.4e38, so their softmax weight
 *   is exactly 0, and nothing else mixes rows: the real rows equal a run at the
 *   real length. umt5_encode therefore runs at the real length by default (and
 *   can pad, for checking that claim).
 * - Big matrices go to the backend's weight dtype; norm gains and relative-bias
 *   tables stay f32; the token embedding keeps the file's 16-bit dtype (exact).
 *   The residual stream is f32; other activations use the backend's act dtype.
 */
#ifndef RL_UMT5_H
#define RL_UMT5_H

#include "io/weights.h"
#include "raylight.h"

#define RL_UMT5_MAX_TOKENS 512 /* Wan's text_len: ids are truncated / padded to this */

typedef struct {
    int64_t vocab;     /* token embedding rows (256384 for umT5-XXL) */
    int64_t dim;       /* d_model (4096) */
    int64_t dim_attn;  /* heads * head_dim, the width of q, k, v (4096) */
    int64_t heads;     /* 64 */
    int64_t head_dim;  /* 64 */
    int64_t ffn;       /* 10240 */
    int64_t layers;    /* 24 */
    int num_buckets;   /* relative-position buckets (32), half for each direction */
    int max_distance;  /* 128: distances beyond share the last bucket */
    float eps;         /* RMSNorm epsilon, 1e-6 */
} rl_umt5_config;

typedef struct {
    rl_tensor norm1;    /* [D] f32 */
    rl_tensor q, k, v;  /* [A, D] */
    rl_tensor o;        /* [D, A] */
    rl_tensor rel_bias; /* [NB, H] f32: this layer's own relative-position embedding */
    rl_tensor norm2;    /* [D] f32 */
    rl_tensor gate;     /* [F, D]: the GELU branch (wi_0) */
    rl_tensor fc1;      /* [F, D]: the linear branch (wi_1) */
    rl_tensor fc2;      /* [D, F] (wo) */
} rl_umt5_block;

typedef struct rl_umt5_fsdp rl_umt5_fsdp; /* sharded layers (models/umt5_fsdp.h) */
typedef struct rl_comm rl_comm;

typedef struct {
    rl_umt5_config cfg;
    rl_backend *be;
    rl_tensor token_embedding; /* [V, D]; under --fsdp the header only (its rows are sharded: fsdp) */
    rl_umt5_block *blocks;     /* [layers] */
    rl_tensor norm;            /* [D] f32: final RMSNorm gain */
    size_t weight_bytes;       /* on the device */
    rl_umt5_fsdp *fsdp;        /* NULL: layers whole; else each layer a shard, gathered before use */
    uint64_t file_bytes_read;  /* bytes this rank read from the weight file */
} rl_umt5;

/* Architecture from the shapes of an opened umT5 checkpoint; -1 with an error
 * naming the file and what was found when it is not a umT5 encoder. */
int umt5_detect_config(const rl_weights *w, rl_umt5_config *cfg);
/* "umT5 encoder: vocab 256384, dim 4096, 24 layers, 64 heads x 64, ffn 10240". */
void umt5_describe(const rl_umt5_config *cfg, char *buf, size_t n);

/* Opens path (any layout io/checkpoint.h knows), detects the config, loads every
 * weight onto be and closes the file. */
int umt5_load(rl_umt5 *m, const char *path, rl_backend *be);
/* As umt5_load; with fsdp (--fsdp, more than one rank) each rank reads and keeps
 * only its shard of every layer and its share of the token embedding's rows
 * (the final norm stays whole), and every rank must then encode the same ids in
 * step (the embedding's sum and the layers' gathers are collectives over fsdp). */
int umt5_load_fsdp(rl_umt5 *m, const char *path, rl_backend *be, rl_comm *fsdp);
void umt5_free(rl_umt5 *m);
/* The umT5 sizes by name: "xxl" (Wan 2.1's encoder) and "tiny" (make-tiny's). */
int umt5_config_named(const char *name, rl_umt5_config *cfg);
/* An encoder of config cfg with random weights made on the device (normal, std
 * 0.02, seeded by seed and the tensor name): --random-weights benchmarks. */
int umt5_init_random(rl_umt5 *m, const rl_umt5_config *cfg, rl_backend *be, uint64_t seed);

/* The relative-position bucket of rel = key_pos - query_pos (bidirectional), with
 * the reference's float32 log and truncation. */
int umt5_relative_bucket(int64_t rel, int num_buckets, int max_distance);

/* Checks n ids (1 <= n <= RL_UMT5_MAX_TOKENS, each in [0, vocab)); `what` names
 * their source in the error ("ids in in.safetensors"). */
int umt5_check_ids(const rl_umt5_config *cfg, const int32_t *ids, int64_t n, const char *what);

/* Encodes n host ids into out, an f32 [n, dim] tensor on the backend's device.
 * run_len 0 runs at the real length n; run_len > n pads with id 0 and masks the
 * padded keys, as the reference does at 512 (same result for the real rows). */
int umt5_encode(rl_umt5 *m, const int32_t *ids, int64_t n, int64_t run_len, rl_tensor *out);

/* Writes a random umT5 encoder of config c (official layout, bf16; max_distance and
 * eps are fixed by the architecture) to path, deterministic from seed. */
int umt5_write_tiny(const char *path, const rl_umt5_config *c, uint64_t seed);
/* make-tiny's part: dim text_dim, vocabulary sized to the tokenizer.json beside path. */
int umt5_make_tiny(const char *path, uint64_t seed, int64_t text_dim);

#endif
