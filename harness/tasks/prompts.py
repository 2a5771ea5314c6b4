"""How a task becomes chat messages and the `tools` field of a request.

Many chat templates (SmolLM2's included) ignore `tools`, so a tool-call request carries the functions twice:
in `tools` (for engines and templates that use it) and in a system prompt that lists them and asks for calls as
a python list `[f(a=1)]`, the style BFCL uses for prompting models without native function calling.
"""

from __future__ import annotations

import json
from typing import Any

_OPENAI_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}

TOOLCALL_SYSTEM_PROMPT = (
    "You can call functions to answer the user. Read the request and decide which of the functions below, if "
    "any, fulfil it, and with which arguments. If the request needs several calls, make all of them. Answer "
    "with the calls only, as one python list: [func_name1(param1=value1, param2=value2), func_name2(param=value)]."
    " Write nothing else. If no function fits the request, do not call any; answer in plain words instead.\n\n"
    "Functions (JSON):\n"
)


def to_json_schema(schema: Any) -> Any:
    """BFCL's schema dialect (`dict`, `float`, `tuple`, `any`) to the JSON Schema that OpenAI `tools` expects."""
    if isinstance(schema, dict):
        out = {k: to_json_schema(v) for k, v in schema.items()}
        if isinstance(schema.get("type"), str):
            out["type"] = _OPENAI_TYPES.get(schema["type"], schema["type"])
        return out
    if isinstance(schema, list):
        return [to_json_schema(v) for v in schema]
    return schema


def openai_tools(functions: list[dict]) -> list[dict]:
    return [
        {
            "type": "function",
            "function": {
                "name": f["name"],
                "description": f.get("description", ""),
                "parameters": to_json_schema(f.get("parameters", {"type": "dict", "properties": {}})),
            },
        }
        for f in functions
    ]


def toolcall_messages(functions: list[dict], conversation: list[dict]) -> list[dict]:
    listing = json.dumps(functions, ensure_ascii=False, indent=1)
    return [{"role": "system", "content": TOOLCALL_SYSTEM_PROMPT + listing}, *conversation]


def image_message(prompt: str, data_url: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": data_url}}],
        }
    ]
