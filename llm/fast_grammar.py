"""Grammar-constrained greedy decoding that checks the model's own choice first (llama-cpp-python).

llama-cpp-python's sampler chain applies the JSON-schema grammar to EVERY vocabulary entry at every
step (Qwen2.5: 151,936 candidates), which on a 2-core CPU made grammar decoding ~50 % slower per token
than free decoding (46 vs 30 ms/token, measured 2026-11-25). llama.cpp's own ``common_sampler`` avoids
that: it takes the unconstrained choice, asks the grammar whether that one token is allowed, and only
when it is refused applies the grammar to all candidates. :class:`GrammarFirstLlama` does the same for
greedy decoding (temperature 0), so its output is identical to the plain chain's (penalties -> grammar
-> greedy): the highest-scoring allowed token is the unconstrained argmax whenever the grammar allows it.

Any other sampling setting (temperature > 0, logits processors) falls back to llama-cpp-python's chain.
"""

from __future__ import annotations

import ctypes
from typing import Any, NamedTuple

import llama_cpp  # the local-llm extra: importing this module without it raises ImportError
import numpy as np
from llama_cpp import Llama
from llama_cpp import _internals as internals

_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")], align=True)


class GrammarFirstSampler(internals.LlamaSampler):  # type: ignore[misc]
    """Chain ``penalties -> grammar check of the argmax (full grammar only if refused) -> greedy``.

    The grammar sampler lives outside the chain: it is applied by the check and advanced in
    :meth:`sample` with the token the chain picked. ``checked`` / ``full`` count the cheap and the
    full-vocabulary grammar applications.
    """

    def __init__(self, vocab: Any, grammar: Any, n_vocab: int, last_n: int, repeat_penalty: float):
        super().__init__()
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self._grammar:
            raise ValueError("llama.cpp could not build the grammar of the response schema")
        grammar_ptr = self._grammar
        self._exit_stack.callback(lambda: llama_cpp.llama_sampler_free(grammar_ptr))
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        self.checked = 0
        self.full = 0
        self.add_penalties(
            n_vocab=n_vocab, penalty_last_n=last_n, penalty_repeat=repeat_penalty, penalty_freq=0.0, penalty_present=0.0
        )
        self.add_custom(self._apply)
        self.add_greedy()

    def _apply(self, cur_p: Any) -> None:
        arr = cur_p.contents
        n = int(arr.size)
        buf = (ctypes.c_char * (n * _TOKEN_DATA.itemsize)).from_address(ctypes.addressof(arr.data.contents))
        data = np.frombuffer(buf, dtype=_TOKEN_DATA, count=n)
        best = int(np.argmax(data["logit"]))
        if self.allows(int(data["id"][best])):
            self.checked += 1  # allowed: greedy will pick this argmax anyway
            return
        self.full += 1
        llama_cpp.llama_sampler_apply(self._grammar, cur_p)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        token = super().sample(ctx, idx)
        llama_cpp.llama_sampler_accept(self._grammar, token)
        return token

    def allows(self, token: int) -> bool:
        """Whether the grammar, in its current state, accepts ``token`` next."""
        self._one[0].id = token
        self._one[0].logit = 0.0
        self._one[0].p = 0.0
        self._one_array.selected = -1
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(self._one_array))
        return bool(np.isfinite(self._one[0].logit))

    def accept_forced(self, token: int) -> None:
        """Advance the grammar and the penalty history by a token that was fed, not sampled."""
        llama_cpp.llama_sampler_accept(self.sampler, token)
        llama_cpp.llama_sampler_accept(self._grammar, token)


class GrammarFirstLlama(Llama):  # type: ignore[misc,valid-type]
    """``llama_cpp.Llama`` whose greedy grammar decoding uses :class:`GrammarFirstSampler`."""

    last_sampler: GrammarFirstSampler | None = None

    def _init_sampler(self, *args: Any, **kwargs: Any) -> Any:
        grammar = kwargs.get("grammar")
        other = ("mirostat_mode", "frequency_penalty", "presence_penalty")
        plain = kwargs.get("logits_processor") is not None or any(kwargs.get(k) for k in other)
        if grammar is None or args or kwargs.get("temp", 0.8) != 0.0 or plain:
            return super()._init_sampler(*args, **kwargs)
        sampler = GrammarFirstSampler(
            self._model.vocab, grammar, self._n_vocab, self.last_n_tokens_size, kwargs.get("repeat_penalty", 1.0)
        )
        self.last_sampler = sampler
        return sampler


def reuse_prefix(llm: Llama, tokens: list[int]) -> int:
    """Keep the KV cache of the longest common prefix of ``tokens`` and what ``llm`` last evaluated (as
    ``Llama.generate`` does), at least the last token left to evaluate so fresh logits come out; sets
    ``llm.n_tokens`` and returns how many tokens are kept."""
    keep = 0
    for a, b in zip(llm._input_ids, tokens, strict=False):  # noqa: SLF001
        if a != b:
            break
        keep += 1
    keep = min(keep, len(tokens) - 1)
    llm.n_tokens = keep
    return keep


