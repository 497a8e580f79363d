/* tokenizer_tiny.c: a small SentencePiece-unigram tokenizer.json (special tokens,
 * the 256 byte-fallback pieces, "▁", single characters and a few words), in the
 * layout transformers writes for T5, for make-tiny's demo model: every UTF-8
 * prompt tokenizes (unknown characters fall back to bytes). */
#include "io/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void add_piece(cJSON *vocab, const char *piece, double score) {
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(piece));
    cJSON_AddItemToArray(p, cJSON_CreateNumber(score));
    cJSON_AddItemToArray(vocab, p);
}

static cJSON *added_token(int id, const char *content) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", 0);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "special", 1);
    return t;
}

static cJSON *template_processing(void) {
    cJSON *pp = cJSON_Parse("{\"type\":\"TemplateProcessing\","
                            "\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                            "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
                            "\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                            "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}},"
                            "{\"Sequence\":{\"id\":\"B\",\"type_id\":0}},"
                            "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
                            "\"special_tokens\":{\"</s>\":{\"id\":\"</s>\",\"ids\":[1],\"tokens\":[\"</s>\"]}}}");
    return pp;
}

int rl_tokenizer_write_tiny(const char *path, int *vocab_size) {
    static const char *const words[] = {"the", "a", "in", "of", "and", "on", "with", "red", "fox", "snow", "cat",
                                        "dog", "city", "night", "sea", "sky", "walks", "runs", "over", "forest"};
    cJSON *root = cJSON_CreateObject(), *model = cJSON_CreateObject(), *vocab = cJSON_CreateArray();
    cJSON *added = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    const char *special[3] = {"<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 3; i++) {
        cJSON_AddItemToArray(added, added_token(i, special[i]));
        add_piece(vocab, special[i], 0.0);
    }
    cJSON_AddItemToObject(root, "added_tokens", added);
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer",
                          cJSON_Parse("{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\","
                                      "\"split\":true}"));
    cJSON_AddItemToObject(root, "post_processor", template_processing());
    cJSON_AddNullToObject(root, "decoder");
    for (int b = 0; b < 256; b++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", b);
        add_piece(vocab, piece, 0.0);
    }
    add_piece(vocab, "\xe2\x96\x81", -2.0); /* "▁" */
    for (int c = 33; c < 127; c++) {
        char piece[2] = {(char)c, 0};
        add_piece(vocab, piece, -6.0);
    }
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        char piece[32];
        snprintf(piece, sizeof piece, "\xe2\x96\x81%s", words[i]);
        add_piece(vocab, piece, -3.0 - 0.01 * (double)i);
    }
    *vocab_size = cJSON_GetArraySize(vocab);
    cJSON_AddStringToObject(model, "type", "Unigram");
    cJSON_AddNumberToObject(model, "unk_id", 2);
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddBoolToObject(model, "byte_fallback", 1);
    cJSON_AddItemToObject(root, "model", model);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return rl_error_set("out of memory writing %s", path);
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    if (!ok) return rl_error_set("cannot write %s", path);
    return 0;
}
