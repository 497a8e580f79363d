/* weights.h: model weights from a checkpoint file onto a backend.
 *
 * Models ask for tensors by canonical (official Wan) name with the shape they
 * expect; the file's layout, container prefix, dtype and fp8 scales are dealt
 * with here, and every mismatch is a sentence naming the file and tensor. */
#ifndef RL_WEIGHTS_H
#define RL_WEIGHTS_H

#include "io/checkpoint.h"

typedef struct {
    rl_safetensors st;
    rl_ckpt ck;
    rl_backend *be;
    size_t device_bytes; /* bytes of weights this loader placed on the device */
    int random;          /* no file: every load fills normal(0, random_std) from the tensor's name */
    uint64_t random_seed;
    float random_std;
} rl_weights;

/* Opens path (a .safetensors or .safetensors.index.json) and detects its layout;
 * when expect is not RL_MODEL_UNKNOWN, a file of another model is an error naming
 * what the file holds and what the flag wanted. */
int rl_weights_open(rl_weights *w, const char *path, rl_backend *be, rl_model_kind expect);
void rl_weights_close(rl_weights *w);
/* A loader without a file whose tensors are random normals (seeded by seed and
 * the tensor name, generated on the device): full-size benchmark models that are
 * never shipped or carried. Models build their config themselves. */
void rl_weights_init_random(rl_weights *w, rl_backend *be, uint64_t seed, float std);

/* Allocates a device tensor of dtype dt and shape `shape` (ndim dims) and fills it
 * with the canonical tensor, converted (and dequantised: fp8 x scale_weight).
 * The file's shape must have the same element count and, dimension by dimension,
 * equal `shape` after dropping size-1 dimensions. */
int rl_weights_load(rl_weights *w, const char *canonical, rl_dtype dt, int ndim, const int64_t *shape,
                    rl_tensor *out);
/* As rl_weights_load; returns 1 (out zeroed) when the file lacks the tensor. */
int rl_weights_load_optional(rl_weights *w, const char *canonical, rl_dtype dt, int ndim, const int64_t *shape,
                             rl_tensor *out);
/* Elements [e0, e1) of the canonical tensor (its flat order; `shape` checked as
 * in rl_weights_load) converted to dt, fp8 dequantised with the tensor's scale,
 * into host memory dst. Only those bytes of the file are read (FSDP shards; the
 * file's rl_safetensors.bytes_read counts them). A random loader makes the whole
 * tensor and keeps the part, so a shard equals the same part of a whole load. */
int rl_weights_read_part(rl_weights *w, const char *canonical, rl_dtype dt, int ndim, const int64_t *shape,
                         int64_t e0, int64_t e1, void *dst);
/* Shape of a canonical tensor as stored (for architecture detection); -1 if absent. */
int rl_weights_shape(const rl_weights *w, const char *canonical, int *ndim, int64_t *shape);
void rl_weights_free_tensor(rl_weights *w, rl_tensor *t);

#endif
