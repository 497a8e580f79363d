/* wan_vae.h: the Wan 2.1 causal 3D VAE (wan/modules/vae.py): latents to video
 * frames and back, in fp32 (as the reference: WanVAE(dtype=float)), on any backend.
 *
 * Layouts: latents [z_dim=16, T, h, w], video [3, F, H, W] with F = 4(T-1)+1,
 * H = 8h, W = 8w, values in [-1, 1]. Latents at this interface are normalised
 * (what the DiT produces): z_norm = (mu - mean) / std per channel.
 *
 * Work is chunked in time exactly as the reference (decode one latent frame at a
 * time; encode frame 0, then 4 frames at a time) with cached causal frames, so
 * activations never hold the whole video. Optional spatial tiling trades exactness
 * at the seams for memory (see docs/vae.md for its measured error). */
#ifndef RL_WAN_VAE_H
#define RL_WAN_VAE_H

#include "io/weights.h"

#define RL_VAE_MAX_LAYERS 32

enum { RL_VAE_DECODER = 1, RL_VAE_ENCODER = 2 }; /* which halves to load */

typedef struct {
    rl_tensor w; /* [Cout, Cin, kt, kh, kw] (2-D convs: kt = 1) */
    rl_tensor b; /* [Cout] */
} rl_vae_conv;

/* The frames a causal conv keeps from its previous chunk (the reference's
 * feat_cache slot): up to 2 input frames, in device memory reused across chunks. */
typedef struct {
    void *data;    /* [C, 2, H, W] */
    size_t bytes;  /* allocated */
    int64_t C, H, W;
    int n;         /* valid frames 0..2 */
    int started;   /* Resample 3d: the first chunk has passed */
} rl_vae_cache;

typedef enum { VAE_RES = 0, VAE_DOWN2D, VAE_DOWN3D, VAE_UP2D, VAE_UP3D } rl_vae_kind;

/* One entry of encoder.downsamples / decoder.upsamples (or a middle res block). */
typedef struct {
    rl_vae_kind kind;
    int64_t cin, cout;
    /* residual block: x + conv2(silu(norm2(conv1(silu(norm1(x)))))) (+ 1x1 shortcut when cin != cout) */
    rl_tensor gamma1;     /* [cin] */
    rl_tensor gamma2;     /* [cout] */
    rl_vae_conv conv1;    /* [cout, cin, 3, 3, 3] */
    rl_vae_conv conv2;    /* [cout, cout, 3, 3, 3] */
    rl_vae_conv shortcut; /* [cout, cin, 1, 1, 1]; w.data NULL when identity */
    /* resample: spatial conv 3x3 (resample.1) and the causal time conv */
    rl_vae_conv spatial;  /* up: [cin/2, cin, 1, 3, 3]; down: [cin, cin, 1, 3, 3] */
    rl_vae_conv time;     /* up3d: [2cin, cin, 3, 1, 1]; down3d: [cin, cin, 3, 1, 1] */
    rl_vae_cache cache[2]; /* res: conv1, conv2; resample 3d: [0] the time conv */
} rl_vae_layer;

typedef struct {
    rl_tensor gamma;  /* [C] */
    rl_tensor qkv_w;  /* [3C, C] */
    rl_tensor qkv_b;  /* [3C] */
    rl_tensor proj_w; /* [C, C] */
    rl_tensor proj_b; /* [C] */
} rl_vae_attn;

typedef struct {
    int loaded;
    rl_vae_conv conv_in;  /* conv1: [C0, Cin, 3, 3, 3] */
    rl_vae_cache conv_in_cache;
    rl_vae_layer mid_res[2]; /* middle.0, middle.2 */
    rl_vae_attn mid_attn;    /* middle.1 */
    rl_vae_layer layers[RL_VAE_MAX_LAYERS]; /* downsamples / upsamples */
    int n_layers;
    rl_tensor head_gamma;    /* head.0: [C_last] */
    rl_vae_conv head;        /* head.2: [Cout, C_last, 3, 3, 3] */
    rl_vae_cache head_cache;
} rl_vae_coder;

typedef struct {
    rl_backend *be;
    char path[512];
    int z_dim;      /* 16 */
    int dim;        /* base width: 96 in Wan 2.1 */
    int dim_mult[8], n_stages;  /* [1, 2, 4, 4] */
    rl_vae_coder enc, dec;
    rl_vae_conv quant;      /* conv1: [2z, 2z, 1, 1, 1] */
    rl_vae_conv post_quant; /* conv2: [z, z, 1, 1, 1] */
    rl_tensor lat_std, lat_mean;       /* [z]: decode z*std + mean */
    rl_tensor lat_inv_std, lat_nshift; /* [z]: encode mu/std - mean/std */
    size_t weight_bytes;
} rl_wan_vae;

/* Spatial tiling of the decode (0 = off). Sizes are in latent pixels. */
typedef struct {
    int tile;     /* tile edge, e.g. 32 (256 px) */
    int overlap;  /* latent pixels shared by neighbouring tiles, blended linearly */
} rl_vae_tiling;

typedef struct {
    size_t act_peak;   /* activation arenas, bytes (both halves) */
    size_t cache_bytes;/* causal frame caches */
    size_t fixed_bytes;/* whole-sequence latents held on the device */
    int tiles;         /* tiles decoded (1 when untiled) */
    double seconds;
} rl_vae_stats;

/* Opens a Wan 2.1 VAE file (official, ComfyUI or diffusers layout), detects the
 * base width and stage layout from the tensor shapes, and loads the requested
 * halves (RL_VAE_DECODER | RL_VAE_ENCODER) onto be in fp32. */
int wan_vae_load(rl_wan_vae *vae, const char *path, rl_backend *be, int parts);
void wan_vae_free(rl_wan_vae *vae);
/* "dim 96, z_dim 16, dim_mult [1,2,4,4], ..." into buf. */
const char *wan_vae_describe(const rl_wan_vae *vae, char *buf, size_t n);

/* z (host, f32 [z_dim, T, h, w], normalised) -> video (host, f32 [3, 4(T-1)+1, 8h, 8w],
 * clamped to [-1, 1]). tiling may be NULL; stats may be NULL. */
int wan_vae_decode(rl_wan_vae *vae, const float *z, int64_t T, int64_t h, int64_t w, float *video,
                   const rl_vae_tiling *tiling, rl_vae_stats *stats);
/* The memory wan_vae_decode would use for these latents (act_peak, cache_bytes,
 * fixed_bytes, tiles), found by walking the first chunks without computing. */
int wan_vae_decode_plan(rl_wan_vae *vae, int64_t T, int64_t h, int64_t w, const rl_vae_tiling *tiling,
                        rl_vae_stats *stats);
/* video (host, f32 [3, F, H, W], F = 4k+1, H and W multiples of 8) -> z (host, f32
 * [z_dim, (F-1)/4+1, H/8, W/8]): the posterior mean, normalised. */
int wan_vae_encode(rl_wan_vae *vae, const float *video, int64_t F, int64_t H, int64_t W, float *z,
                   rl_vae_stats *stats);

/* Writes a VAE with random weights in the official layout (dim_mult [1,2,4,4],
 * 2 res blocks, temporal downsample [F,T,T], z_dim 16) at base width base_dim,
 * for tiny end-to-end runs (make-tiny). */
int wan_vae_write_random(const char *path, int base_dim, uint64_t seed);

#endif
