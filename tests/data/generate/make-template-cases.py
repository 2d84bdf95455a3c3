#!/usr/bin/env python3
# make-template-cases.py: render the chat templates in templates/ with Python's
# jinja2 configured as Hugging Face transformers' apply_chat_template does
# (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
# tojson = json.dumps(ensure_ascii=False), raise_exception) and record the
# expected strings (or the expected error) in template-cases.json.
# Run: python3 make-template-cases.py  (needs `pip install jinja2`)
import json, os
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

here = os.path.dirname(os.path.abspath(__file__))

def raise_exception(msg):
    raise TemplateError(msg)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

convs = {
    "sys-multi": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "  Hi there!  "},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "user-only": [{"role": "user", "content": "Explain RAG in one line.\nBe brief."}],
    "multi-nosys": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ],
    "think": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
        {"role": "user", "content": "and 3+3?"},
    ],
}

cases = []
for name in sorted(os.listdir(os.path.join(here, "templates"))):
    if not name.endswith(".jinja"):
        continue
    src = open(os.path.join(here, "templates", name), encoding="utf-8").read()
    tmpl = env.from_string(src)
    for conv, msgs in convs.items():
        for agp in (True, False):
            ctx = dict(messages=msgs, add_generation_prompt=agp, bos_token="<s>", eos_token="</s>",
                       date_string="22 Nov 2026")
            case = dict(template=name, conversation=conv, messages=msgs, add_generation_prompt=agp,
                        bos_token="<s>", eos_token="</s>", date_string="22 Nov 2026")
            try:
                case["expected"] = tmpl.render(**ctx)
            except TemplateError as e:
                case["error"] = str(e)
            cases.append(case)
    if name.startswith("Qwen-Qwen3"):
        ctx = dict(messages=convs["user-only"], add_generation_prompt=True, enable_thinking=False,
                   bos_token="<s>", eos_token="</s>")
        cases.append(dict(template=name, conversation="user-only", messages=convs["user-only"],
                          add_generation_prompt=True, enable_thinking=False, bos_token="<s>",
                          eos_token="</s>", expected=tmpl.render(**ctx)))

with open(os.path.join(here, "template-cases.json"), "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(len(cases), "cases")
