#!/usr/bin/env python3
"""Golden file for Wan's prompt cleaning with ftfy (tests/test_prompt_fix.c).

Wan 2.1 (wan/modules/tokenizers.py, clean='whitespace') cleans each prompt with
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    text = re.sub(r"\\s+", " ", text).strip()        # the `regex` module
This runs exactly that (ftfy pinned in requirements.txt) on a fixed list of
strings (curly quotes, ligatures, full and half width, line breaks, control
characters and terminal escapes, combining sequences needing NFC, mojibake of
several kinds, HTML entities, emoji, CJK, plain prompts) plus seeded random mixes
of those ingredients, and writes tests/golden/prompt_clean/cases.jsonl: one JSON
object per line, {"in": ..., "ftfy": fix_text(in), "clean": the whole cleaning}.
Run: python3 scripts/golden/make_prompt_clean_golden.py
"""
import html
import json
import os
import random

import ftfy
import ftfy.bad_codecs  # noqa: F401  (the sloppy-windows-* codecs used to make mojibake)
import regex

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "prompt_clean", "cases.jsonl")


def wan_clean(text):
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return regex.sub(r"\s+", " ", text).strip()


def moji(s, enc="windows-1252"):
    """UTF-8 bytes of s read as a single-byte encoding (sloppy: undefined bytes pass)."""
    return s.encode("utf-8").decode("sloppy-" + enc if enc.startswith("windows") else enc)


def cases():
    c = []
    # curly quotes and apostrophes
    c += ["\u2018single\u2019 and \u201cdouble\u201d", "it\u2019s a fox\u2019s den", "\u201elow\u201c \u201ahigh\u2018",
          "\u201breversed\u201f", "\u02bcmodifier apostrophe", "a \u201cquoted\u201d \u2018prompt\u2019 at dawn",
          "\u00abguillemets\u00bb stay", "\u2039single angle\u203a stay", "prime \u2032 and \u2033 stay",
          "don\u2019t \u201cstop\u201d"]
    # Latin ligatures and digraphs
    c += ["\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06", "a \ufb02uffy \ufb01sh", "e\ufb03cient o\ufb04ine",
          "\u0132sselmeer \u0133s", "\u01c4\u01c5\u01c6 \u01c7\u01c8\u01c9 \u01ca\u01cb\u01cc", "\u01f1\u01f2\u01f3",
          "\u0149 Afrikaans", "ﬁnal ﬂight", "\u00e6sthetic \u0153uvre stay", "\ufb4f Hebrew ligature stays"]
    # full width and half width
    c += ["\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33", "\uff41\uff42\uff43\uff11\uff12\uff13\uff01\uff1f",
          "\uff08\uff3b\uff5b\uff5d\uff3d\uff09", "\uff73\uff9e\uff71\uff70", "\uff76\uff9e\uff77\uff9e\uff78\uff9e",
          "\uffa1\uffa4\uffa7 half hangul", "\uffe0\uffe1\uffe5\uffe6 money", "\uffe8\uffe9\uffea\uffeb\uffec arrows",
          "\u3000ideographic\u3000space\u3000", "\uff26\uff4f\uff58 in \uff53\uff4e\uff4f\uff57"]
    # line breaks
    c += ["line one\r\nline two", "mac\rclassic", "sep\u2028arated", "para\u2029graph", "next\u0085line",
          "\r\n\r\nleading breaks", "trailing\r\n", "mixed\r\n\rbreaks\n\u2028", "tab\tand\fform", "a\u000bvertical tab"]
    # control characters and terminal escapes
    c += ["bell\x07 here", "null-ish\x01\x02\x03 chars", "\x1b[36;44mblue\x1b[0m text", "\x1b[1mbold\x1b[m",
          "esc \x1b alone", "\u206a\u206fdeprecated arabic", "bom\ufeff inside", "\ufffb\ufff9annotation\ufffa",
          "object\ufffc replacement", "del\x7f char", "c1 \x80\x93\x94 controls", "\x9d\x81 undefined c1",
          "joiner a\u200db zwnj a\u200cb stay", "rtl \u202ehello\u202c stay", "\x1b[38;5;196mred\x1b[0m"]
    # combining sequences (NFC)
    c += ["cafe\u0301", "A\u030angstr\u00f6m", "o\u0308 u\u0308 a\u0308", "n\u0303", "a\u0323\u0302 order",
          "a\u0302\u0323 order", "\u1100\u1161\u11a8 jamo", "\u1112\u1161\u11ab\u1100\u1173\u11af", "\u0958 excluded",
          "\u212b angstrom sign", "\u2126 ohm sign", "e\u0301\u0301 double", "\u0041\u030a\u0301", "q\u0307\u0323",
          "\u00c5 already", "\u1e0b\u0323 dot", "\u0915\u093c nukta", "\u05d1\u05bc hebrew", "\u30ab\u3099 kana voiced",
          "i\u0307\u0301 lithuanian"]
    # mojibake: UTF-8 read as windows-1252 / latin-1, whole and in pieces
    words = ["café", "naïve", "résumé", "señor", "Zürich", "façade", "—", "“quoted”", "it’s", "…", "€5",
             "日本語", "привет", "Ελληνικά", "😀 smile", "中文 prompt", "São Paulo", "Ωmega", "à la carte",
             "crème brûlée", "voilà le travail", "½ cup", "© 2024", "Ñandú", "Ægir"]
    c += [moji(w) for w in words]
    c += [moji(w, "latin-1") for w in ["café", "naïve", "“quoted”", "—", "日本"]]
    c += [moji(moji("café")), moji(moji("“hi”"))]                        # twice
    c += [moji("voilà le travail").replace("\xa0", " "), moji("à la mode").replace("\xa0", " ")]  # A0 -> space
    c += ["â€œ like this â€\ufffd", "lossy Ã\ufffd end"]                # lossy decode
    c += ["東京 " + moji("café"), "😀 " + moji("naïve") + " 😀", moji("“quoted”") + " 中文"]  # inconsistent
    c += [moji("привет", "windows-1251"), moji("café", "macroman"), moji("ñ", "cp437")]
    c += ["cafÃ©", "Ã¼ber", "â€˜singleâ€™", "Ã\xa0 propos", "Â£5 Â¥10"]
    # HTML entities (ftfy's unescape, then html.unescape twice)
    c += ["&amp; &lt;b&gt; &quot;x&quot;", "&EACUTE;cole &NTILDE;", "it&#x2019;s &#8220;ok&#8221;", "&nbsp;&nbsp;spaced",
          "&amp;amp;double", "&#59; semicolon", "&#1; &#0; &#x110000;", "&notit; &not", "a < b &amp; c",
          "&hellip; &mdash; &ndash;", "&#128; &#x9f;", "&Eacute &eacute", "&AMP;&LT;", "&#xZZ; &#12ab;",
          "&verylongentitynamethatisnotreal;"]
    # emoji, CJK, scripts
    c += ["a 🦊 in ❄️ snow", "👨‍👩‍👧 family", "🇯🇵 flag", "thumbs 👍🏽", "日本の桜、満開。", "中文提示：一只猫",
          "한국어 프롬프트", "ภาษาไทย", "العربية نص", "עברית", "हिन्दी पाठ", "Ελληνικά κείμενο", "кот в снегу",
          "Tiếng Việt", "ｶﾀｶﾅ and カタカナ"]
    # ordinary prompts
    c += ["a red fox in snow", "  leading and trailing spaces  ", "many    spaces\t\tand\ttabs",
          "A cinematic shot of a cat, 4k, HDR", "Pérez's café — “best” in town…", "50% off! (limited) [sic] {x}",
          "path/to\\file", "email@example.com #tag", "x" * 300, "one\n\ntwo\n\n\nthree", ""]
    return c


