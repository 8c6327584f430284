"""A scripted model server for tests: real sockets on 127.0.0.1, real SDKs, no network.

:class:`ScriptedModelServer` speaks the OpenAI chat-completions protocol (any path ending
in ``/chat/completions``, so Azure URLs work too) or the Anthropic Messages protocol. Each
request takes the next *step* from the script; when the script is empty it serves answers
from the answer pool (up to ``n`` per request); when both are empty it answers HTTP 400
"script exhausted" so a test fails fast instead of hanging. Every request is recorded.

Steps: :class:`Reply` (an answer, possibly delayed), :class:`Status` (an HTTP error with an
optional Retry-After), :class:`Slow` (answer after a delay: longer than the client's timeout
makes a timeout), :class:`Drop` (close the connection without answering), :class:`Raw` (any
status and body: malformed JSON, empty choices), or a callable ``(request) -> step``::

    with ScriptedModelServer() as server:
        server.script(Status(429, retry_after=0.05), Drop(), Reply("def compute_reward..."))
        server.answers("answer 1", "answer 2")  # served after the script, n at a time
        model = get_model("compatible/test", base_url=server.base_url, api_key="k")
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from rewardforge.llm.openai_compat import OpenAIChatModel
from rewardforge.llm.types import Message, RawResponse

ServerProtocol = Literal["openai", "anthropic"]
NMode = Literal["support", "reject", "ignore"]


@dataclass(frozen=True)
class Reply:
    """An answer with one choice per text (at most the ``n`` asked for)."""

    texts: tuple[str, ...]
    finish_reason: str = "stop"
    prompt_tokens: int = 10
    completion_tokens: int | None = None
    model: str | None = None
    delay_s: float = 0.0

    def __init__(
        self,
        *texts: str,
        finish_reason: str = "stop",
        prompt_tokens: int = 10,
        completion_tokens: int | None = None,
        model: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "finish_reason", finish_reason)
        object.__setattr__(self, "prompt_tokens", prompt_tokens)
        object.__setattr__(self, "completion_tokens", completion_tokens)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "delay_s", delay_s)


@dataclass(frozen=True)
class Status:
    """An HTTP error answer in the protocol's error format."""

    status: int
    message: str = "scripted error"
    retry_after: float | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Slow:
    """Wait ``delay_s`` seconds, then answer with ``then``."""

    delay_s: float
    then: Any = field(default_factory=lambda: Reply("slow answer"))


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending a response."""


@dataclass(frozen=True)
class Raw:
    """Any status and body, sent as is."""

    body: str
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def malformed(body: str = '{"id": "x", "choices": [{"index": 0, "message": ') -> Raw:
    """A 200 answer whose body is not valid JSON (cut off mid-object)."""
    return Raw(body)


def empty_choices(protocol: ServerProtocol = "openai") -> Raw:
    """A 200 answer with no choices (OpenAI) or no content blocks (Anthropic)."""
    if protocol == "anthropic":
        body = {"id": "msg_empty", "type": "message", "role": "assistant", "model": "m",
                "content": [], "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 0}}  # fmt: skip
    else:
        body = {"id": "chatcmpl-empty", "object": "chat.completion", "model": "m", "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": 0}}  # fmt: skip
    return Raw(json.dumps(body))


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float

    @property
    def n(self) -> int:
        return int(self.body.get("n", 1) or 1) if isinstance(self.body, dict) else 1

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


Step = Reply | Status | Slow | Drop | Raw | Callable[[RecordedRequest], Any]


class ScriptedModelServer:
    """An OpenAI- or Anthropic-protocol HTTP server on 127.0.0.1 that follows a script.

    ``n_mode``: ``support`` (return up to ``n`` choices), ``reject`` (HTTP 400 naming
    parameter ``n`` when ``n > 1``, as Groq does) or ``ignore`` (one choice whatever ``n``
    is, as Ollama does). With ``api_key`` set, requests carrying another key get HTTP 401
    whose message echoes the key they sent (as some providers do)."""

    def __init__(
        self,
        protocol: ServerProtocol = "openai",
        *,
        n_mode: NMode = "support",
        api_key: str | None = None,
        model: str = "scripted-model",
    ) -> None:
        self.protocol = protocol
        self.n_mode = n_mode
        self.api_key = api_key
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._steps: collections.deque[Step] = collections.deque()
        self._answers: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._counter = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> ScriptedModelServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(0.05,),
            name="scripted-model-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(
                "the server is not started; call start() or use it as a context manager"
            )
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL to give the SDK (``/v1`` for OpenAI; the root for Anthropic)."""
        return self.url + "/v1" if self.protocol == "openai" else self.url

    # --- scripting -----------------------------------------------------------------------
    def script(self, *steps: Step) -> ScriptedModelServer:
        """Queue steps; each request takes the next one."""
        with self._lock:
            self._steps.extend(steps)
        return self

    def answers(self, *texts: str) -> ScriptedModelServer:
        """Queue answer texts, served (up to ``n`` per request) once the script is empty."""
        with self._lock:
            self._answers.extend(texts)
        return self

    def reset(self) -> None:
        with self._lock:
            self._steps.clear()
            self._answers.clear()
            self.requests.clear()

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def pending(self) -> int:
        """Steps and answers not yet served."""
        return len(self._steps) + len(self._answers)

    # --- serving (called from handler threads) ---------------------------------------------
    def _next(self, request: RecordedRequest) -> Any:
        with self._lock:
            self.requests.append(request)
            self._counter += 1
            if self._steps:
                step: Any = self._steps.popleft()
            elif self._answers:
                want = 1 if self.n_mode == "ignore" else request.n
                step = Reply(
                    *[self._answers.popleft() for _ in range(min(want, len(self._answers)))]
                )
            else:
                step = Status(400, "ScriptedModelServer: script exhausted (no step or answer left)")
        while callable(step) and not isinstance(step, (Reply, Status, Slow, Drop, Raw)):
            step = step(request)
        return step

    def _auth_error(self, request: RecordedRequest) -> Status | None:
        if self.api_key is None:
            return None
        h = request.headers
        given = (
            h.get("x-api-key")
            or h.get("api-key")
            or h.get("authorization", "").removeprefix("Bearer ")
        )
        if given == self.api_key:
            return None
        return Status(
            401, f"Incorrect API key provided: {given}. You can find your API key in your account."
        )

    def _reply_body(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        count = 1 if self.n_mode == "ignore" else request.n
        texts = reply.texts[:count]
        model = (
            reply.model
            or (request.body.get("model") if isinstance(request.body, dict) else None)
            or self.model
        )
        completion = reply.completion_tokens
        usage_out = completion if completion is not None else sum(len(t) // 4 + 1 for t in texts)
        if self.protocol == "anthropic":
            reason = {"stop": "end_turn", "length": "max_tokens"}.get(
                reply.finish_reason, reply.finish_reason
            )
            return {
                "id": f"msg_scripted_{len(self.requests)}", "type": "message", "role": "assistant",
                "model": model, "content": [{"type": "text", "text": t} for t in texts[:1]],
                "stop_reason": reason, "stop_sequence": None,
                "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": usage_out},
            }  # fmt: skip
        return {
            "id": f"chatcmpl-scripted-{len(self.requests)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": reply.finish_reason}
                for i, t in enumerate(texts)
            ],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": usage_out,
                      "total_tokens": reply.prompt_tokens + usage_out},
        }  # fmt: skip

    def _error_body(self, status: Status) -> dict[str, Any]:
        if self.protocol == "anthropic":
            kind = {
                429: "rate_limit_error",
                401: "authentication_error",
                529: "overloaded_error",
            }.get(status.status, "api_error" if status.status >= 500 else "invalid_request_error")
            return {"type": "error", "error": {"type": kind, "message": status.message}}
        return {
            "error": {
                "message": status.message,
                "type": "scripted",
                "param": status.param,
                "code": None,
            }
        }


