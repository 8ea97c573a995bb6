#!/usr/bin/python3
"""Reference renderer for the chat-template parity tests: Python's Jinja2 set up as transformers'
_compile_jinja_template sets it up, and render_jinja_template's continue_final_message trimming.

Reads JSON lines from stdin, one case each:
  {"id": ..., "template": str, "messages": [...], "tools": ..., "documents": ...,
   "add_generation_prompt": bool, "continue_final_message": bool,
   "special_tokens": {...}, "kwargs": {...}}
and writes one JSON line per case: {"id", "ok": true, "text"} or {"id", "ok": false, "error", "type"}.
Run with Debian's /usr/bin/python3, which has jinja2.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateRaised(jinja2.exceptions.TemplateError):
    pass


def raise_exception(message):
    raise TemplateRaised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers replaces Jinja's tojson, which escapes HTML characters.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


class GenerationTag(jinja2.ext.Extension):
    # transformers' AssistantTracker: {% generation %}...{% endgeneration %} renders its body.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


_cache = {}


def compile_template(source):
    if source not in _cache:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[GenerationTag, loopcontrols])
        env.filters["tojson"] = tojson
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = strftime_now
        _cache[source] = env.from_string(source)
    return _cache[source]


def render(case):
    template = compile_template(case["template"])
    messages = case.get("messages", [])
    if case.get("continue_final_message") and case.get("add_generation_prompt"):
        raise ValueError("continue_final_message and add_generation_prompt are not compatible")
    kwargs = {**case.get("special_tokens", {}), **case.get("kwargs", {})}
    rendered = template.render(messages=messages, tools=case.get("tools"), documents=case.get("documents"),
                               add_generation_prompt=case.get("add_generation_prompt", False), **kwargs)
    if case.get("continue_final_message"):
        final_message = messages[-1]["content"]
        if isinstance(final_message, (list, tuple)):
            for block in reversed(final_message):
                if "text" in block:
                    final_message = block["text"]
                    break
            else:
                raise ValueError("continue_final_message is set but we could not find any text to continue")
        if final_message.strip() not in rendered:
            raise ValueError("continue_final_message is set but the final message does not appear in the chat")
        loc = rendered.rindex(final_message.strip())
        if rendered[loc:loc + len(final_message.lstrip())] == final_message:
            rendered = rendered[:loc + len(final_message.lstrip())]
        else:
            rendered = rendered[:loc + len(final_message.strip())]
    return rendered


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        try:
            out = {"id": case.get("id"), "ok": True, "text": render(case)}
        except Exception as e:  # every failure is data for the comparison
            out = {"id": case.get("id"), "ok": False, "error": str(e), "type": type(e).__name__}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