def random_cases(n):
    rnd = random.Random(20261124)
    pool = (list("abcxyz ABC.,!?'\"-&;#<>") + ["\u2018", "\u2019", "\u201c", "\u201d", "\ufb01", "\uff21", "\uff41",
            "\u3000", "\r\n", "\r", "\n", "\x07", "\x1b[0m", "e\u0301", "\u1100\u1161", "&amp;", "&eacute;",
            "&#x41;", "😀", "日", "é", "Ã", "©", "Â", "€", "â", "\xa0", "ñ", "ü", "—", "…", "¿", "×", "²", "Ð",
            "Ø", "ß", "µ", "\x85", "\x93"] + [moji(w) for w in ["é", "ü", "—", "“", "日", "😀", "ñ", "à"]] +
            [moji(w, e) for w in ["é", "ж", "ü", "—", "Ω", "ł"] for e in ["windows-1251", "windows-1250", "windows-1253",
                                                                        "macroman", "cp437", "iso-8859-2"]])
    return ["".join(rnd.choice(pool) for _ in range(rnd.randint(1, 14))) for _ in range(n)]


def main():
    out = []
    for s in cases() + random_cases(500):
        if "\x00" in s:
            continue  # prompts reach C as NUL-terminated strings
        out.append({"in": s, "ftfy": ftfy.fix_text(s), "clean": wan_clean(s)})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for o in out:
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    print("%d cases -> %s (%d bytes)" % (len(out), OUT, os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
