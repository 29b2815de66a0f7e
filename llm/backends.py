"""LLM backends behind one interface: ``generate_json(requests, schema) -> list[LLMResult]``.

* ``local``  - llama-cpp-python on the packaged GGUF; the JSON schema becomes a llama.cpp grammar,
  applied grammar-first, and the text the schema fixes (key names, separators) is fed instead of
  generated (jump-forward, :func:`floorwatch.llm.fast_grammar.complete_json`); one ``Llama`` instance
  per backend, whose KV cache the token-probability judge continues (:mod:`floorwatch.llm.judge`).
* ``openai`` - any OpenAI-compatible server over httpx (``response_format`` ``json_schema``; a server
  that rejects it (400/422/500 naming ``response_format`` and ``json_schema``), like ``llama_cpp.server`` 0.3.x, is asked with
  ``{"type": "json_object", "schema": ...}`` from then on), bounded concurrency (thread pool of ``max_concurrency``), timeouts, retries with backoff.
* ``vllm``   - offline ``vllm.LLM.chat`` over ALL prompts in one call with structured outputs
  (``SamplingParams(structured_outputs=StructuredOutputsParams(json=schema))``); GPU extra.

Request building (:func:`chat_messages`, :func:`json_schema_of`, :func:`openai_payload`,
:func:`vllm_sampling_kwargs`) and reply parsing (:func:`parse_reply`) are shared, so every backend
validates against the same pydantic model. A row that fails becomes an ``LLMResult`` with ``error``;
a batch never crashes on one row.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, cast

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from floorwatch.config import LLMConfig
from floorwatch.llm.gguf import INSTALL_HINT, MODEL_FILENAME, ModelNotInstalledError, ensure_model
from floorwatch.llm.json_forcing import probes_from_steps
from floorwatch.schemas.llm import LLMRequest, LLMResult

M = TypeVar("M", bound=BaseModel)
# A 1.5B model at temperature 0 can loop on one sentence until max_tokens (local backend).
REPEAT_PENALTY = 1.1
TOP_LOGPROBS = 20  # alternatives per token asked for when a request has probes (OpenAI's maximum)


def result_for(schema: type[M], **fields: Any) -> LLMResult[M]:
    """An ``LLMResult`` parametrised by ``schema`` at run time (so ``parsed`` is validated as ``schema``)."""
    model = cast("type[LLMResult[M]]", LLMResult.__class_getitem__(schema))
    return model(**fields)
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


class LLMBackend(Protocol):
    """What the map and reduce steps need from a model."""

    name: str
    model_name: str

    def generate_json(self, requests: list[LLMRequest], schema: type[M]) -> list[LLMResult[M]]: ...


# --------------------------------------------------------------------------- shared pieces
def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent to every engine: pydantic's, without ``maxLength``.

    llama.cpp expands ``maxLength: 800`` into 800 nested optional grammar rules, which makes
    sampling crawl; lengths are bounded by ``max_tokens`` instead and still checked by pydantic.
    """
    return _drop_key(schema.model_json_schema(), "maxLength")


def _drop_key(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return {k: _drop_key(v, key) for k, v in node.items() if k != key}
    if isinstance(node, list):
        return [_drop_key(v, key) for v in node]
    return node


def token_cap(request: LLMRequest, cfg: LLMConfig) -> int:
    """Tokens a request may generate: its own cap, never above ``cfg.max_tokens`` ("most per request")."""
    return min(request.max_tokens or cfg.max_tokens, cfg.max_tokens)


def chat_messages(request: LLMRequest) -> list[dict[str, str]]:
    """OpenAI-style message dicts of a request."""
    return [{"role": m.role, "content": m.content} for m in request.messages]


def parse_reply(
    request_id: str,
    raw: str,
    schema: type[M],
    *,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    seconds: float = 0.0,
    finish_reason: str | None = None,
) -> LLMResult[M]:
    """Validate a raw model reply against ``schema``; any problem becomes ``error`` (never raises)."""
    common: dict[str, Any] = {
        "id": request_id,
        "raw": raw,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "seconds": seconds,
    }
    text = _FENCE.sub("", raw or "").strip()
    if not text:
        return result_for(schema, error="empty reply", **common)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " (cut at max_tokens)" if finish_reason == "length" else ""
        return result_for(schema, error=f"invalid JSON{cut}: {exc}", **common)
    try:
        parsed = schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:5])
        return result_for(schema, error=f"schema violation: {problems}", **common)
    return result_for(schema, parsed=parsed, **common)


