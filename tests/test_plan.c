/* test_plan.c: the parallel plan (src/parallel/plan.c): automatic choice,
 * given degrees, refusals that list the plans that work, rank coordinates. */
#include "parallel/plan.h"
#include "testlib.h"

static rl_plan plan_of(int world, int64_t heads, int guidance, int u, int r, int cfgp, int *rc) {
    rl_plan p;
    rl_plan_request q = {u, r, cfgp, 0};
    *rc = rl_plan_make(world, heads, guidance, &q, &p);
    return p;
}

#define SAME(p, c, u, r) ((p).cfg == (c) && (p).ulysses == (u) && (p).ring == (r))

static void test_auto(void) {
    int rc;
    rl_plan p = plan_of(1, 12, 1, 0, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 1, 1, 1), "world 1: %d %d %d", p.cfg, p.ulysses, p.ring);
    p = plan_of(2, 12, 1, 0, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 2, 1, 1), "world 2 with guidance: cfg first, got %d %d %d", p.cfg, p.ulysses, p.ring);
    p = plan_of(2, 12, 0, 0, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 1, 2, 1), "world 2 without guidance: ulysses, got %d %d %d", p.cfg, p.ulysses, p.ring);
    p = plan_of(8, 12, 1, 0, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 2, 4, 1), "world 8, 12 heads: cfg 2 x ulysses 4, got %d %d %d", p.cfg, p.ulysses, p.ring);
    p = plan_of(16, 12, 1, 0, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 2, 4, 2), "world 16, 12 heads: cfg 2 x ulysses 4 x ring 2, got %d %d %d", p.cfg,
           p.ulysses, p.ring);
    p = plan_of(8, 5, 0, 0, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 1, 1, 8), "world 8, 5 heads: ring 8, got %d %d %d", p.cfg, p.ulysses, p.ring);
    p = plan_of(3, 1, 1, 0, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 1, 1, 3), "odd world, one head: ring 3, got %d %d %d", p.cfg, p.ulysses, p.ring);
    p = plan_of(4, 40, 0, 0, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 1, 4, 1) && p.world == 4, "world 4, 40 heads: ulysses 4");
}

static void test_given(void) {
    int rc;
    rl_plan p = plan_of(4, 2, 1, 2, 2, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 1, 2, 2), "ulysses 2 x ring 2: %s", rl_error_message());
    p = plan_of(4, 2, 1, 2, 0, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 1, 2, 2), "--ulysses 2 alone fills the ring with the rest (no auto cfg)");
    p = plan_of(4, 2, 1, 0, 0, 1, &rc);
    EXPECT(rc == 0 && SAME(p, 2, 2, 1), "--cfg-parallel alone: ulysses for the rest");
    p = plan_of(2, 1, 1, 0, 2, 0, &rc);
    EXPECT(rc == 0 && SAME(p, 1, 1, 2), "--ring 2 on one head");
    p = plan_of(8, 4, 1, 0, 2, 1, &rc);
    EXPECT(rc == 0 && SAME(p, 2, 2, 2), "--ring 2 --cfg-parallel on 8: ulysses 2");
}

static void test_refusals(void) {
    int rc;
    plan_of(2, 1, 1, 2, 0, 0, &rc);
    const char *m = rl_error_message();
    EXPECT(rc == -1, "ulysses 2 on one head must be refused");
    EXPECT(strstr(m, "--ulysses 2") && strstr(m, "1 attention head") && strstr(m, "--ulysses 1 --ring 2") &&
               strstr(m, "--ulysses 1 --ring 1 --cfg-parallel"),
           "message names the flag and lists the plans: %s", m);
    plan_of(2, 4, 1, 2, 2, 0, &rc);
    m = rl_error_message();
    EXPECT(rc == -1 && strstr(m, "4 ranks but the world has 2") && strstr(m, "--ulysses 2 --ring 1"), "%s", m);
    plan_of(4, 4, 0, 0, 0, 1, &rc);
    m = rl_error_message();
    EXPECT(rc == -1 && strstr(m, "guidance is off") && !strstr(m, "--cfg-parallel;"), "%s", m);
    plan_of(3, 4, 1, 0, 0, 1, &rc);
    m = rl_error_message();
    EXPECT(rc == -1 && strstr(m, "even number") && strstr(m, "--ulysses 1 --ring 3"), "%s", m);
    plan_of(4, 4, 0, 3, 0, 0, &rc);
    m = rl_error_message();
    EXPECT(rc == -1 && strstr(m, "--ulysses 3") && strstr(m, "does not divide"), "%s", m);
    plan_of(4, 4, 0, -1, 0, 0, &rc);
    EXPECT(rc == -1, "negative degree refused");
}

static void test_list_and_coords(void) {
    char buf[512];
    rl_plan_list(4, 2, 1, buf, sizeof buf);
    EXPECT(!strcmp(buf, "--ulysses 2 --ring 1 --cfg-parallel; --ulysses 1 --ring 2 --cfg-parallel; "
                        "--ulysses 2 --ring 2; --ulysses 1 --ring 4"),
           "list: %s", buf);
    char small[8];
    rl_plan_list(4, 2, 1, small, sizeof small);
    EXPECT(strlen(small) == 7, "a short buffer is filled and terminated: '%s'", small);
    rl_plan p = {8, 2, 2, 2};
    rl_plan_coords c = rl_plan_coords_of(&p, 7);
    EXPECT(c.cfg_index == 1 && c.sp_rank == 3 && c.ulysses_index == 1 && c.ring_index == 1, "coords of 7");
    c = rl_plan_coords_of(&p, 2);
    EXPECT(c.cfg_index == 0 && c.sp_rank == 2 && c.ulysses_index == 0 && c.ring_index == 1, "coords of 2");
    rl_plan_describe(&p, buf, sizeof buf);
    EXPECT(!strcmp(buf, "cfg 2 x ulysses 2 x ring 2 (8 ranks)"), "%s", buf);
}

int main(void) {
    RUN(test_auto);
    RUN(test_given);
    RUN(test_refusals);
    RUN(test_list_and_coords);
    TL_EXIT();
}
