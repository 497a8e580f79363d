/* commands.h: the subcommands of raylight-gen. Each takes the arguments after
 * its own name and returns the process status (0 ok, 1 error already printed
 * through rl_error_message by main). */
#ifndef RL_COMMANDS_H
#define RL_COMMANDS_H

int cmd_render(int argc, char **argv);   /* the default: text to video/image */
int cmd_info(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_eval(int argc, char **argv);    /* eval <target> ... */
int cmd_compare(int argc, char **argv); /* compare two tensors */
int cmd_bench(int argc, char **argv);   /* timings on random full-size weights */
int cmd_make_tiny(int argc, char **argv); /* small random models */
int cmd_tokenize(int argc, char **argv);  /* text -> token ids */

/* eval targets (src/cli/eval_<target>.c); same contract as commands. */
int eval_noise(int argc, char **argv);
int eval_t5(int argc, char **argv);
int eval_dit(int argc, char **argv);
int eval_vae_decode(int argc, char **argv);
int eval_vae_encode(int argc, char **argv);

#endif
