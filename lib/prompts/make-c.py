#!/usr/bin/env python3
"""Regenerate lib/ragas_prompts.c from lib/prompts/NAME.txt (run from the top of the tree).
test-ragas fails when the two disagree."""
names = ["statements", "faithfulness", "questions", "noncommittal", "context_precision",
         "context_recall", "claims", "claim_support"]
out = ["/* ragas_prompts.c: the built-in judge prompts (made from lib/prompts/NAME.txt by"
       " lib/prompts/make-c.py; test-ragas checks they match). */",
       '#include "config.h"', '', '#include "ragas.h"', '',
       'static const char *const prompts[RAG_PROMPT_N] = {']
for n in names:
    text = open("lib/prompts/%s.txt" % n).read()
    out.append("\t/* %s */" % n)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i == len(lines) - 1 and line == "":
            break
        out.append('\t"%s\\n"' % line.replace("\\", "\\\\").replace('"', '\\"'))
    out[-1] += ","
out += ["};", "", "static const char *const names[RAG_PROMPT_N] = {",
        "\t" + ", ".join('"%s"' % n for n in names) + ",", "};", """
const char *rag_ragas_prompt_name(int p)
{
	return p >= 0 && p < RAG_PROMPT_N ? names[p] : NULL;
}

const char *rag_ragas_prompt_default(int p)
{
	return p >= 0 && p < RAG_PROMPT_N ? prompts[p] : NULL;
}"""]
open("lib/ragas_prompts.c", "w").write("\n".join(out) + "\n")
