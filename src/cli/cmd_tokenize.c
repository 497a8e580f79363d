/* cmd_tokenize.c: `raylight-gen tokenize --tokenizer F --text S [--clean]`: the ids
 * of S as the tokenizer gives them (with its post-processor's </s>, no padding,
 * no truncation), space-separated on one line. --clean first applies Wan's prompt
 * cleaning (HTML unescape twice, white-space collapse, strip). */
#include "cli/args.h"
#include "cli/commands.h"
#include "io/tokenizer.h"

#include <stdlib.h>

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL, *text = NULL;
    int clean = 0;
    rl_opt opts[] = {
        {"--tokenizer", NULL, "RAYLIGHT_TOKENIZER", RL_OPT_STR, &path, NULL, "FILE", "tokenizer.json or spiece.model", 0, 0, 0},
        {"--text", NULL, NULL, RL_OPT_STR, &text, NULL, "TEXT", "the text to tokenize (UTF-8)", 0, 0, 0},
        {"--clean", NULL, NULL, RL_OPT_FLAG, &clean, NULL, NULL,
         "clean the text first as Wan does (HTML unescape twice, collapse white space, strip)", 0, 0, 0},
    };
    rl_args a = {"tokenize", "tokenize --tokenizer FILE --text TEXT [--clean]",
                 "Prints the token ids of TEXT (with the tokenizer's </s>, unpadded) on one line.", opts, 3, 0, 0,
                 NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    free(a.positional);
    if (a.help) return 0;
    if (!path) return rl_error_set("tokenize: give --tokenizer FILE (a tokenizer.json or spiece.model)");
    if (!text) return rl_error_set("tokenize: give --text TEXT");
    char *cleaned = NULL;
    if (clean && rl_prompt_clean(text, &cleaned) != 0) return -1;
    rl_tokenizer *t;
    if (rl_tokenizer_load(&t, path) != 0) { free(cleaned); return -1; }
    int32_t *ids;
    int n;
    int rc = rl_tokenizer_encode(t, cleaned ? cleaned : text, &ids, &n);
    rl_tokenizer_free(t);
    free(cleaned);
    if (rc != 0) return -1;
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    free(ids);
    return 0;
}