def _make_handler(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # models listing, for clients that probe
            self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            try:
                body: Any = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                body = raw
            request = RecordedRequest(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
                time.monotonic(),
            )
            auth = server._auth_error(request)
            if auth is not None:
                with server._lock:
                    server.requests.append(request)
                self._status(auth)
                return
            if server.n_mode == "reject" and request.n > 1:
                with server._lock:
                    server.requests.append(request)
                self._status(Status(400, "'n' : number must be at most 1", param="n"))
                return
            self._serve(server._next(request), request)

        def _serve(self, step: Any, request: RecordedRequest) -> None:
            if isinstance(step, Slow):
                if server._stopping.wait(step.delay_s):
                    return
                self._serve(step.then, request)
            elif isinstance(step, Drop):
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
            elif isinstance(step, Status):
                self._status(step)
            elif isinstance(step, Raw):
                self._send(step.status, step.body, step.content_type, step.headers)
            elif isinstance(step, Reply):
                if step.delay_s and server._stopping.wait(step.delay_s):
                    return
                self._send(200, server._reply_body(step, request))
            else:
                raise TypeError(f"unknown script step {step!r}")

        def _status(self, status: Status) -> None:
            headers = dict(status.headers)
            if status.retry_after is not None:
                headers["retry-after"] = f"{status.retry_after:g}"
            self._send(status.status, server._error_body(status), headers=headers)

        def _send(
            self, status: int, body: Any, content_type: str = "application/json",
            headers: dict[str, str] | None = None,
        ) -> None:  # fmt: skip
            data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                rid = f"req_scripted_{len(server.requests)}"
                self.send_header(
                    "x-request-id" if server.protocol == "openai" else "request-id", rid
                )
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def scripted_answers(texts: Iterable[str]) -> list[Reply]:
    """One :class:`Reply` step per text."""
    return [Reply(t) for t in texts]


class ScriptedChatModel(OpenAIChatModel):
    """An in-process model fed from a queue of answer texts: no server, no sockets.

    It goes through the same cache, usage and sample handling as a real provider, so a
    designer test can use it where an end-to-end HTTP test is not needed."""

    supports_images = False

    def __init__(
        self, answers: Iterable[str] = (), *, model: str = "scripted", **kwargs: Any
    ) -> None:
        kwargs.setdefault("provider", "scripted")
        super().__init__(model, base_url="http://127.0.0.1:9/v1", **kwargs)
        self.answers: collections.deque[str] = collections.deque(answers)
        self.calls = 0

    def _send(
        self, messages: Sequence[Message], params: Mapping[str, Any], n: int, timeout_s: float
    ) -> RawResponse:
        self.calls += 1
        texts = [self.answers.popleft() for _ in range(min(n, len(self.answers)))]
        body = {
            "id": f"scripted-{self.calls}",
            "model": self.model,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": t},
                    "finish_reason": "stop",
                }
                for i, t in enumerate(texts)
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": sum(len(t) // 4 + 1 for t in texts),
            },
        }
        return RawResponse(json.dumps(body), request_id=f"scripted-{self.calls}")
