#!/usr/bin/env python3
"""Golden files for tests/test_tokenizer.c: a small SentencePiece unigram model and
the token ids HF `tokenizers` gives for it, plus Wan's prompt cleaning.

1. Trains a unigram model (byte_fallback, T5's special ids: pad 0, eos 1, unk 2)
   on a synthetic multi-script corpus. Normalization: the nmt_nfkc rules, restricted
   to the rules whose key starts with a character that occurs in the training corpus
   or in a test string (the full nmt_nfkc charsmap is 237 KB and would be stored
   twice; for every string below the restricted map normalizes exactly like the
   full one, because a trie lookup only visits keys that are prefixes of the text).
   The rules are read back out of a throwaway nmt_nfkc model by walking its
   double-array trie, written as a TSV and compiled by sentencepiece itself.
2. Converts it the way transformers converts T5 (T5TokenizerFast(vocab_file=...),
   save_pretrained), giving tokenizer.json.
3. Encodes every test string with `tokenizers` (add_special_tokens=True) for the
   saved tokenizer.json and for variants made by editing its text:
     always: as saved (prepend_scheme "always", byte_fallback false)
     first:  "prepend_scheme":"first"
     never:  "prepend_scheme":"never"
     bytefb: "byte_fallback":true
   The C test makes the same text edits, so the JSON parser is exercised too.
4. Wan's clean ('whitespace' mode): ftfy.fix_text, html.unescape twice, strip,
   regex \\s+ -> ' ', strip (tests/golden/prompt_clean/ covers ftfy in depth).

Writes tests/golden/tokenizer/{spiece.model,tokenizer.json,ids.txt,clean.txt}.
ids.txt: one line per string: hex(UTF-8 string) TAB ids(always) TAB ids(first)
TAB ids(never) TAB ids(bytefb), ids space-separated ("-" for an empty hex).
clean.txt: hex(input) TAB hex(output).
Run from anywhere: python3 scripts/golden/make_tokenizer_golden.py
"""
import html
import os
import random
import struct
import tempfile

import ftfy
import regex
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb
from tokenizers import Tokenizer
from transformers import T5TokenizerFast

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "tokenizer")

BASE = """A red fox runs through the snow under a pale winter sky.
The camera slowly pans across a quiet harbor at sunrise, boats rocking gently.
A cinematic shot of a cat wearing sunglasses on a beach, 4k, highly detailed.
Der schnelle braune Fuchs springt über den faulen Hund. Größe, Straße, Übermut.
Le café est très chaud; l'été à Paris est magnifique, n'est-ce pas ?
El niño comió una manzana en la montaña. ¿Dónde está la biblioteca? ¡Olé!
Быстрая коричневая лиса прыгает через ленивую собаку. Привет, как дела?
Москва — столица России. Зимой в Сибири очень холодно и много снега.
敏捷的棕色狐狸跳过了懒狗。今天天气很好，我们去公园散步吧。
一只小猫在雪地里玩耍，电影级画面，高清细节，柔和的光线。
素早い茶色の狐がのろまな犬を飛び越える。東京の夜景はとても綺麗です。
カメラがゆっくりと港を横切る。ひらがなとカタカナと漢字。
빠른 갈색 여우가 게으른 개를 뛰어넘는다. 서울의 밤은 아름답다.
الثعلب البني السريع يقفز فوق الكلب الكسول. مرحبا بالعالم العربي.
तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है। नमस्ते दुनिया।
Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.
Emoji time 😀 🎉 🦊 ❤️ 👍🏽 👨‍👩‍👧 🇫🇷 — fun!
Numbers 1234567890, prices $19.99 and €5,00; e-mail: test@example.com.
Full-width ＡＢＣ １２３ and ligatures ﬁ ﬂ and ① ② ③ and ™ ℃ ㎏."""

SYLLABLES = {
    "latin": "ka ri to mo na lu se vi da pe zo gra stra ble tion ing er ou".split(),
    "cyr": "ка ри то мо на лу се ви да пе зо гра стра бле ция ние ать".split(),
    "greek": "κα ρι το μο να λυ σε βι δα πε ζω".split(),
    "kana": "か り と も な る せ び だ ぺ ぞ カ リ ト モ ナ ル セ ビ".split(),
    "han": list("山水火木金土日月人心手口目耳天地花鳥風雲雪雨電光影"),
    "hangul": list("가나다라마바사아자차카타파하서울밤"),
    "arabic": "كا ري تو مو نا لو سي في دا بي".split(),
    "deva": "क रि तो मो ना लु से वि दा पे क्ष त्र".split(),
}