class JsonCompletion(NamedTuple):
    """One greedy JSON completion: the text, tokens evaluated for the prompt, tokens in the answer (generated
    or forced), how many of those were forced, and why it stopped (``stop`` or ``length``)."""

    text: str
    prompt_evaluated: int
    completion_tokens: int
    forced_tokens: int
    finish_reason: str
    probes: dict[str, list[float]]


def complete_json(  # noqa: PLR0913 - the decoding settings
    llm: GrammarFirstLlama,
    prompt: str,
    schema: dict[str, Any],
    max_tokens: int,
    repeat_penalty: float,
    probes: dict[str, list[str]] | None = None,
) -> JsonCompletion:
    """Greedy, grammar-constrained completion of ``prompt`` with jump-forward of the text ``schema`` forces.

    Same decoding rule as ``create_chat_completion`` at temperature 0 through :class:`GrammarFirstSampler`
    (penalties -> grammar -> greedy), except that the text :func:`floorwatch.llm.json_forcing.forced_continuation`
    names (key names, separators, the rest of a unique enum value) is tokenized and evaluated in the same
    batch as the model's last token instead of being generated one token per step; every forced token is
    first checked against the grammar (a refused one ends the forced run). Stops when the top-level object
    is closed, at an end-of-generation token or after ``max_tokens``. The KV cache of the longest common
    prefix with the previous call is reused (as ``Llama.generate`` does).

    ``probes`` maps a top-level key to candidate answers (``{"potential_severity": ["1", ..., "5"]}``): where
    that key's value starts, the model's next-token distribution over the candidates (each one token there) is
    returned in ``probes`` (softmax over the candidates, before penalties and grammar; free: the logits exist);
    a key whose candidates are not single distinct tokens in this vocabulary is left out.
    """
    from floorwatch.llm.json_forcing import forced_continuation, json_complete, value_position

    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    keep = reuse_prefix(llm, tokens)
    grammar = _grammar_for(schema)
    sampler = GrammarFirstSampler(llm._model.vocab, grammar, llm._n_vocab, llm.last_n_tokens_size, repeat_penalty)  # noqa: SLF001
    vocab = llm._model.vocab  # noqa: SLF001
    text = b""

    def forced_tokens(budget: int) -> list[int]:
        nonlocal text
        run: list[int] = []
        forced = forced_continuation(schema, text.decode("utf-8", "ignore"))
        for t in llm.tokenize(forced.encode("utf-8"), add_bos=False, special=False) if forced else []:
            if len(run) >= budget or not sampler.allows(t):
                break
            sampler.accept_forced(t)
            run.append(t)
            text += llm.detokenize([t])
        return run

    first = forced_tokens(max_tokens)
    llm.eval(tokens[keep:] + first)
    out = forced_n = len(first)
    finish = "length"
    seen: dict[str, list[float]] = {}
    probed: set[str] = set()
    while out < max_tokens:
        key = value_position(text.decode("utf-8", "ignore")) if probes else None
        if probes and key in probes and key not in probed:
            probed.add(key)
            dist = _candidate_probabilities(llm, probes[key])
            if dist is not None:
                seen[key] = dist
        tok = sampler.sample(llm._ctx, -1)  # noqa: SLF001
        if llama_cpp.llama_vocab_is_eog(vocab, tok):
            finish = "stop"
            break
        text += llm.detokenize([tok])
        out += 1
        if json_complete(text.decode("utf-8", "ignore")):
            finish = "stop"  # nothing can follow the closed object but the end: no evaluation needed
            break
        run = forced_tokens(max_tokens - out)
        out += len(run)
        forced_n += len(run)
        llm.eval([tok, *run])
    return JsonCompletion(text.decode("utf-8", "replace"), len(tokens) - keep, out, forced_n, finish, seen)


def _candidate_probabilities(llm: Llama, candidates: list[str]) -> list[float] | None:
    """Softmax of the last logits over the candidates, each tokenized as it follows ``":`` in the JSON; None
    when a candidate is not one token there or two share a token (a SentencePiece vocabulary can split
    ``"1"`` into a space and the digit): no distribution rather than a uniform one."""
    head = llm.tokenize(b'":', add_bos=False, special=False)
    ids = []
    for c in candidates:
        toks = llm.tokenize(b'":' + c.encode("utf-8"), add_bos=False, special=False)
        if toks[: len(head)] != head or len(toks) != len(head) + 1:
            return None
        ids.append(toks[-1])
    if len(set(ids)) != len(ids):
        return None
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))  # noqa: SLF001
    x = logits[ids].astype(float)
    e = np.exp(x - x.max())
    return [float(v) for v in e / e.sum()]


_GRAMMARS: dict[str, Any] = {}


def _grammar_for(schema: dict[str, Any]) -> Any:
    """llama.cpp grammar of a JSON schema (built once per schema, like ``response_format`` would build it)."""
    import json

    from llama_cpp.llama_grammar import LlamaGrammar

    key = json.dumps(schema, sort_keys=True)
    if key not in _GRAMMARS:
        _GRAMMARS[key] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    return _GRAMMARS[key]
