/* args.c: the option parser behind every subcommand (see args.h). */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *cmd_name(const rl_args *a) { return a->command && a->command[0] ? a->command : "raylight-gen"; }

static int opt_set_value(rl_args *a, rl_opt *o, const char *value, const char *from) {
    char *end = NULL;
    switch (o->type) {
    case RL_OPT_STR: *(const char **)o->target = value; return 0;
    case RL_OPT_FLAG: {
        /* from env: 1/0/true/false */
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes")) *(int *)o->target = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") || !value[0]) *(int *)o->target = 0;
        else return rl_error_set("%s (from %s): '%s' is not a yes/no value; use 1 or 0", o->flag, from, value);
        return 0;
    }
    case RL_OPT_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!value[0] || *end || errno)
            return rl_error_set("%s (from %s): '%s' is not an integer", o->flag, from, value);
        if (o->min < o->max && (v < o->min || v > o->max))
            return rl_error_set("%s (from %s): %lld is out of range; it must be between %.0f and %.0f", o->flag,
                                from, v, o->min, o->max);
        *(int64_t *)o->target = v;
        return 0;
    }
    case RL_OPT_FLOAT: {
        errno = 0;
        double v = strtod(value, &end);
        if (!value[0] || *end || errno || !isfinite(v))
            return rl_error_set("%s (from %s): '%s' is not a number", o->flag, from, value);
        if (o->min < o->max && (v < o->min || v > o->max))
            return rl_error_set("%s (from %s): %g is out of range; it must be between %g and %g", o->flag, from, v,
                                o->min, o->max);
        *(double *)o->target = v;
        return 0;
    }
    }
    (void)a;
    return 0;
}

const rl_opt *rl_args_find(const rl_args *a, const char *flag) {
    for (int i = 0; i < a->n_opts; i++)
        if (!strcmp(a->opts[i].flag, flag)) return &a->opts[i];
    return NULL;
}

static rl_opt *find_opt(rl_args *a, const char *name, size_t len) {
    for (int i = 0; i < a->n_opts; i++) {
        rl_opt *o = &a->opts[i];
        if (strlen(o->flag) == len && !strncmp(o->flag, name, len)) return o;
        if (o->alias && strlen(o->alias) == len && !strncmp(o->alias, name, len)) return o;
    }
    return NULL;
}

int rl_args_parse(rl_args *a, int argc, char **argv) {
    a->n_positional = 0;
    a->help = 0;
    a->positional = calloc((size_t)argc + 1, sizeof(char *));
    if (!a->positional) return rl_error_set("out of memory parsing arguments");
    /* defaults, then environment twins */
    for (int i = 0; i < a->n_opts; i++) {
        rl_opt *o = &a->opts[i];
        o->set = 0;
        switch (o->type) {
        case RL_OPT_STR: *(const char **)o->target = NULL; break;
        case RL_OPT_FLAG: *(int *)o->target = 0; break;
        case RL_OPT_INT: *(int64_t *)o->target = 0; break;
        case RL_OPT_FLOAT: *(double *)o->target = 0; break;
        }
        if (o->def && opt_set_value(a, o, o->def, "its default") != 0) return -1;
        const char *e = o->env ? getenv(o->env) : NULL;
        if (e) {
            char from[96];
            snprintf(from, sizeof from, "environment variable %s", o->env);
            if (opt_set_value(a, o, e, from) != 0) return -1;
            o->set = 1;
        }
    }
    int only_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || !strcmp(arg, "-")) {
            a->positional[a->n_positional++] = argv[i];
            continue;
        }
        if (!strcmp(arg, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            rl_args_print_help(a, stdout);
            a->help = 1;
            return 0;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        rl_opt *o = find_opt(a, arg, len);
        if (!o) {
            /* a negative number given as a positional value is not a flag */
            char *end;
            strtod(arg, &end);
            if (!*end) {
                a->positional[a->n_positional++] = argv[i];
                continue;
            }
            return rl_error_set("unknown flag %.*s for '%s'; see raylight-gen %s%s--help", (int)len, arg,
                                cmd_name(a), a->command ? a->command : "", a->command && a->command[0] ? " " : "");
        }
        const char *value;
        if (o->type == RL_OPT_FLAG) {
            if (eq) return rl_error_set("%s takes no value (got '%s')", o->flag, eq + 1);
            *(int *)o->target = 1;
            o->set = 1;
            continue;
        }
        if (eq) value = eq + 1;
        else if (i + 1 < argc) value = argv[++i];
        else return rl_error_set("%s needs a value (%s)", o->flag, o->metavar ? o->metavar : "VALUE");
        if (opt_set_value(a, o, value, "the command line") != 0) return -1;
        o->set = 1;
    }
    if (a->n_positional < a->min_positional)
        return rl_error_set("'%s' needs %d argument%s; usage: raylight-gen %s", cmd_name(a), a->min_positional,
                            a->min_positional == 1 ? "" : "s", a->usage);
    if (a->max_positional >= 0 && a->n_positional > a->max_positional)
        return rl_error_set("unexpected argument '%s' for '%s'; usage: raylight-gen %s",
                            a->positional[a->max_positional], cmd_name(a), a->usage);
    return 0;
}

void rl_args_print_help(const rl_args *a, FILE *f) {
    fprintf(f, "usage: raylight-gen %s\n", a->usage);
    if (a->summary) fprintf(f, "\n%s\n", a->summary);
    if (a->n_opts) fprintf(f, "\noptions:\n");
    for (int i = 0; i < a->n_opts; i++) {
        const rl_opt *o = &a->opts[i];
        char left[96];
        int n = snprintf(left, sizeof left, "  %s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->flag);
        if (o->type != RL_OPT_FLAG && n > 0 && (size_t)n < sizeof left)
            snprintf(left + n, sizeof left - (size_t)n, " %s", o->metavar ? o->metavar : "VALUE");
        fprintf(f, "%-30s %s", left, o->help);
        if (o->type == RL_OPT_FLAG) fprintf(f, " (default: off)");
        else fprintf(f, " (default: %s)", o->def ? o->def : "none");
        if (o->env) fprintf(f, " [env %s]", o->env);
        fprintf(f, "\n");
    }
    fprintf(f, "  -h, --help                   print this help\n");
}
