"""The engines' render guard (sandbox_images/common/bounded_render.py), run here on the host's transformers: a
spinning chat template is killed at its deadline and the next render works; the template's own errors and
output limits come back as errors; `install` routes a real tokenizer's `apply_chat_template` through it.

The engine images copy the same file; tests/docker/test_sandbox_hostile_docker.py runs it in a real sandbox."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

COMMON = Path(__file__).resolve().parents[4] / "sandbox_images" / "common"
SPIN = (
    "{% for a in range(4096) %}{% for b in range(4096) %}{% for c in range(4096) %}{% endfor %}{% endfor %}{% endfor %}"
)
ECHO = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{% endfor %}"


@pytest.fixture
def bounded_render(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(COMMON))
    import bounded_render

    return bounded_render


def _chat(text: str = "hi") -> list[list[dict]]:
    return [[{"role": "user", "content": text}]]


def test_a_spinning_render_is_killed_at_its_deadline_and_the_next_render_works(bounded_render) -> None:
    worker = bounded_render.RenderWorker(1.5)
    try:
        worker.start()
        started = time.monotonic()
        with pytest.raises(bounded_render.TemplateTimeout, match=r"^template-timeout: .*deadline of 1\.5s"):
            worker.render(conversations=_chat(), chat_template=SPIN)
        assert 1.5 <= time.monotonic() - started < 4.0
        assert worker.timeouts == 1
        rendered, _indices = worker.render(conversations=_chat("after"), chat_template=ECHO)
        assert rendered == ["[user] after"]
    finally:
        worker.close()


def test_the_same_messages_rendered_again_at_once_fail_without_a_second_deadline(bounded_render) -> None:
    """sglang retries a failed render with reshaped tools: the same messages must not cost a second deadline."""
    worker = bounded_render.RenderWorker(1.0)
    chat = _chat()
    try:
        with pytest.raises(bounded_render.TemplateTimeout):
            worker.render(conversations=chat, chat_template=SPIN)
        started = time.monotonic()
        with pytest.raises(bounded_render.TemplateTimeout, match="already timed out"):
            worker.render(conversations=[chat[0]], chat_template=SPIN, tools=[{"function": {}}])
        assert time.monotonic() - started < 0.5
    finally:
        worker.close()


def test_template_errors_and_output_growth_come_back_as_errors(bounded_render) -> None:
    from jinja2.exceptions import TemplateError

    worker = bounded_render.RenderWorker(10.0, max_output_chars=10_000)
    try:
        with pytest.raises(TemplateError, match="refused by the template"):
            worker.render(conversations=_chat(), chat_template="{{ raise_exception('refused by the template') }}")
        with pytest.raises(bounded_render.TemplateRenderFailed, match="more than the limit of 10000"):
            worker.render(conversations=_chat(), chat_template="{% for i in range(5000) %}xxxxx{% endfor %}")
        assert worker.render(conversations=_chat("ok"), chat_template=ECHO)[0] == ["[user] ok"]
    finally:
        worker.close()


def test_render_timeout_argument_is_taken_out_of_the_engine_arguments(bounded_render) -> None:
    take = bounded_render.take_render_args
    assert take(["/model", "--render-timeout-s", "7.5", "--port", "8000"], 10.0) == (7.5, ["/model", "--port", "8000"])
    assert take(["/model", "--port", "8000"], 10.0) == (10.0, ["/model", "--port", "8000"])
    for bad in ("0", "-1", "inf", "nan", "x"):
        with pytest.raises(SystemExit):
            take(["--render-timeout-s", bad], 10.0)


def test_install_bounds_a_real_tokenizers_apply_chat_template() -> None:
    """In a fresh interpreter (install patches transformers for the whole process): the tokenizer's own entry
    point, as transformers serve and sglang call it, renders normal templates and cancels a spinning one."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(COMMON)!r})
        import bounded_render
        bounded_render.install(1.5)
        from tokenizers import Tokenizer, models
        from transformers import PreTrainedTokenizerFast
        tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({{"[UNK]": 0}}, unk_token="[UNK]")))
        chat = [{{"role": "user", "content": "hi"}}]
        print(tok.apply_chat_template(chat, chat_template={ECHO!r}, tokenize=False))
        started = time.monotonic()
        try:
            tok.apply_chat_template(chat, chat_template={SPIN!r}, tokenize=False)
        except ValueError as exc:
            print(type(exc).__name__, round(time.monotonic() - started, 1), str(exc)[:17])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "[user] hi"
    name, seconds, marker = lines[1].split(" ")
    assert (name, marker) == ("TemplateTimeout", "template-timeout:") and 1.5 <= float(seconds) < 4.0
