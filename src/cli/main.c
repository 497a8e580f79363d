/* main.c: raylight-gen's entry point: picks the subcommand and turns a failed
 * command's error sentence into one line on stderr and exit status 1. */
#include "cli/commands.h"
#include "raylight.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, "list the tensors of a safetensors file and the checkpoint format it holds"},
    {"eval", cmd_eval, "run one module (dit, t5, vae-decode, vae-encode, noise) on inputs from a file"},
    {"tokenize", cmd_tokenize, "print the token ids of a text (tokenizer.json or spiece.model)"},
    {"compare", cmd_compare, "compare two tensors (two runs' latents, an output against a reference)"},
    {"bench", cmd_bench, "time a module (dit, attention, vae) on random full-size weights"},
    {"version", cmd_version, "print the version, compiled backends and library versions"},
    {"make-tiny", cmd_make_tiny, "write small random models (deterministic from a seed) for demos and tests"},
};

static void print_usage(FILE *f) {
    fprintf(f, "usage: raylight-gen [options] --prompt TEXT -o OUT   (render; see raylight-gen --help)\n"
               "       raylight-gen COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nraylight-gen COMMAND --help describes each command.\n");
}

int main(int argc, char **argv) {
    if (argc >= 2 && argv[1][0] != '-') {
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (!strcmp(argv[1], commands[i].name)) {
                int rc = commands[i].run(argc - 2, argv + 2);
                if (rc != 0) rl_die("%s", rl_error_message());
                return 0;
            }
        fprintf(stderr, "raylight-gen: error: unknown command '%s'\n", argv[1]);
        print_usage(stderr);
        return 1;
    }
    if (argc >= 2 && !strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    int rc = cmd_render(argc - 1, argv + 1);
    if (rc != 0) rl_die("%s", rl_error_message());
    return 0;
}
