/* mp4.c: H.264 (yuv420p) MP4 through libavcodec/libavformat/libswscale. The
 * settings go into the container metadata (custom keys kept with the
 * use_metadata_tags movflag; the prompt is also the "title", the whole set the
 * "comment"). Built without libavcodec (make FFMPEG=0) it says so plainly. */
#include "output/output.h"

#include <stdio.h>
#include <string.h>

#ifndef RL_HAVE_FFMPEG

int rl_write_mp4(const char *path, const rl_frames *v) {
    (void)v;
    return rl_error_set("-o %s: this raylight-gen was built without libavcodec (make FFMPEG=0), so it cannot write "
                        "MP4; write PNG frames with -o dir/ or rebuild with libavcodec-dev installed", path);
}

#else

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdlib.h>

static int av_fail(const char *path, const char *what, int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, buf, sizeof buf);
    return rl_error_set("writing %s: %s failed: %s", path, what, buf);
}

static const AVCodec *find_h264(void) {
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    return c ? c : avcodec_find_encoder(AV_CODEC_ID_H264);
}

/* Sends one frame (or NULL to flush) and writes every packet that comes out. */
static int encode(const char *path, AVFormatContext *fmt, AVCodecContext *cc, AVStream *st, AVFrame *fr, AVPacket *pkt) {
    int r = avcodec_send_frame(cc, fr);
    if (r < 0) return av_fail(path, "encoding a frame", r);
    for (;;) {
        r = avcodec_receive_packet(cc, pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) return av_fail(path, "encoding", r);
        av_packet_rescale_ts(pkt, cc->time_base, st->time_base);
        pkt->stream_index = st->index;
        r = av_interleaved_write_frame(fmt, pkt);
        if (r < 0) return av_fail(path, "writing a packet", r);
    }
}

