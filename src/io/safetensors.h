/* safetensors.h: reading and writing safetensors files, single or sharded.
 *
 * Files come from the internet: the header is validated completely before any
 * tensor is touched (sizes, offsets inside the data section, no overlaps, known
 * dtypes, shape x dtype == byte size). Data is mmap'd read-only; range reads
 * (for FSDP shards) touch only the requested bytes.
 */
#ifndef RL_SAFETENSORS_H
#define RL_SAFETENSORS_H

#include "raylight.h"

#define RL_ST_MAX_HEADER 100000000u /* bytes: the reference implementation's MAX_HEADER_SIZE (10^8) */

/* dtype of a tensor whose element type the header names but raylight-gen does not
 * compute with (BOOL, U8, I8, I16, U16, U32, U64, F64: e.g. the U8 `spiece_model`
 * blob in ComfyUI text-encoder files). Such tensors are listed and range-read as
 * bytes; rl_st_read_as refuses them. */
#define RL_ST_OPAQUE RL_DTYPE_COUNT

typedef struct {
    char *name;
    rl_dtype dtype;  /* RL_ST_OPAQUE for the raw types above */
    const char *file_dtype; /* the header's dtype string ("BF16", "U8", ...) */
    int ndim;
    int64_t shape[RL_MAX_DIMS];
    uint64_t offset; /* bytes from the start of the data section */
    uint64_t nbytes;
    int file_index;  /* which shard (0 for a single file) */
} rl_st_tensor;

typedef struct {
    char *path;
    int fd;
    uint8_t *map;       /* whole file, PROT_READ */
    uint64_t file_size;
    uint64_t data_start; /* 8 + header length */
} rl_st_file;

typedef struct {
    char *path;          /* what was opened (a .safetensors or an .index.json) */
    rl_st_file *files;
    int n_files;
    rl_st_tensor *tensors; /* sorted by name */
    int n_tensors;
    char *metadata_json;   /* the "__metadata__" object re-serialised, or NULL (sharded: the first shard's that has one) */
    uint64_t bytes_read;   /* bytes copied out by the read calls (FSDP accounting) */
} rl_safetensors;

/* Opens a .safetensors file or (a path ending in .json) a sharded checkpoint's
 * *.safetensors.index.json: its "weight_map" names shard files in the index's
 * own directory (plain names only: no '/', no ".."); each shard is opened once,
 * every listed tensor must be in the shard named for it, and no tensor may be
 * in two shards. Accepted beyond the reference reader: gaps between tensors and
 * bytes after the last one (the reference requires contiguous data that ends
 * at the end of the file). On failure *st is left zeroed. */
int rl_st_open(rl_safetensors *st, const char *path);
void rl_st_close(rl_safetensors *st);
/* NULL when absent (no error set). */
const rl_st_tensor *rl_st_find(const rl_safetensors *st, const char *name);
/* Pointer to the tensor's bytes inside the mapping (read-only). It need not be
 * aligned to the element size (safetensors does not require it): read typed
 * values through rl_st_read_as or rl_st_read_range, or memcpy. */
const void *rl_st_data(const rl_safetensors *st, const rl_st_tensor *t);
/* Copies bytes [byte_off, byte_off+nbytes) of the tensor into dst; error if the
 * range is outside the tensor. Only those pages are touched. */
int rl_st_read_range(rl_safetensors *st, const rl_st_tensor *t, uint64_t byte_off,
                     uint64_t nbytes, void *dst);
/* Reads the whole tensor converted to `dtype` into dst (numel elements). */
int rl_st_read_as(rl_safetensors *st, const rl_st_tensor *t, rl_dtype dtype, void *dst);

/* Writer: collect tensors, then write the file in one go (header sorted by name,
 * 8-byte aligned data). Tensor data is copied on add. */
typedef struct rl_st_writer rl_st_writer;
rl_st_writer *rl_st_writer_new(void);
int rl_st_writer_add(rl_st_writer *w, const char *name, rl_dtype dtype, int ndim,
                     const int64_t *shape, const void *data);
/* key/value string pairs for "__metadata__" */
int rl_st_writer_meta(rl_st_writer *w, const char *key, const char *value);
int rl_st_writer_save(rl_st_writer *w, const char *path);
void rl_st_writer_free(rl_st_writer *w);

#endif
