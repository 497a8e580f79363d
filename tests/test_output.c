/* test_output.c: PNG and MP4 writers. PNGs are decoded back (stb_image) and
 * their tEXt chunks found; MP4s are checked with ffprobe (frame count, size,
 * rate, metadata). */
#include "output/output.h"
#include "testlib.h"

#include <sys/stat.h>
#include <unistd.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include "stb_image.h"

static char dir[256];
static float *video;
enum { F = 17, H = 48, W = 64 };
static const rl_meta_kv meta[] = {{"prompt", "a red fox in snow"}, {"seed", "42"}, {"steps", "50"}};

static rl_frames make_frames(int frames) {
    rl_frames v = {video, frames, H, W, 16.0, 18, meta, 3};
    return v;
}

static void fill_video(void) {
    video = malloc(sizeof(float) * 3 * F * H * W);
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < F; f++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    float v = (c == 0) ? (float)x / (W - 1) * 2 - 1 : (c == 1) ? (float)y / (H - 1) * 2 - 1 : -0.5f;
                    if (x >= 2 * f && x < 2 * f + 8 && y >= 8 && y < 16) v = 1.0f; /* a moving square */
                    video[((size_t)(c * F + f) * H + y) * W + x] = v;
                }
    video[0] = 3.0f; /* out of range: clamped to 255 */
}

static void test_png_round_trip(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/one.png", dir);
    rl_frames v = make_frames(1);
    EXPECT(rl_write_png(path, &v, 0) == 0, "%s", rl_error_message());
    int w = 0, h = 0, n = 0;
    uint8_t *img = stbi_load(path, &w, &h, &n, 3);
    EXPECT(img && w == W && h == H, "decoded %dx%d", w, h);
    if (!img) return;
    uint8_t want[H * W * 3];
    rl_frame_to_rgb8(&v, 0, want);
    EXPECT(memcmp(img, want, sizeof want) == 0, "pixels differ after decode");
    EXPECT(img[0] == 255, "clamped value gives 255, got %d", img[0]);
    stbi_image_free(img);
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int found = 0;
    for (size_t i = 0; i + 20 < len; i++)
        if (!memcmp(buf + i, "tEXtprompt", 10) && !memcmp(buf + i + 11, "a red fox in snow", 17)) found = 1;
    EXPECT(found, "tEXt chunk with the prompt");
}

static void test_png_frames_dir(void) {
    char path[512], frame[600];
    snprintf(path, sizeof path, "%s/frames/", dir);
    rl_frames v = make_frames(F);
    EXPECT(rl_write_output(path, &v) == 0, "%s", rl_error_message());
    snprintf(frame, sizeof frame, "%sframe_%05d.png", path, F - 1);
    struct stat sb;
    EXPECT(stat(frame, &sb) == 0, "last frame %s exists", frame);
    snprintf(frame, sizeof frame, "%sframe_%05d.png", path, F);
    EXPECT(stat(frame, &sb) != 0, "no extra frame");
}

static void test_bad_paths(void) {
    rl_frames v = make_frames(F);
    char path[512];
    snprintf(path, sizeof path, "%s/many.png", dir);
    EXPECT(rl_write_output(path, &v) == -1 && strstr(rl_error_message(), "many.png"), "png with many frames");
    EXPECT(rl_output_check_path(path, F) == -1, "check refuses png with many frames");
    snprintf(path, sizeof path, "%s/no/such/dir/x.mp4", dir);
    EXPECT(rl_output_check_path(path, F) == -1 && strstr(rl_error_message(), "x.mp4"), "unwritable: %s",
           rl_error_message());
    EXPECT(rl_output_check_path("out.gif", F) == -1 && strstr(rl_error_message(), "out.gif"), "unknown extension");
    snprintf(path, sizeof path, "%s/ok.mp4", dir);
#ifdef RL_HAVE_FFMPEG
    EXPECT(rl_output_check_path(path, F) == 0, "%s", rl_error_message());
#else
    EXPECT(rl_output_check_path(path, F) == -1 && strstr(rl_error_message(), "without libavcodec"), "no ffmpeg");
#endif
    struct stat sb;
    snprintf(path, sizeof path, "%s/ok.mp4.part", dir);
    EXPECT(stat(path, &sb) != 0, "the check leaves nothing behind");
}

static void test_mp4_ffprobe(void) {
#ifndef RL_HAVE_FFMPEG
    char path[512];
    snprintf(path, sizeof path, "%s/v.mp4", dir);
    rl_frames v = make_frames(F);
    EXPECT(rl_write_mp4(path, &v) == -1 && strstr(rl_error_message(), "without libavcodec"), "says it lacks MP4");
#else
    char path[512], cmd[1024], out[4096] = "";
    snprintf(path, sizeof path, "%s/v.mp4", dir);
    rl_frames v = make_frames(F);
    EXPECT(rl_write_mp4(path, &v) == 0, "%s", rl_error_message());
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames:format_tags=title,seed "
             "-of default=nw=1 '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    EXPECT(p != NULL, "ffprobe runs");
    if (!p) return;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    EXPECT(rc == 0, "ffprobe exit status %d (is ffprobe installed? scripts/install-deps.sh installs ffmpeg): %s", rc, out);
    EXPECT(strstr(out, "codec_name=h264"), "h264: %s", out);
    EXPECT(strstr(out, "pix_fmt=yuv420p"), "yuv420p: %s", out);
    EXPECT(strstr(out, "width=64") && strstr(out, "height=48"), "size: %s", out);
    EXPECT(strstr(out, "r_frame_rate=16/1"), "rate: %s", out);
    EXPECT(strstr(out, "nb_read_frames=17"), "frame count: %s", out);
    EXPECT(strstr(out, "a red fox in snow"), "prompt in metadata: %s", out);
    EXPECT(strstr(out, "seed=42"), "seed in metadata: %s", out);
#endif
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/rl-test-output-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    fill_video();
    RUN(test_png_round_trip);
    RUN(test_png_frames_dir);
    RUN(test_bad_paths);
    RUN(test_mp4_ffprobe);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    free(video);
    TL_EXIT();
}
