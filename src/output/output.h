/* output.h: writing rendered frames: PNG (stb_image_write) and MP4 (H.264 via
 * libavcodec). Frames arrive as f32 [3, F, H, W] in [-1, 1] (the VAE's output);
 * the settings that made them (prompt, seed, ...) are stored as key/value text
 * in the file (PNG tEXt chunks, MP4 metadata). Nothing half-written is left
 * behind on failure. */
#ifndef RL_OUTPUT_H
#define RL_OUTPUT_H

#include "raylight.h"

typedef struct {
    const char *key, *value;
} rl_meta_kv;

typedef struct {
    const float *video; /* [3, F, H, W], values in [-1, 1] (clamped again here) */
    int frames, height, width;
    double fps;
    int crf;
    const rl_meta_kv *meta;
    int n_meta;
} rl_frames;

/* Frame f as interleaved RGB8 [H, W, 3] into rgb. */
void rl_frame_to_rgb8(const rl_frames *v, int f, uint8_t *rgb);

/* One PNG of frame f. */
int rl_write_png(const char *path, const rl_frames *v, int f);
/* dir/frame_00000.png ... (the directory is created when missing). */
int rl_write_png_frames(const char *dir, const rl_frames *v);
/* H.264 yuv420p MP4; an error saying so when built without libavcodec. */
int rl_write_mp4(const char *path, const rl_frames *v);
/* By the path: "x.mp4" -> MP4, "x.png" -> PNG (single frame, or an error
 * suggesting dir/ for several frames), "dir/" or an existing directory -> PNG frames. */
int rl_write_output(const char *path, const rl_frames *v);
/* Checks early (before any computation) that path can be written: known
 * extension, directory exists and is writable, MP4 support compiled in. */
int rl_output_check_path(const char *path, int frames);

#endif
