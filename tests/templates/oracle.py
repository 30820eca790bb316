"""Loader oracle for chat templates (tests/chat_templates.rs): renders templates with the real
Python Jinja2, in a NON-sandboxed Environment (what llama-cpp-python < 0.2.72 used), so the test
proves what a template really reaches at render time.

Malicious fixtures are rendered as their harmless twin: the template text is unchanged, but the
object the attribute walk starts from (`messages`) is a canary list whose dangerous callables
(`popen`, `system`, `check_output`, ...) only record that they were called, and which records
every dunder attribute fetched from it. No real command can run: the walk never leaves the canary
(the fixtures stop at the first computed hop).

Benign templates must render with ordinary conversations.

Usage: oracle.py MALICIOUS_GLOB_DIR PREFIX BENIGN_DIR... ; prints one JSON object.
"""

import datetime
import json
import pathlib
import sys

import jinja2
from jinja2.ext import loopcontrols

REACHED = []
CALLABLES = {
    "popen", "system", "check_output", "getstatusoutput", "eval", "exec", "spawn",
    "import_module", "load_module", "open",
}


def recorder(name):
    def canary(*args, **kwargs):
        REACHED.append("call:" + name)
        return "canary"
    return canary


class CanaryMessages(list):
    """A `messages` list whose attribute fallbacks are observable."""

    def __getattribute__(self, name):
        if name in CALLABLES:
            REACHED.append("attr:" + name)
            return recorder(name)
        if name.startswith("__") and name.endswith("__") and name not in ("__class_getitem__",):
            REACHED.append("attr:" + name)
        return list.__getattribute__(self, name)


def env():
    e = jinja2.Environment(extensions=[loopcontrols], trim_blocks=True, lstrip_blocks=True)

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    e.globals["raise_exception"] = raise_exception
    e.globals["strftime_now"] = lambda fmt: datetime.datetime(2024, 7, 1).strftime(fmt)
    return e


def strip_generation(src):
    for tag in ("generation", "endgeneration"):
        for o in ("{%-", "{%"):
            for c in ("-%}", "%}"):
                src = src.replace(f"{o} {tag} {c}", "")
    return src


TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}]
TOOL_CALL = {"type": "function", "id": "call0abcd",
             "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}

CONVERSATIONS = [
    dict(messages=[{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello."},
                   {"role": "user", "content": "Weather?"}]),
    dict(messages=[{"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello."},
                   {"role": "user", "content": "Weather?"}]),
    dict(messages=[{"role": "user", "content": "Weather in Paris?"},
                   {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
                   {"role": "tool", "name": "get_weather", "tool_call_id": "call0abcd",
                    "content": "sunny"},
                   {"role": "user", "content": "Thanks"}],
         tools=TOOLS),
]


def render_benign(src):
    errors = []
    for conv in CONVERSATIONS:
        ctx = dict(bos_token="<s>", eos_token="</s>", add_generation_prompt=True,
                   tools=None, documents=None)
        ctx.update(conv)
        try:
            out = env().from_string(strip_generation(src)).render(**ctx)
            return {"rendered": True, "chars": len(out)}
        except Exception as e:  # noqa: BLE001 - the reason is reported
            errors.append(f"{type(e).__name__}: {e}")
    return {"rendered": False, "errors": errors}


def render_twin(src):
    REACHED.clear()
    messages = CanaryMessages([{"role": "user", "content": "popen"}])
    error = None
    try:
        env().from_string(src).render(messages=messages, bos_token="<s>", eos_token="</s>",
                                      add_generation_prompt=True)
    except Exception as e:  # noqa: BLE001 - later steps of a walk may fail; the reach counts
        error = f"{type(e).__name__}: {e}"
    return {"reached": sorted(set(REACHED)), "error": error}


def main():
    mal_dir, prefix, *benign_dirs = sys.argv[1:]
    out = {"jinja2": jinja2.__version__, "twins": {}, "benign": {}}
    for p in sorted(pathlib.Path(mal_dir).glob("*.jinja")):
        if prefix in p.name:
            out["twins"][p.name] = render_twin(p.read_text())
    for d in benign_dirs:
        for p in sorted(pathlib.Path(d).glob("*.jinja")):
            out["benign"][p.name] = render_benign(p.read_text())
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