def corpus_lines():
    rnd = random.Random(5)
    lines = BASE.splitlines() * 10
    words = " ".join(BASE.splitlines()).split()
    for _ in range(3000):
        lines.append(" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 12))))
    for _ in range(9000):
        syl = SYLLABLES[rnd.choice(list(SYLLABLES))]
        ws = ["".join(rnd.choice(syl) for _ in range(rnd.randint(1, 4))) for _ in range(rnd.randint(2, 9))]
        lines.append(" ".join(ws))
    return lines


def test_strings():
    s = [
        "", " ", "   ", "\t", "\n", "\r\n", " \t\n ", "a", "A", "hello", "Hello world", "Hello  world",
        "Hello   world", "  leading", "trailing  ", "  both  ", "tab\there", "new\nline", "cr\r\nlf",
        "multi\n\n\nlines", "a \t b", "x\u3000y", "x\u00a0y", "x\u2003y", "x\u200by", "x\u200cy",
        "x\u200dy", "\ufeffbom", "x\u2060y", "soft\u00adhyphen", "ctrl\x01\x02\x7f", "bell\x07",
        "The quick brown fox jumps over the lazy dog.", "A red fox runs through the snow.",
        "Punctuation: !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "...", "!!!???", "e-mail: a.b@c.de",
        "3.14159 2.71828 1,000,000", "C++ and C# and F#", "path/to/file.txt", "https://example.com/a?b=c&d=e",
        "ＡＢＣＤＥＦ", "ｈｅｌｌｏ　ｗｏｒｌｄ", "１２３４５", "（全角）", "ﾊﾝｶｸ ｶﾀｶﾅ", "ｶﾞｷﾞｸﾞ", "ﬁne ﬂow ﬀ ﬃ ﬄ",
        "ﬁ", "ﬁ\u0301", "x²+y³=z⁴", "½ ¼ ¾", "Ⅻ ⅷ", "① ② ⑳", "㎏ ㎞ ㍿", "™ ℃ ℉ №", "Å Ω K",
        "ℌℑℜ", "𝐇𝐞𝐥𝐥𝐨", "𝕏", "…", "“quotes” ‘single’ «guillemets»", "— – ‐ ‑",
        "café", "cafe\u0301", "e\u0301", "a\u0308", "A\u030a", "o\u0302\u0323", "n\u0303",
        "Z\u0351\u0352\u0353\u0354\u0355\u0356a\u0357\u0358\u0359\u035a\u035bl\u035c\u035dg\u035eo",
        "\u0301", "\u0301\u0301", " \u0301", "\u0915\u094d\u0937", "\u0915\u094d\u200d\u0937",
        "नमस्ते दुनिया", "क्षत्रिय", "हिन्दी", "\u0915\u093c", "ঙ্গ", "ক্ষ", "தமிழ்",
        "Größe Straße Übermut", "Ærøskøbing", "İstanbul ıi", "ǅ ǈ ǋ", "ß ẞ",
        "Быстрая коричневая лиса", "Привет, как дела?", "Ё ё Й й", "Й", "И\u0306",
        "敏捷的棕色狐狸", "今天天气很好，我们去公园散步吧。", "一只小猫在雪地里玩耍", "龘 齉 鱻", "𠀀𠀁",
        "素早い茶色の狐", "カメラがゆっくりと港を横切る。", "ひらがな カタカナ 漢字", "が", "か\u3099",
        "ガ", "カ\u3099", "ﾞ", "ㇰ", "〜～", "「括弧」『二重』",
        "빠른 갈색 여우", "서울의 밤", "\u1100\u1161", "\u1100\u1161\u11a8", "한\u11a8", "ᄀᄀᄀ",
        "الثعلب البني السريع", "مرحبا بالعالم", "بِسْمِ ٱللَّٰهِ", "ﻻ ﷲ ﷺ", "١٢٣ ۴۵۶", "עברית שלום",
        "Η γρήγορη καφέ αλεπού", "ΆΈΉ ά", "ᾳ ᾼ", "ไทย ภาษาไทย", "ລາວ", "ქართული", "Հայերեն",
        "😀", "😀😀😀", "🎉 party", "🦊", "❤️", "❤\ufe0f", "👍🏽", "👍\U0001F3FD", "👨‍👩‍👧", "👨‍👩‍👧‍👦",
        "👩🏽‍💻", "🏳️‍🌈", "🇫🇷", "🇫🇷🇩🇪", "🇫🇷🇩", "🇺", "1️⃣", "#️⃣", "©️", "☺", "☺️", "🫠", "🧑‍🤝‍🧑",
        "a😀b", "😀\u0301", "\u200d", "\u200d😀", "😀\u200d", "text🦊fox", "🦊\u200d🔥",
        "</s>", "hello</s>", "</s>hello", "a </s> b", "<pad>", "<unk>", "<extra_id_0>",
        "x<extra_id_5>y", "＜extra_id_0＞", "<s>", "</s></s>", "< /s>", "</s >",
        "\U0010FFFF", "\ue000", "\U000E0001", "\U000E0041\U000E007F", "\U0001D400",
        "mixed English и русский 和中文 と日本語 و العربية", "Numbers 1234567890 and €5,00",
        "A cinematic shot of a cat wearing sunglasses on a beach, 4k, highly detailed.",
        "x\u0085y", "x\u2028y\u2029z", "x\u180ey", "x\u1680y", "x\u205fy", "x\u202fy", "\x1c\x1d\x1e\x1f",
        "x\u00ady", "\u00ad", "\u034f", "x\u034fy", "\ufe0f", "a\ufe00b", "\U000E0100",
    ]
    rnd = random.Random(11)
    pool = "".join(BASE.split()) + " \t\n\u3000\u00a0\u200b\u200d\u0301\u0308\ufe0f\U0001F3FD" \
        + "ﬁ①ＡＢ１ｶﾞ\u1100\u1161\u11a8\u094d\u0915\u0937🇫🇷"
    for _ in range(90):
        s.append("".join(rnd.choice(pool) for _ in range(rnd.randint(1, 40))))
    long = " ".join(BASE.splitlines()) + " "
    s.append((long * 4)[:2400])
    s.append("word " * 700)
    return s


def clean_strings():
    return [
        "", "  plain text  ", "a&amp;b", "a&amp;amp;b", "a&amp;amp;amp;b", "&lt;tag&gt;", "&lt &gt &amp",
        "&quot;q&quot; &apos;a&apos;", "&#65;&#66;&#x43;&#X44;", "&#0;", "&#128;&#150;&#x9F;", "&#xD800;",
        "&#x110000;", "&#1114111;", "&#65", "&#x41", "&#;", "&#x;", "&copy; &reg; &trade;", "&copy2024",
        "&notit; &notin; &not", "&nbsp;x&nbsp;", "&NotEqualTilde;", "&unknown;", "&AMP;", "&ampx",
        "caf&eacute;", "&eacute", "&Aacute;&aacute", "&lt;&lt;&lt;", "&amp;lt;", "&amp;#65;",
        "tabs\tand\nnewlines\r\nhere", "many     spaces", "\u3000ideographic\u3000space\u3000",
        "nb\u00a0sp", "x\u0085y", "x\u2028y", "x\u200by", "x\x1cy\x1dz", "x\u180ey", "\u2003em\u2002en ",
        "&#32;&#32;x&#9;y&#10;", "&nbsp;&nbsp;", "a&zwj;b", "&hellip;&mdash;&ndash;", "&frac12;&frac14",
        "&#x1F600;", "&#128512;", "&#x000041;", "&#00000000065;", "&#99999999999999999999;", "&", "&&",
        "&;", "& amp;", "&amp", "&ampamp;", "&lt;b&gt;bold&lt;/b&gt;", "Tom &amp; Jerry &amp;amp; friends",
        "&Ascr;&bne;&nvlt;", "&acE;", "&ThickSpace;", "&NewLine;x&Tab;y", "&#13;&#10;", "&#x80;&#x81;",
        "&#xFFFE;&#xFFFF;&#x1FFFF;", "&#x0B;&#x0C;", "&#127;&#x7F;", "&#xE;&#1;",
    ]


def wan_clean(t):
    t = html.unescape(html.unescape(ftfy.fix_text(t))).strip()
    return regex.sub(r"\s+", " ", t).strip()


def read_charsmap_rules(model_path):
    """All (key, value) pairs of a model's precompiled charsmap, by walking its trie."""
    m = pb.ModelProto()
    m.ParseFromString(open(model_path, "rb").read())
    cm = m.normalizer_spec.precompiled_charsmap
    n = struct.unpack("<I", cm[:4])[0]
    arr = struct.unpack("<%dI" % (n // 4), cm[4:4 + n])
    norm = cm[4 + n:]
    rules = {}

    def offset(u):
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    stack = [(offset(arr[0]), b"")]
    while stack:
        pos, key = stack.pop()
        for c in range(1, 256):
            child = pos ^ c
            if child >= len(arr) or (arr[child] & ((1 << 31) | 0xFF)) != c:
                continue
            npos = child ^ offset(arr[child])
            k = key + bytes([c])
            if (arr[child] >> 8) & 1:
                v = arr[npos] & 0x7FFFFFFF
                rules[k] = norm[v:norm.index(b"\0", v)]
            stack.append((npos, k))
    return rules


def train(tmp, lines, rule_args):
    path = os.path.join(tmp, "corpus.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    prefix = os.path.join(tmp, "sp")
    spm.SentencePieceTrainer.train(
        input=path, model_prefix=prefix, model_type="unigram", vocab_size=3000, byte_fallback=True,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=0.995, hard_vocab_limit=False,
        num_threads=2, minloglevel=2, **rule_args)
    return prefix + ".model"


def main():
    os.makedirs(OUT, exist_ok=True)
    lines, tests, cleans = corpus_lines(), test_strings(), clean_strings()
    with tempfile.TemporaryDirectory() as tmp:
        full = train(tmp, lines[:2000], {"normalization_rule_name": "nmt_nfkc"})
        rules = read_charsmap_rules(full)
        chars = set("".join(lines)) | set("".join(tests))
        keep = {k: v for k, v in rules.items() if k.decode("utf-8")[0] in chars}
        tsv = os.path.join(tmp, "rules.tsv")
        with open(tsv, "w", encoding="utf-8") as f:
            for k, v in sorted(keep.items()):
                src = " ".join("%X" % ord(c) for c in k.decode("utf-8"))
                dst = " ".join("%X" % ord(c) for c in v.decode("utf-8"))
                f.write("%s\t%s\n" % (src, dst))
        model = train(tmp, lines, {"normalization_rule_tsv": tsv})
        data = open(model, "rb").read()
        with open(os.path.join(OUT, "spiece.model"), "wb") as f:
            f.write(data)
        # The restricted map must agree with the full nmt_nfkc map on every key it kept.
        assert read_charsmap_rules(model) == keep, "restricted charsmap differs from nmt_nfkc"
        T5TokenizerFast(vocab_file=model, legacy=True).save_pretrained(os.path.join(tmp, "hf"))
        # Stored as tokenizers' own compact serialization of the saved file (same content, less space).
        text = Tokenizer.from_file(os.path.join(tmp, "hf", "tokenizer.json")).to_str()
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)

    def variant(a, b):
        assert a in text, a
        return Tokenizer.from_str(text.replace(a, b))

    toks = [Tokenizer.from_str(text),
            variant('"prepend_scheme":"always"', '"prepend_scheme":"first"'),
            variant('"prepend_scheme":"always"', '"prepend_scheme":"never"'),
            variant('"byte_fallback":false', '"byte_fallback":true')]
    n_ids = 0
    with open(os.path.join(OUT, "ids.txt"), "w") as f:
        for s in tests:
            cols = [s.encode("utf-8").hex() or "-"]
            for t in toks:
                ids = t.encode(s, add_special_tokens=True).ids
                n_ids += len(ids)
                cols.append(" ".join(map(str, ids)))
            f.write("\t".join(cols) + "\n")
    with open(os.path.join(OUT, "clean.txt"), "w") as f:
        for s in cleans:
            f.write("%s\t%s\n" % (s.encode("utf-8").hex() or "-", wan_clean(s).encode("utf-8").hex() or "-"))
    longest = max(len(toks[0].encode(s).ids) for s in tests)
    print("%d rules kept of %d; vocab %d; %d strings (longest %d ids), %d ids in all; %d clean cases"
          % (len(keep), len(rules), len(toks[0].get_vocab()), len(tests), longest, n_ids, len(cleans)))


if __name__ == "__main__":
    main()
