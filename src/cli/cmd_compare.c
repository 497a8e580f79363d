/* cmd_compare.c: `raylight-gen compare A.safetensors[:tensor] B.safetensors[:tensor]
 * [--tol X]`: the difference of two tensors (two runs' latents, a GPU output
 * against a golden file): max |a-b|, max |a-b| / max |b| (the project's relative
 * error), and NaN/Inf counts; with --tol, exit status 1 when the relative error
 * exceeds it. */
#include "cli/args.h"
#include "cli/commands.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Opens "file[:tensor]" and reads the tensor (the only one when unnamed) as f32. */
static int load_tensor(const char *spec, rl_safetensors *st, float **data, const rl_st_tensor **out) {
    char path[4096];
    snprintf(path, sizeof path, "%s", spec);
    char *colon = strrchr(path, ':');
    const char *name = NULL;
    if (colon && !strchr(colon, '/')) {
        *colon = 0;
        name = colon + 1;
    }
    RL_TRY(rl_st_open(st, path));
    const rl_st_tensor *t = NULL;
    if (name) t = rl_st_find(st, name);
    else if (st->n_tensors == 1) t = &st->tensors[0];
    if (!t) {
        rl_error_set("%s: %s; name one as %s:TENSOR", path, name ? "no such tensor" : "holds several tensors", path);
        rl_st_close(st);
        return -1;
    }
    size_t esz = t->dtype == RL_ST_OPAQUE ? 0 : rl_dtype_size(t->dtype);
    size_t n = esz ? t->nbytes / esz : 0;
    *data = malloc(n * sizeof(float) + 1);
    if (!*data || rl_st_read_as(st, t, RL_F32, *data) != 0) {
        if (*data) rl_error_wrap("compare");
        else rl_error_set("out of memory reading %s", spec);
        free(*data);
        rl_st_close(st);
        return -1;
    }
    *out = t;
    return 0;
}

int cmd_compare(int argc, char **argv) {
    double tol = 0;
    rl_opt opts[] = {
        {"--tol", NULL, NULL, RL_OPT_FLOAT, &tol, "0", "X", "fail (exit 1) when the relative error exceeds X (0 = report only)", 0, 1e30, 0},
    };
    rl_args a = {"compare", "compare A.safetensors[:TENSOR] B.safetensors[:TENSOR] [--tol X]",
                 "Compares two tensors: max |a-b| and max |a-b| / max |b| (B is the reference).", opts, 1, 2, 2,
                 NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    if (a.help) {
        free(a.positional);
        return 0;
    }
    rl_safetensors sa, sb;
    float *x = NULL, *y = NULL;
    const rl_st_tensor *ta, *tb;
    int rc = load_tensor(a.positional[0], &sa, &x, &ta);
    if (rc == 0 && load_tensor(a.positional[1], &sb, &y, &tb) != 0) {
        rl_st_close(&sa);
        free(x);
        rc = -1;
    }
    if (rc != 0) {
        free(a.positional);
        return -1;
    }
    if (ta->nbytes / rl_dtype_size(ta->dtype) != tb->nbytes / rl_dtype_size(tb->dtype) || ta->ndim != tb->ndim ||
        memcmp(ta->shape, tb->shape, sizeof(int64_t) * (size_t)ta->ndim) != 0) {
        rc = rl_error_set("compare: '%s' and '%s' have different shapes", ta->name, tb->name);
    } else {
        size_t n = ta->nbytes / rl_dtype_size(ta->dtype);
        double maxdiff = 0, maxref = 0;
        size_t bad_a = 0, bad_b = 0, worst = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(x[i])) bad_a++;
            if (!isfinite(y[i])) bad_b++;
            if (!isfinite(x[i]) || !isfinite(y[i])) continue;
            double d = fabs((double)x[i] - y[i]);
            if (d > maxdiff) maxdiff = d, worst = i;
            if (fabs((double)y[i]) > maxref) maxref = fabs((double)y[i]);
        }
        double rel = (bad_a || bad_b) ? INFINITY : maxref > 0 ? maxdiff / maxref : maxdiff;
        printf("%s vs %s: %zu values, max abs diff %.3e (at %zu: %.7g vs %.7g), max |ref| %.4g, rel err %.3e%s\n",
               ta->name, tb->name, n, maxdiff, worst, n ? x[worst] : 0.0, n ? y[worst] : 0.0, maxref, rel,
               bad_a || bad_b ? " (non-finite values!)" : "");
        if (bad_a || bad_b) printf("non-finite: %zu in A, %zu in B\n", bad_a, bad_b);
        if (tol > 0 && !(rel <= tol))
            rc = rl_error_set("compare: relative error %.3e exceeds --tol %g", rel, tol);
    }
    free(x);
    free(y);
    rl_st_close(&sa);
    rl_st_close(&sb);
    free(a.positional);
    return rc;
}
