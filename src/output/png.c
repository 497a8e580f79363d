/* png.c: PNG output through stb_image_write, with the render settings stored as
 * tEXt chunks (spliced in after IHDR, since stb writes none). */
#include "output/output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "stb_image_write.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

void rl_frame_to_rgb8(const rl_frames *v, int f, uint8_t *rgb) {
    size_t plane = (size_t)v->height * v->width, frame = (size_t)f * plane;
    size_t chan = (size_t)v->frames * plane;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            float x = v->video[(size_t)c * chan + frame + p];
            if (!(x > -1.0f)) x = -1.0f; /* NaN too */
            if (x > 1.0f) x = 1.0f;
            rgb[p * 3 + (size_t)c] = (uint8_t)lrintf((x + 1.0f) * 127.5f);
        }
}

static uint32_t crc32_png(const uint8_t *p, size_t n, uint32_t crc) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Appends one tEXt chunk (keyword 1-79 Latin-1 chars, NUL, text) to out. */
static size_t text_chunk(uint8_t *out, const char *key, const char *value) {
    size_t kl = strlen(key), vl = strlen(value);
    if (kl > 79) kl = 79;
    size_t len = kl + 1 + vl;
    put_be32(out, (uint32_t)len);
    memcpy(out + 4, "tEXt", 4);
    memcpy(out + 8, key, kl);
    out[8 + kl] = 0;
    memcpy(out + 9 + kl, value, vl);
    put_be32(out + 8 + len, crc32_png(out + 4, len + 4, 0));
    return len + 12;
}

static int write_file_atomic(const char *path, const uint8_t *parts[], const size_t sizes[], int n) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rl_error_set("cannot write %s: %s; check the directory exists and is writable", path, strerror(errno));
    int ok = 1;
    for (int i = 0; i < n; i++) ok &= fwrite(parts[i], 1, sizes[i], f) == sizes[i];
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return rl_error_set("cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

int rl_write_png(const char *path, const rl_frames *v, int f) {
    size_t npix = (size_t)v->height * v->width;
    uint8_t *rgb = malloc(npix * 3);
    if (!rgb) return rl_error_set("out of memory writing %s", path);
    rl_frame_to_rgb8(v, f, rgb);
    int len = 0;
    uint8_t *png = stbi_write_png_to_mem(rgb, v->width * 3, v->width, v->height, 3, &len);
    free(rgb);
    if (!png || len < 33) {
        free(png);
        return rl_error_set("PNG encoding failed for %s", path);
    }
    size_t meta_bytes = 0;
    for (int i = 0; i < v->n_meta; i++) meta_bytes += 12 + 80 + strlen(v->meta[i].value);
    uint8_t *chunks = malloc(meta_bytes + 1);
    size_t nc = 0;
    for (int i = 0; chunks && i < v->n_meta; i++) nc += text_chunk(chunks + nc, v->meta[i].key, v->meta[i].value);
    /* signature (8) + IHDR chunk (25) come first; tEXt goes right after. */
    const uint8_t *parts[3] = {png, chunks, png + 33};
    size_t sizes[3] = {33, chunks ? nc : 0, (size_t)len - 33};
    int rc = write_file_atomic(path, parts, sizes, 3);
    free(chunks);
    free(png);
    return rc;
}

/* mkdir -p: every missing directory of the path (a batch's -o dir/ gets dir/0001/). */
static int make_dirs(const char *dir) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return rl_error_set("-o %s: the path is too long", dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return rl_error_set("cannot create the output directory %s: %s", p, strerror(errno));
        if (!c) break;
        *s = c;
    }
    return 0;
}

/* For a directory output that may not exist yet: its nearest existing ancestor
 * must be a writable directory (nothing is created here). */
static int check_dir_creatable(const char *dir) {
    char p[4096];
    struct stat sb;
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return rl_error_set("-o %s: the path is too long", dir);
    for (;;) {
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/') p[--n] = 0;
        if (stat(n ? p : ".", &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) return rl_error_set("-o %s: %s is a file, not a directory", dir, p);
            if (access(n ? p : ".", W_OK | X_OK) != 0) return rl_error_set("-o %s: cannot write in %s", dir, p);
            return 0;
        }
        char *slash = strrchr(p, '/');
        if (!slash) p[0] = 0;
        else if (slash == p) p[1] = 0;
        else *slash = 0;
    }
}

/* Frames are encoded in parallel (deflate is the cost: ~0.15 s a 480p frame on one
 * core). After a failure no new frame starts; the result is the sentence of the
 * lowest failing frame (errors are per thread). */
int rl_write_png_frames(const char *dir, const rl_frames *v) {
    RL_TRY(make_dirs(dir));
    int failed = 0, first = v->frames;
    char msg[2048] = "";
    #pragma omp parallel for schedule(dynamic, 1)
    for (int f = 0; f < v->frames; f++) {
        int stop;
        #pragma omp atomic read
        stop = failed;
        if (stop) continue;
        char path[4096];
        size_t dl = strlen(dir);
        snprintf(path, sizeof path, "%s%sframe_%05d.png", dir, dl && dir[dl - 1] == '/' ? "" : "/", f);
        if (rl_write_png(path, v, f) != 0) {
            #pragma omp critical(png_frames_error)
            if (f < first) {
                first = f;
                snprintf(msg, sizeof msg, "%s", rl_error_message());
                #pragma omp atomic write
                failed = 1;
            }
        }
    }
    return failed ? rl_error_set("%s", msg) : 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int is_dir_path(const char *path) {
    struct stat sb;
    size_t n = strlen(path);
    return (n && path[n - 1] == '/') || (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
}

int rl_write_output(const char *path, const rl_frames *v) {
    if (is_dir_path(path)) return rl_write_png_frames(path, v);
    if (ends_with(path, ".mp4")) return rl_write_mp4(path, v);
    if (ends_with(path, ".png")) {
        if (v->frames != 1)
            return rl_error_set("-o %s: a .png holds one image but %d frames were rendered; give a directory "
                                "(-o frames/) for PNG frames or an .mp4", path, v->frames);
        return rl_write_png(path, v, 0);
    }
    return rl_error_set("-o %s: unknown output type; use name.mp4, name.png (one frame) or a directory dir/", path);
}

int rl_output_check_path(const char *path, int frames) {
    if (is_dir_path(path)) return check_dir_creatable(path);
    if (ends_with(path, ".png") && frames != 1)
        return rl_error_set("-o %s: a .png holds one image but %d frames will be rendered; give a directory "
                            "(-o frames/) or an .mp4", path, frames);
    if (!ends_with(path, ".png") && !ends_with(path, ".mp4"))
        return rl_error_set("-o %s: unknown output type; use name.mp4, name.png (one frame) or a directory dir/", path);
#ifndef RL_HAVE_FFMPEG
    if (ends_with(path, ".mp4"))
        return rl_error_set("-o %s: this raylight-gen was built without libavcodec (make FFMPEG=0), so it cannot "
                            "write MP4; write PNG frames with -o dir/ or rebuild with libavcodec-dev installed", path);
#endif
    /* the directory must exist and be writable: try creating the file */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rl_error_set("-o %s: cannot write there: %s", path, strerror(errno));
    fclose(f);
    remove(tmp);
    return 0;
}
