/* prompts_file.h: --prompts-file, many renders from one file. Each line is a
 * prompt (plain text), or, when it starts with '{', a JSON object
 *   {"prompt": S, "negative_prompt": S, "seed": N, "size": "WxH", "frames": N,
 *    "steps": N, "output": "name.mp4"}
 * where only "prompt" is required. Blank lines and lines starting with '#' are
 * skipped. Every line is checked while reading; an error names FILE:LINE. */
#ifndef RL_PROMPTS_FILE_H
#define RL_PROMPTS_FILE_H

#include "pipeline/t2v.h"

typedef struct {
    char *prompt, *negative_prompt, *output; /* malloc'd; NULL = not given */
    char *label;                             /* "FILE:LINE" */
    uint64_t seed;
    int has_seed, width, height, frames, steps; /* 0 = not given */
} rl_prompt_line;

/* Reads and checks every line of path; *lines is malloc'd [*n] (n >= 1). */
int rl_prompts_file_read(const char *path, rl_prompt_line **lines, int *n);
void rl_prompts_file_free(rl_prompt_line *lines, int n);

/* The numbered default for prompt k (0-based) of a batch: "out.mp4" ->
 * "out_0001.mp4", "dir/" -> "dir/0001/" (PNG frames), "x" -> "x_0001". */
int rl_prompts_numbered_name(const char *base, int k, char *buf, size_t cap);

/* One request per line: base's settings with the line's own ones on top. A line
 * without a seed takes base->seed (when seed_is_random: base->seed + k, so each
 * line gets its own random seed); a line without an output takes the numbered
 * name of base->output, and base->save_latents (when set) is numbered the same
 * way. *reqs and *names (the strings the requests point into) are malloc'd;
 * free them with rl_prompts_requests_free. */
int rl_prompts_make_requests(const rl_prompt_line *lines, int n, const rl_t2v_request *base, int seed_is_random,
                             rl_t2v_request **reqs, char ***names);
void rl_prompts_requests_free(rl_t2v_request *reqs, char **names, int n);

#endif
