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

void rl_rope3d_table(float *cos_out, float *sin_out, int64_t token0, int64_t n, int64_t F,
                     int64_t Hp, int64_t Wp, int head_dim) {
    int64_t c = head_dim / 2, ch = c / 3, ct = c - 2 * ch;
    int64_t grid = F * Hp * Wp;
    for (int64_t i = 0; i < n; i++) {
        int64_t tok = token0 + i;
        float *co = cos_out + i * c, *si = sin_out + i * c;
        if (tok < 0 || tok >= grid || Hp <= 0 || Wp <= 0) {
            for (int64_t j = 0; j < c; j++) co[j] = 1.0f, si[j] = 0.0f;
            continue;
        }
        int64_t pos[3] = {tok / (Hp * Wp), (tok / Wp) % Hp, tok % Wp};
        int64_t parts[3] = {ct, ch, ch};
        int64_t j = 0;
        for (int axis = 0; axis < 3; axis++) {
            double dim = 2.0 * (double)parts[axis];
            for (int64_t q = 0; q < parts[axis]; q++, j++) {
                double theta = 1.0 / pow(10000.0, (double)(2 * q) / dim);
                double ang = (double)pos[axis] * theta;
                co[j] = (float)cos(ang);
                si[j] = (float)sin(ang);
            }
        }
    }
}
