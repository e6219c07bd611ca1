"""core.text.prompt: the window a conversation is fitted into (cut from the left, the newest
message's end kept), blank and control text, and the Settings' KNOBS table from which the
local and the server parameters come, validated once."""

import pytest

from core.text import prompt
from core.text.prompt import EXTRA_BODY, Settings, Turn
from tests import text_fixtures

tiny_dir, lm = text_fixtures.tiny_dir, text_fixtures.lm  # pytest fixtures


def test_history_is_cut_from_the_left_to_fit_the_window(lm):
    settings = Settings(max_new_tokens=20)
    history = []
    for i in range(12):
        history += [
            Turn(role="user", content=f"question {i} about the fox"),
            Turn(role="assistant", content=f"answer {i} about the dog"),
        ]
    history.append(Turn(role="user", content="last question"))
    p = prompt.build_prompt(lm, history, settings)
    assert len(p.ids) <= 64 - 20 and p.dropped_turns > 0 and not p.truncated
    assert p.text.endswith("User: last question\nAssistant:")
    assert "answer 11" in p.text and "question 0 " not in p.text
    kept = 2 * 12 + 1 - p.dropped_turns  # the newest turns, none skipped in between
    assert p.text.count("\n") + 1 == kept + 1


def test_one_overlong_message_keeps_its_end(lm):
    settings = Settings(max_new_tokens=20, mode="completion")
    long = "brown fox " * 200 + "THE END"
    p = prompt.build_prompt(lm, [Turn(role="user", content=long)], settings)
    assert p.truncated and len(p.ids) == 44
    assert p.text.endswith("END")
    with pytest.raises(ValueError, match="no room"):
        prompt.build_prompt(lm, [Turn(role="user", content="x")], Settings(max_new_tokens=64))


def test_invisible_messages_are_blank():
    for blank in ["", "  \n\t", "\u200b", "\u200d\u2060\ufeff", "\u3164", "\u2800 \u00a0"]:
        assert prompt.is_blank(blank), repr(blank)
    for text in ["a", " ok ", "🦊", "\u200bx"]:
        assert not prompt.is_blank(text), repr(text)


def test_server_fields_turn_off_what_is_off():
    s = Settings(
        temperature=0.0, top_k=0, top_p=1.0, repetition_penalty=1.0, max_new_tokens=33,
        seed=4, stop=("\nUser:",),
    )  # fmt: skip
    assert s.server_fields() == {
        "temperature": 0.0,
        "max_tokens": 33,
        "seed": 4,
        "stop": ("\nUser:",),
    }
    on = Settings(top_k=5, top_p=0.5, repetition_penalty=1.3, seed=None).server_fields()
    assert (on["top_k"], on["top_p"], on["repetition_penalty"]) == (5, 0.5, 1.3)
    assert "seed" not in on and "stop" not in on  # unseeded, and no stop sequences
    assert {"top_k", "repetition_penalty"} == EXTRA_BODY  # not in the OpenAI API
    only = Settings.only(max_new_tokens=5, top_k=3)  # every other knob off, unseeded
    assert only.server_fields() == {"temperature": 0.8, "top_k": 3, "max_tokens": 5}


def test_generate_kwargs_turn_off_what_is_off_and_what_greedy_ignores():
    sampled = Settings(temperature=0.5, top_k=0, top_p=0.8, repetition_penalty=1.0)
    assert sampled.generate_kwargs() == {
        "do_sample": True, "temperature": 0.5, "top_k": None, "top_p": 0.8,
        "repetition_penalty": None, "max_new_tokens": 120,
    }  # fmt: skip
    greedy = Settings(temperature=0.0, top_k=40, repetition_penalty=1.2).generate_kwargs()
    assert not greedy["do_sample"] and greedy["temperature"] is greedy["top_k"] is None
    assert greedy["repetition_penalty"] == 1.2  # greedy decoding still penalises repeats


@pytest.mark.parametrize(
    ("field", "bad", "why"),
    [
        ("temperature", 5.5, "Temperature must be 0-5"),
        ("temperature", float("nan"), "Temperature must be 0-5"),
        ("top_k", -1, "Top-k must be 0 or more"),
        ("top_p", 0.0, "Top-p must be in"),
        ("repetition_penalty", 3.5, "Repetition penalty must be 0.5-3"),
        ("max_new_tokens", 0, "Max new tokens must be 1-8,192"),
        ("mode", "poem", "Mode must be chat or completion"),
    ],
)
def test_every_knob_is_validated_from_its_row(field, bad, why):
    with pytest.raises(ValueError, match=why):
        Settings(**{field: bad})
    assert all(hasattr(Settings(), k.field) for k in Settings.KNOBS)


NO_SYSTEM_TEMPLATE = (  # as Gemma's: a system turn raises
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{%- endif -%}{{ m['role'] }}: {{ m['content'] }}{{ '\\n' }}"
    "{%- endfor -%}{%- if add_generation_prompt %}assistant:{% endif -%}"
)


def with_template(lm, template):
    import copy
    import dataclasses

    tokenizer = copy.deepcopy(lm.tokenizer)
    tokenizer.chat_template = template
    return dataclasses.replace(lm, tokenizer=tokenizer)


def test_a_template_without_a_system_role_gets_the_system_prompt_in_the_first_turn(lm):
    strict = with_template(lm, NO_SYSTEM_TEMPLATE)
    history = [
        Turn(role="user", content="hi"),
        Turn(role="assistant", content="hello"),
        Turn(role="user", content="and now"),
    ]
    p = prompt.build_prompt(strict, history, Settings(max_new_tokens=8, system="Be brief."))
    assert p.system_folded and p.text.startswith("user: Be brief.\n\nhi\nassistant: hello")
    assert p.text.endswith("user: and now\nassistant:")
    plain = prompt.build_prompt(strict, history, Settings(max_new_tokens=8))
    assert not plain.system_folded and plain.text.startswith("user: hi\n")


def test_a_template_that_refuses_the_conversation_is_a_clear_value_error(lm):
    broken = with_template(lm, "{{ raise_exception('Conversation roles must alternate') }}")
    with pytest.raises(ValueError, match="chat template refuses the conversation: Conver"):
        prompt.build_prompt(broken, [Turn(role="user", content="hi")], Settings(max_new_tokens=8))


def test_a_long_conversation_is_trimmed_to_a_servers_small_window():
    history = [Turn(role="system", content="Be brief.")]
    for i in range(40):
        history += [
            Turn(role="user", content=f"question {i} about the fox " * 3),
            Turn(role="assistant", content=f"answer {i} about the dog " * 3),
        ]
    history.append(Turn(role="user", content="last question"))
    budget = 96 - 32
    kept, dropped = prompt.fit_turns(history, budget)
    assert prompt.estimate_tokens(kept) <= budget and dropped > 0
    assert kept[0] == history[0] and kept[-1] == history[-1]  # the system turn and the newest
    assert kept[1:] == history[1 + dropped :]  # the newest turns, none skipped
    assert prompt.estimate_tokens(history) > 96
    alone, _ = prompt.fit_turns(history[-1:], 1)
    assert alone == history[-1:]  # the last turn is always sent
