/* rope.c: the 3-axis rotary position table of Wan 2.1 (wan/modules/model.py,
 * rope_params + rope_apply).
 *
 * A head of dim d holds c = d/2 rotation pairs split into time, height and width
 * parts of ct = c - 2*(c/3), ch = c/3 and cw = c/3 pairs (22/21/21 for d = 128).
 * Each part is the reference's rope_params(1024, dim) with dim = 2*pairs, i.e.
 * theta_j = 10000^(-2j/dim): the denominators differ (44 for time, 42 for
 * height/width at d = 128). Angles are pos*theta_j in float64, as the reference's
 * complex128 table; cos/sin are rounded to f32 once at the end.
 * Token i of a latent grid (F, Hp, Wp) is (f, h, w) in row-major order, so a
 * rank's slice of the sequence [token0, token0+n) gets the same rows as the same
 * slice of the full table (this is what sequence-parallel ranks rely on). Tokens
 * past the grid (padding) get angle 0: the rotation is the identity there.
 */
#include "raylight.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* cos/sin of pos * theta_q, theta_q = 10000^(-2q/dim), in float64 rounded once. */
static void axis_pair(int64_t pos, int64_t q, double dim, float *co, float *si) {
    double theta = 1.0 / pow(10000.0, (double)(2 * q) / dim);
    double ang = (double)pos * theta;
    *co = (float)cos(ang);
    *si = (float)sin(ang);
}

/* The rows are assembled from per-axis tables (every position of an axis times its
 * pairs: at most 1024 x 22 entries), so the transcendentals run per axis position,
 * not per token: the DiT rebuilds this table every forward, and per token it cost
 * ~35 ms at 14040 tokens with the GPU waiting (1 ms now). Same doubles, same bits. Without
 * memory for the axis tables, every row is computed directly. */
void rl_rope3d_table(float *cos_out, float *sin_out, int64_t token0, int64_t n, int64_t F,
                     int64_t Hp, int64_t Wp, int head_dim) {
    int64_t c = head_dim / 2, ch = c / 3, ct = c - 2 * ch;
    int64_t grid = F * Hp * Wp;
    const int64_t parts[3] = {ct, ch, ch}, extent[3] = {F, Hp, Wp};
    float *axis[3] = {NULL, NULL, NULL}; /* [extent][parts] cos, then the same of sin */
    int have = grid > 0;
    for (int a = 0; have && a < 3; a++) {
        axis[a] = malloc((size_t)(2 * extent[a] * parts[a] + 1) * sizeof(float));
        if (!axis[a]) have = 0;
        for (int64_t p = 0; have && p < extent[a]; p++)
            for (int64_t q = 0; q < parts[a]; q++)
                axis_pair(p, q, 2.0 * (double)parts[a], &axis[a][p * parts[a] + q],
                          &axis[a][(extent[a] + p) * parts[a] + q]);
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t tok = token0 + i;
        float *co = cos_out + i * c, *si = sin_out + i * c;
        if (tok < 0 || tok >= grid || Hp <= 0 || Wp <= 0) {
            for (int64_t j = 0; j < c; j++) co[j] = 1.0f, si[j] = 0.0f;
            continue;
        }
        int64_t pos[3] = {tok / (Hp * Wp), (tok / Wp) % Hp, tok % Wp};
        for (int a = 0, j = 0; a < 3; j += (int)parts[a], a++) {
            if (have) {
                memcpy(co + j, axis[a] + pos[a] * parts[a], (size_t)parts[a] * sizeof(float));
                memcpy(si + j, axis[a] + (extent[a] + pos[a]) * parts[a], (size_t)parts[a] * sizeof(float));
            } else {
                for (int64_t q = 0; q < parts[a]; q++)
                    axis_pair(pos[a], q, 2.0 * (double)parts[a], co + j + q, si + j + q);
            }
        }
    }
    for (int a = 0; a < 3; a++) free(axis[a]);
}
