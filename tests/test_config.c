/* test_config.c: named model configs (configs/NAME.json) and model file lookup. */
#include "cli/config.h"
#include "testlib.h"

#include <sys/stat.h>
#include <unistd.h>

static void test_load_by_alias(void) {
    rl_model_config c;
    EXPECT(rl_config_load("wan14b", &c) == 0, "%s", rl_error_message());
    EXPECT(!strcmp(c.name, "wan2.1-t2v-14b"), "name %s", c.name);
    EXPECT(c.steps == 50 && c.cfg == 5.0 && c.shift == 5.0 && c.fps == 16 && c.frames == 81, "defaults");
    EXPECT(!strcmp(c.sampler, "unipc"), "sampler %s", c.sampler);
    EXPECT(strstr(c.negative_prompt, "色调艳丽") == c.negative_prompt, "negative prompt starts as the reference's");
    EXPECT(c.n_sizes == 4, "14B supports 4 sizes, got %d", c.n_sizes);
    rl_config_free(&c);
    EXPECT(rl_config_load("WAN1.3B", &c) == 0, "%s", rl_error_message());
    EXPECT(!strcmp(c.name, "wan2.1-t2v-1.3b") && c.n_sizes == 2, "1.3B: %s, %d sizes", c.name, c.n_sizes);
    rl_config_free(&c);
}

static void test_unknown_model_lists_known(void) {
    rl_model_config c;
    EXPECT(rl_config_load("wan99b", &c) == -1, "unknown model refused");
    const char *m = rl_error_message();
    EXPECT(strstr(m, "wan99b") && strstr(m, "wan2.1-t2v-14b") && strstr(m, "wan2.1-t2v-1.3b"), "%s", m);
}

static void test_find_files(void) {
    char dir[] = "/tmp/rl-test-config-XXXXXX", path[600], found[1024];
    if (!mkdtemp(dir)) return;
    rl_model_config c;
    EXPECT(rl_config_load("wan1.3b", &c) == 0, "%s", rl_error_message());
    EXPECT(rl_config_find_file(&c, RL_COMPONENT_VAE, dir, found, sizeof found) == -1, "missing vae");
    const char *m = rl_error_message();
    EXPECT(strstr(m, "--vae") && strstr(m, dir) && strstr(m, "wan_2.1_vae.safetensors"), "%s", m);
    snprintf(path, sizeof path, "%s/vae", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/vae/wan_2.1_vae.safetensors", dir);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    EXPECT(rl_config_find_file(&c, RL_COMPONENT_VAE, dir, found, sizeof found) == 0, "%s", rl_error_message());
    EXPECT(!strcmp(found, path), "found %s", found);
    remove(path);
    snprintf(path, sizeof path, "%s/vae", dir);
    rmdir(path);
    rmdir(dir);
    rl_config_free(&c);
}

int main(void) {
    RUN(test_load_by_alias);
    RUN(test_unknown_model_lists_known);
    RUN(test_find_files);
    TL_EXIT();
}