def openai_payload(  # noqa: PLR0913 - the request's parts
    request: LLMRequest, schema: type[BaseModel], cfg: LLMConfig, model: str, format_type: str = "json_schema",
    logprobs: bool = True,
) -> dict[str, Any]:
    """Body of ``POST /chat/completions`` with a JSON-schema response format.

    ``format_type`` ``json_schema`` is the OpenAI form (vLLM, most servers); ``json_object`` is the
    ``{"type": "json_object", "schema": ...}`` form that ``llama_cpp.server`` accepts instead. A request
    with ``probes`` asks for ``logprobs`` / ``top_logprobs`` unless ``logprobs`` is False.
    """
    fmt: dict[str, Any]
    if format_type == "json_object":
        fmt = {"type": "json_object", "schema": json_schema_of(schema)}
    else:
        fmt = {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": json_schema_of(schema), "strict": True}}
    return {
        "model": model,
        "messages": chat_messages(request),
        "temperature": cfg.temperature,
        "max_tokens": token_cap(request, cfg),
        "response_format": fmt,
    } | ({"logprobs": True, "top_logprobs": TOP_LOGPROBS} if request.probes and logprobs else {})


def openai_logprob_steps(choice: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """``(token, {alternative: log-probability})`` per generated token of an OpenAI chat ``choice``
    (``logprobs.content``); empty when the server sent none or in another shape."""
    try:
        content = (choice.get("logprobs") or {}).get("content") or []
        return [(str(t["token"]), {str(a["token"]): float(a["logprob"]) for a in t.get("top_logprobs") or []}) for t in content]
    except (AttributeError, KeyError, TypeError, ValueError):
        return []


def vllm_logprob_steps(completion: Any) -> list[tuple[str, dict[str, float]]]:
    """The same steps from one ``vllm.CompletionOutput`` (``token_ids`` + ``logprobs``: per token a dict
    token id -> ``Logprob(logprob, rank, decoded_token)``, the sampled token always included)."""
    ids = getattr(completion, "token_ids", None) or []
    per = getattr(completion, "logprobs", None) or []
    steps: list[tuple[str, dict[str, float]]] = []
    for tid, alts in zip(ids, per, strict=False):
        chosen = alts.get(tid) if alts else None
        if chosen is None or chosen.decoded_token is None:
            return []
        steps.append((chosen.decoded_token, {a.decoded_token: float(a.logprob) for a in alts.values() if a.decoded_token is not None}))
    return steps


def _with_probes(result: LLMResult[M], req: LLMRequest, steps: list[tuple[str, dict[str, float]]]) -> LLMResult[M]:
    """``result`` with the probed keys' candidate probabilities (only for a valid reply to a request with probes)."""
    if not req.probes or result.parsed is None or not steps:
        return result
    return result.model_copy(update={"probes": probes_from_steps(steps, req.probes)})


def rejects_logprobs(status_code: int, body: str) -> bool:
    """Whether an error reply refuses ``logprobs`` / ``top_logprobs`` (a model or server without them, or a
    ``top_logprobs`` above its limit, e.g. vLLM's ``--max-logprobs``)."""
    return status_code in (400, 422) and "logprobs" in body


def rejects_json_schema(status_code: int, body: str) -> bool:
    """Whether an error reply says the server does not know ``response_format`` type ``json_schema``.

    ``llama_cpp.server`` (0.3.36) only accepts ``text`` / ``json_object``; it answers HTTP 500 whose
    message is the request validation error naming ``response_format`` and ``json_schema`` (others 400/422).
    """
    return status_code in (400, 422, 500) and "response_format" in body and "json_schema" in body


def vllm_sampling_kwargs(schema: type[BaseModel], cfg: LLMConfig, max_tokens: int | None = None) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` except ``structured_outputs`` (added by the backend)."""
    return {"temperature": cfg.temperature, "max_tokens": min(max_tokens or cfg.max_tokens, cfg.max_tokens), "seed": 0}


def _vllm_kwargs(req: LLMRequest, schema: type[BaseModel], cfg: LLMConfig) -> dict[str, Any]:
    """:func:`vllm_sampling_kwargs` plus ``logprobs`` when the request has probes."""
    return vllm_sampling_kwargs(schema, cfg, req.max_tokens) | ({"logprobs": TOP_LOGPROBS} if req.probes else {})


def parse_vllm_output(request_id: str, output: Any, schema: type[M], seconds: float) -> LLMResult[M]:
    """Turn one ``vllm.RequestOutput`` into an ``LLMResult`` (duck-typed: ``.outputs[0].text`` etc.)."""
    if not getattr(output, "outputs", None):
        return result_for(schema, id=request_id, error="engine returned no completion", seconds=seconds)
    first = output.outputs[0]
    return parse_reply(
        request_id,
        first.text,
        schema,
        prompt_tokens=len(getattr(output, "prompt_token_ids", None) or []),
        completion_tokens=len(getattr(first, "token_ids", None) or []),
        seconds=seconds,
        finish_reason=getattr(first, "finish_reason", None),
    )


# --------------------------------------------------------------------------- local (llama.cpp)
class LocalBackend:
    """llama-cpp-python on the packaged GGUF (or ``cfg.model`` when it names a .gguf file)."""

    name = "local"

    def __init__(self, cfg: LLMConfig):
        try:
            from floorwatch.llm.fast_grammar import GrammarFirstLlama, complete_json
        except ImportError as exc:
            raise ModelNotInstalledError(f"llama-cpp-python is not installed; {INSTALL_HINT}") from exc
        path = cfg.model if cfg.model else str(ensure_model())
        if not os.path.isfile(path):
            raise ModelNotInstalledError(f"model file {path} does not exist; {INSTALL_HINT}")
        self.cfg = cfg
        self.model_name = os.path.basename(path) if cfg.model else MODEL_FILENAME
        # Greedy grammar decoding checks the model's own token first (same output, ~1.5x faster on CPU).
        self._llm = GrammarFirstLlama(model_path=path, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, verbose=False, seed=0)
        self._complete_json = complete_json
        self._chat_prompt = _chat_formatter(self._llm)

    def generate_json(self, requests: list[LLMRequest], schema: type[M]) -> list[LLMResult[M]]:
        """Run the requests one after another on the single ``Llama`` instance (CPU-bound anyway).

        At temperature 0 with a chat template in the GGUF, decoding is :func:`floorwatch.llm.fast_grammar.complete_json`
        (grammar-first greedy with jump-forward of the text the schema fixes); otherwise llama-cpp-python's
        ``create_chat_completion`` with the schema as ``response_format``.
        """
        if self.cfg.temperature == 0 and self._chat_prompt is not None:
            return [self._forced_one(req, schema, self._chat_prompt) for req in requests]
        fmt = {"type": "json_object", "schema": json_schema_of(schema)}
        results: list[LLMResult[M]] = []
        for req in requests:
            t0 = time.perf_counter()
            try:
                out = self._llm.create_chat_completion(
                    messages=cast(Any, chat_messages(req)),  # llama_cpp's TypedDicts of the same shape
                    response_format=cast(Any, fmt),
                    temperature=self.cfg.temperature,
                    max_tokens=token_cap(req, self.cfg),
                    repeat_penalty=REPEAT_PENALTY,
                )
            except (ValueError, RuntimeError) as exc:  # e.g. prompt longer than n_ctx
                results.append(
                    result_for(schema, id=req.id, error=f"llama.cpp: {exc}", seconds=time.perf_counter() - t0)
                )
                continue
            reply = cast(dict[str, Any], out)  # not streaming: one completion dict
            choice = reply["choices"][0]
            usage = reply.get("usage", {})
            results.append(
                parse_reply(
                    req.id,
                    choice["message"].get("content") or "",
                    schema,
                    prompt_tokens=usage.get("prompt_tokens", 0),
                    completion_tokens=usage.get("completion_tokens", 0),
                    seconds=time.perf_counter() - t0,
                    finish_reason=choice.get("finish_reason"),
                )
            )
        return results


    def _forced_one(self, req: LLMRequest, schema: type[M], chat_prompt: Any) -> LLMResult[M]:
        t0 = time.perf_counter()
        try:
            prompt = chat_prompt(messages=chat_messages(req)).prompt
            done = self._complete_json(
                self._llm, prompt, json_schema_of(schema), token_cap(req, self.cfg), REPEAT_PENALTY,
                probes={k: list(v) for k, v in req.probes.items()} or None,
            )
        except (ValueError, RuntimeError) as exc:  # e.g. prompt longer than n_ctx
            return result_for(schema, id=req.id, error=f"llama.cpp: {exc}", seconds=time.perf_counter() - t0)
        result = parse_reply(
            req.id, done.text, schema, prompt_tokens=done.prompt_evaluated, completion_tokens=done.completion_tokens,
            seconds=time.perf_counter() - t0, finish_reason=done.finish_reason,
        )
        return result.model_copy(update={"probes": done.probes}) if result.parsed is not None else result


def _chat_formatter(llm: Any) -> Any:
    """The GGUF's own chat template as a formatter (what ``create_chat_completion`` uses), or None without one."""
    template = (getattr(llm, "metadata", None) or {}).get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        return str(llm._model.token_get_text(token)) if token != -1 else ""  # noqa: SLF001

    eos = llm.token_eos()
    return Jinja2ChatFormatter(template=template, eos_token=text(eos), bos_token=text(llm.token_bos()), stop_token_ids=[eos])


# --------------------------------------------------------------------------- OpenAI-compatible HTTP
class _Transient(Exception):
    """A failure of one HTTP attempt that is worth retrying (connection, timeout, 429, 5xx)."""


class OpenAIBackend:
    """Any OpenAI-compatible ``/chat/completions`` server (vLLM serve, llama_cpp.server, ...)."""

    name = "openai"
    retries = 2
    backoff_seconds = 0.5

    def __init__(self, cfg: LLMConfig, client: httpx.Client | None = None):
        self.cfg = cfg
        self.model_name = cfg.model or "default"
        # "json_schema" (OpenAI form) until a server rejects it, then "json_object" + schema (llama_cpp.server)
        self.response_format_type = "json_schema"
        # True until a server rejects logprobs (HTTP 400/422 naming them); then probed values stay unknown
        self.send_logprobs = True
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = client or httpx.Client(
            base_url=cfg.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(cfg.timeout_seconds, connect=min(10.0, cfg.timeout_seconds)),
            limits=httpx.Limits(max_connections=cfg.max_concurrency),
        )

    def _one(self, req: LLMRequest, schema: type[M]) -> LLMResult[M]:
        """One request: connection errors, timeouts, HTTP 429 and 5xx are retried ``retries`` times, waiting
        ``backoff_seconds`` x 2^(attempt-1) (tenacity); any other reply is final."""
        t0 = time.perf_counter()
        post = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff_seconds, min=self.backoff_seconds),
            reraise=True,
        )
        try:
            resp = post(self._post_or_raise, req, schema)
        except _Transient as exc:
            return result_for(
                schema,
                id=req.id, error=f"request failed after {self.retries + 1} attempts: {exc}", seconds=time.perf_counter() - t0
            )
        if resp.status_code != 200:
            return result_for(
                schema,
                id=req.id, error=f"HTTP {resp.status_code}: {resp.text[:300]}", seconds=time.perf_counter() - t0
            )
        try:
            body = resp.json()
            choice = body["choices"][0]
            content = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return result_for(
                schema,
                id=req.id, error=f"malformed server reply: {exc!r}", raw=resp.text[:2000], seconds=time.perf_counter() - t0
            )
        usage = body.get("usage") or {}
        result = parse_reply(
            req.id,
            content,
            schema,
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            seconds=time.perf_counter() - t0,
            finish_reason=choice.get("finish_reason"),
        )
        return _with_probes(result, req, openai_logprob_steps(choice))

    def _post_or_raise(self, req: LLMRequest, schema: type[BaseModel]) -> httpx.Response:
        """:meth:`_post`, raising :class:`_Transient` for what is worth retrying."""
        try:
            resp = self._post(req, schema)
        except httpx.HTTPError as exc:  # timeouts and refused connections are retried
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Transient(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return resp

    def _post(self, req: LLMRequest, schema: type[BaseModel]) -> httpx.Response:
        """One POST; a server that rejects ``json_schema`` is asked again (and from then on) with ``json_object``,
        one that rejects ``logprobs`` without them (the probed values then stay unknown)."""

        def send() -> httpx.Response:
            body = openai_payload(req, schema, self.cfg, self.model_name, self.response_format_type, self.send_logprobs)
            return self._client.post("/chat/completions", json=body)

        resp = send()
        if self.response_format_type == "json_schema" and rejects_json_schema(resp.status_code, resp.text):
            self.response_format_type = "json_object"
            resp = send()
        if req.probes and self.send_logprobs and rejects_logprobs(resp.status_code, resp.text):
            self.send_logprobs = False
            resp = send()
        return resp

    def generate_json(self, requests: list[LLMRequest], schema: type[M]) -> list[LLMResult[M]]:
        """All requests with at most ``max_concurrency`` in flight; results in request order."""
        with ThreadPoolExecutor(max_workers=self.cfg.max_concurrency) as pool:
            return list(pool.map(lambda r: self._one(r, schema), requests))


# --------------------------------------------------------------------------- vLLM offline
class VLLMBackend:
    """Offline vLLM: one ``LLM.chat`` call over all prompts, guided by the JSON schema."""

    name = "vllm"

    def __init__(self, cfg: LLMConfig):
        try:
            import vllm
        except ImportError as exc:
            raise ModelNotInstalledError("vLLM is not installed; install the GPU extra: pip install 'floorwatch[gpu]'") from exc
        if not cfg.model:
            raise ValueError("llm.model must name a Hugging Face model id or local path for backend 'vllm'")
        self.cfg = cfg
        self.model_name = cfg.model
        self._vllm = vllm
        self._llm = vllm.LLM(model=cfg.model, max_model_len=cfg.n_ctx, seed=0)

    def generate_json(self, requests: list[LLMRequest], schema: type[M]) -> list[LLMResult[M]]:
        """Batch every request into one engine call (continuous batching does the rest)."""
        if not requests:
            return []
        from vllm.sampling_params import StructuredOutputsParams

        structured = StructuredOutputsParams(json=json_schema_of(schema))
        params = [
            self._vllm.SamplingParams(structured_outputs=structured, **_vllm_kwargs(r, schema, self.cfg))
            for r in requests
        ]
        t0 = time.perf_counter()
        outputs = self._llm.chat([chat_messages(r) for r in requests], sampling_params=params, use_tqdm=False)
        per = (time.perf_counter() - t0) / len(requests)
        return [
            _with_probes(parse_vllm_output(r.id, o, schema, per), r, vllm_logprob_steps(o.outputs[0]) if o.outputs else [])
            for r, o in zip(requests, outputs, strict=True)
        ]


def make_backend(cfg: LLMConfig, backend: str | None = None) -> LLMBackend:
    """Build the configured backend (``backend`` overrides ``cfg.backend``).

    Raises:
        ModelNotInstalledError: the local model / llama-cpp-python / vLLM is missing (message says how to install).
        ValueError: unknown backend name.
    """
    name = backend or cfg.backend
    if name == "local":
        return LocalBackend(cfg)
    if name == "openai":
        return OpenAIBackend(cfg)
    if name == "vllm":
        return VLLMBackend(cfg)
    raise ValueError(f"unknown LLM backend {name!r}; choose local, openai or vllm")
