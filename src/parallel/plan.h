/* plan.h: the parallel plan: how the world's ranks split the work of one
 * DiT sampling run.
 *
 *   world = cfg x ulysses x ring
 *
 * cfg (1 or 2): the conditional and unconditional passes of classifier-free
 * guidance on two rank groups; ulysses: all-to-all of tokens <-> heads (must
 * divide the head count); ring: K/V blocks passed around a ring. The sequence
 * is split over sp = ulysses x ring ranks.
 *
 * Rank layout (world rank w): w = cfg_index * sp + sp_rank and
 * sp_rank = ring_index * ulysses + ulysses_index, so the ranks of one Ulysses
 * group are neighbours and hold neighbouring token slices. */
#ifndef RL_PARALLEL_PLAN_H
#define RL_PARALLEL_PLAN_H

#include "raylight.h"

typedef struct {
    int world;
    int cfg;     /* 1, or 2 with --cfg-parallel */
    int ulysses; /* >= 1, divides the head count */
    int ring;    /* >= 1 */
} rl_plan;

/* What the user asked for: 0 = not given (chosen by the plan). */
typedef struct {
    int ulysses, ring;
    int cfg_parallel; /* --cfg-parallel given */
    int self_exchange; /* --exchange-self: with sp = 1, exchanges with itself (rl_usp.self_exchange) */
} rl_plan_request;

/* Picks the plan for `world` ranks, a model with `heads` attention heads, and
 * guidance on or off. With nothing requested: CFG parallel when guidance is on
 * and the world is even, then Ulysses as large as the heads and the remaining
 * ranks allow, then ring for the rest. Given degrees are kept and the missing
 * one fills the world. -1 with an error naming the flags and listing the plans
 * that would work when the degrees do not multiply to the world, the heads do
 * not divide by the Ulysses degree, or --cfg-parallel is asked without guidance. */
int rl_plan_make(int world, int64_t heads, int guidance, const rl_plan_request *req, rl_plan *out);

/* Every valid plan for the world, heads and guidance, as "--ulysses 2 --ring 1"
 * alternatives separated by "; " into buf (for messages). */
void rl_plan_list(int world, int64_t heads, int guidance, char *buf, size_t n);

/* "cfg 2 x ulysses 2 x ring 1 (4 ranks)" */
void rl_plan_describe(const rl_plan *p, char *buf, size_t n);

/* Position of world rank w in the plan. */
typedef struct {
    int cfg_index;     /* 0 = conditional group, 1 = unconditional */
    int sp_rank;       /* 0 .. ulysses*ring - 1 */
    int ulysses_index; /* 0 .. ulysses - 1 */
    int ring_index;    /* 0 .. ring - 1 */
} rl_plan_coords;

rl_plan_coords rl_plan_coords_of(const rl_plan *p, int world_rank);

#endif
