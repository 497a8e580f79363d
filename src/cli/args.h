/* args.h: the one option parser. Each command declares a table of options
 * (flag, environment twin, default, help); parsing applies defaults, then the
 * environment, then argv, and rejects unknown flags and bad values with a
 * sentence naming the flag. --help prints the table with every default. */
#ifndef RL_ARGS_H
#define RL_ARGS_H

#include "raylight.h"

typedef enum {
    RL_OPT_STR,   /* const char ** */
    RL_OPT_INT,   /* int64_t * */
    RL_OPT_FLOAT, /* double * */
    RL_OPT_FLAG,  /* int *: present = 1 (takes no value) */
} rl_opt_type;

typedef struct {
    const char *flag;    /* "--steps" */
    const char *alias;   /* "-o" or NULL */
    const char *env;     /* "RAYLIGHT_STEPS" or NULL */
    rl_opt_type type;
    void *target;
    const char *def;     /* default as text, NULL = unset (STR stays NULL, numbers 0) */
    const char *metavar; /* "N", "FILE" */
    const char *help;
    double min, max;     /* numeric range when min < max */
    int set;             /* out: 1 when given by env or argv */
} rl_opt;

typedef struct {
    const char *command; /* "info", "eval dit", "" for the render command */
    const char *usage;   /* one line after "usage: raylight-gen " */
    const char *summary; /* a sentence */
    rl_opt *opts;
    int n_opts;
    int min_positional, max_positional; /* max < 0: unlimited */
    char **positional;   /* out: points into argv */
    int n_positional;    /* out */
    int help;            /* out: --help was given (help already printed) */
} rl_args;

/* Parses argv[0..argc) (without the program/command words). Returns 0, or -1
 * with an error naming the flag. On --help prints help to stdout, sets help=1. */
int rl_args_parse(rl_args *a, int argc, char **argv);
void rl_args_print_help(const rl_args *a, FILE *f);
/* Finds an option by flag, for "was it given" checks. */
const rl_opt *rl_args_find(const rl_args *a, const char *flag);

#endif