int rl_write_mp4(const char *path, const rl_frames *v) {
    if (v->width % 2 || v->height % 2)
        return rl_error_set("writing %s: H.264 yuv420p needs an even width and height, got %dx%d", path, v->width,
                            v->height);
    const AVCodec *codec = find_h264();
    if (!codec)
        return rl_error_set("writing %s: this libavcodec has no H.264 encoder; install a build with libx264 "
                            "(Debian's libavcodec59) or write PNG frames with -o dir/", path);
    av_log_set_level(rl_log_level() >= RL_LOG_DEBUG ? AV_LOG_INFO : AV_LOG_ERROR);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.part", path);
    AVFormatContext *fmt = NULL;
    AVCodecContext *cc = NULL;
    AVFrame *fr = NULL;
    AVPacket *pkt = NULL;
    struct SwsContext *sws = NULL;
    uint8_t *rgb = NULL;
    int rc = -1, r, opened = 0;
    if ((r = avformat_alloc_output_context2(&fmt, NULL, "mp4", tmp)) < 0 || !fmt) {
        av_fail(path, "creating the MP4 container", r);
        goto done;
    }
    AVStream *st = avformat_new_stream(fmt, NULL);
    cc = avcodec_alloc_context3(codec);
    fr = av_frame_alloc();
    pkt = av_packet_alloc();
    rgb = malloc((size_t)v->width * v->height * 3);
    if (!st || !cc || !fr || !pkt || !rgb) {
        rl_error_set("out of memory writing %s", path);
        goto done;
    }
    int fps_num = (int)(v->fps * 1000 + 0.5), fps_den = 1000;
    cc->width = v->width;
    cc->height = v->height;
    cc->pix_fmt = AV_PIX_FMT_YUV420P;
    cc->time_base = (AVRational){fps_den, fps_num};
    cc->framerate = (AVRational){fps_num, fps_den};
    cc->gop_size = 16;
    cc->color_range = AVCOL_RANGE_MPEG;
    cc->colorspace = AVCOL_SPC_BT709;
    cc->color_primaries = AVCOL_PRI_BT709;
    cc->color_trc = AVCOL_TRC_BT709;
    if (fmt->oformat->flags & AVFMT_GLOBALHEADER) cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    char crf[16];
    snprintf(crf, sizeof crf, "%d", v->crf);
    av_opt_set(cc->priv_data, "crf", crf, 0);
    av_opt_set(cc->priv_data, "preset", "medium", 0);
    if ((r = avcodec_open2(cc, codec, NULL)) < 0) {
        av_fail(path, "opening the H.264 encoder", r);
        goto done;
    }
    if ((r = avcodec_parameters_from_context(st->codecpar, cc)) < 0) {
        av_fail(path, "setting the stream parameters", r);
        goto done;
    }
    st->time_base = cc->time_base;
    st->avg_frame_rate = cc->framerate;
    char comment[8192] = "";
    for (int i = 0; i < v->n_meta; i++) {
        av_dict_set(&fmt->metadata, v->meta[i].key, v->meta[i].value, 0);
        size_t n = strlen(comment);
        snprintf(comment + n, sizeof comment - n, "%s%s: %s", n ? "; " : "", v->meta[i].key, v->meta[i].value);
        if (!strcmp(v->meta[i].key, "prompt")) av_dict_set(&fmt->metadata, "title", v->meta[i].value, 0);
    }
    av_dict_set(&fmt->metadata, "comment", comment, 0);
    av_dict_set(&fmt->metadata, "encoder", "raylight-gen " RL_VERSION, 0);
    if ((r = avio_open(&fmt->pb, tmp, AVIO_FLAG_WRITE)) < 0) {
        av_fail(path, "opening the file", r);
        goto done;
    }
    opened = 1;
    AVDictionary *mux = NULL;
    av_dict_set(&mux, "movflags", "+faststart+use_metadata_tags", 0);
    r = avformat_write_header(fmt, &mux);
    av_dict_free(&mux);
    if (r < 0) {
        av_fail(path, "writing the MP4 header", r);
        goto done;
    }
    fr->format = cc->pix_fmt;
    fr->width = cc->width;
    fr->height = cc->height;
    if ((r = av_frame_get_buffer(fr, 0)) < 0) {
        av_fail(path, "allocating a frame", r);
        goto done;
    }
    sws = sws_getContext(v->width, v->height, AV_PIX_FMT_RGB24, v->width, v->height, AV_PIX_FMT_YUV420P,
                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
    if (!sws) {
        rl_error_set("writing %s: cannot set up the RGB to YUV conversion", path);
        goto done;
    }
    const int *coef = sws_getCoefficients(SWS_CS_ITU709);
    sws_setColorspaceDetails(sws, coef, 1, coef, 0, 0, 1 << 16, 1 << 16);
    for (int f = 0; f < v->frames; f++) {
        if ((r = av_frame_make_writable(fr)) < 0) {
            av_fail(path, "preparing a frame", r);
            goto done;
        }
        rl_frame_to_rgb8(v, f, rgb);
        const uint8_t *src[1] = {rgb};
        int stride[1] = {v->width * 3};
        sws_scale(sws, src, stride, 0, v->height, fr->data, fr->linesize);
        fr->pts = f;
        if (encode(path, fmt, cc, st, fr, pkt) != 0) goto done;
    }
    if (encode(path, fmt, cc, st, NULL, pkt) != 0) goto done;
    if ((r = av_write_trailer(fmt)) < 0) {
        av_fail(path, "finishing the MP4", r);
        goto done;
    }
    rc = 0;
done:
    if (opened) avio_closep(&fmt->pb);
    sws_freeContext(sws);
    free(rgb);
    av_packet_free(&pkt);
    av_frame_free(&fr);
    avcodec_free_context(&cc);
    avformat_free_context(fmt);
    if (rc == 0 && rename(tmp, path) != 0) rc = rl_error_set("cannot move %s into place as %s", tmp, path);
    if (rc != 0) remove(tmp);
    return rc;
}

#endif
