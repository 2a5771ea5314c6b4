from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.template import check_template

CAP = 256 * 1024


TOOL_TEMPLATE = """{%- if tools %}{{- '<|im_start|>system\n' }}{%- for tool in tools %}{{- tool | tojson }}{%- endfor %}
{%- endif %}{%- set ns = namespace(last=messages|length - 1) %}
{%- for message in messages %}
  {%- if message.role == 'assistant' and message.tool_calls is defined %}
    {%- for call in message.tool_calls %}{%- set fn = call.function if call.function is defined else call %}
      {{- '<tool_call>' ~ {'name': fn.name, 'arguments': fn.arguments} | tojson ~ '</tool_call>' }}
    {%- endfor %}
  {%- elif message.content is string %}
    {{- message.content.split('</think>')[-1].lstrip('\n') | trim }}
    {%- for key, value in message.get('metadata', {}).items() %}{{ key | upper }}={{ value }}{% endfor %}
  {%- endif %}
  {%- if loop.index0 == ns.last and add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{%- endif %}
{%- endfor %}"""


def test_tool_calling_style_template_passes() -> None:
    assert check_template(TOOL_TEMPLATE, CAP) == []


def test_real_smollm2_template_passes(smollm2) -> None:
    assert check_template((smollm2 / "chat_template.jinja").read_text(), CAP) == []


@pytest.mark.parametrize(
    "source",
    [
        "{% for message in messages %}{{ message.content }}{{ message['role'] }}{% endfor %}",
        "{% for m in messages %}{% if m.role == 'tool' %}{% continue %}{% endif %}{{ m.content | trim }}{% endfor %}",
        "{% generation %}{{ messages[-1]['content'] }}{% endgeneration %}",
        "{{ tools | tojson }}{% for t in tools %}{{ t['function']['parameters']['format'] }}{% endfor %}",
        "{{ messages | map(attribute='content') | join('\\n') }}{{ '%s' | format(bos_token) }}",
        "{{ raise_exception('only user and assistant roles') if messages[0].role == 'bad' }}",
        "{% set ns = namespace(found=false) %}{% for m in messages %}{% set ns.found = true %}{% endfor %}",
        "{{ messages | map('attr', 'content') | list }}",
    ],
)
def test_ordinary_templates_pass(source: str) -> None:
    assert check_template(source, CAP) == []


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("{{ messages.__class__ }}", ".__class__"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
        ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "__init__"),
        ("{{ x.mro() }}", ".mro"),
        ("{{ x['__builtins__'] }}", "__builtins__"),
        ("{{ x['__gl' ~ 'obals__'] }}", "__globals__"),
        ("{{ x | attr('__class__') }}", "attr filter"),
        ("{% set n = name %}{{ x | attr(n) }}", "computed attribute"),
        ("{{ '{0.__class__}'.format(x) }}", ".format"),
        ("{{ '{0.a}'.format_map(x) }}", ".format_map"),
        ("{{ messages | map(attribute='__class__') | list }}", "map filter"),
        ("{{ messages | map('attr', 'mro') | list }}", "attr filter on 'mro'"),
        ("{% set ns = namespace() %}{% set ns.__dict__ = 1 %}", ".__dict__"),
        ("{{ f.gi_frame.f_globals }}", ".gi_frame"),
        ("{{ lipsum._private }}", "._private"),
        ("{% include 'other.jinja' %}", "include"),
        ("{% import 'x' as y %}", "import"),
        ("{% for m in messages %}{{ m.content }", "does not parse"),
    ],
)
def test_hostile_templates_refused(source: str, why: str) -> None:
    problems = check_template(source, CAP)
    assert problems, source
    assert any(why in p for p in problems), problems


def test_oversized_and_deep_templates() -> None:
    assert "larger than" in check_template("x" * 2000, 1000)[0]
    deep = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    assert check_template(deep, 10**6)  # refused (too deep or does not parse), never an exception


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}%#()[]'\".|_ abcmro~=-\n", max_size=120))
def test_fuzz_any_text_gives_a_verdict(source: str) -> None:
    assert isinstance(check_template(source, CAP), list)
