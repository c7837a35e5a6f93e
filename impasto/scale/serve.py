"""``impasto serve``'s Ray Serve application: an HTTP endpoint around one ``Stylizer`` per replica.

Routes:

- ``POST /``: a stylisation request (:mod:`impasto.scale.requests`); the response is the
  stylised image (``image/png`` or ``image/jpeg``), the same size as the input;
- ``GET /healthz``: ``{"status": "ok", "style", "provider", "max_batch_size"}``.

Dynamic batching: requests are queued by ``@serve.batch`` (at most ``max_batch_size``, or
what arrived within ``batch_wait_ms``), grouped by size and settings
(:meth:`~impasto.scale.requests.StyleRequest.group_key`), and each group runs as one model
call (:meth:`~impasto.runtime.pipelines.stylizer.Stylizer.stylize_batch`). The result of
each request equals a ``Stylizer`` call on it, up to float rounding.

Errors never take the replica down: a refused request is its 4xx status with one line of
text; a failure of the model on one group is a 500 with one line for that group's requests.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from impasto.errors import UserError
from impasto.runtime.io.images import DEFAULT_MAX_PIXELS, encode_image
from impasto.scale.requests import DEFAULT_MAX_BYTES, FORMATS, RequestError, StyleRequest, parse_request


@dataclass(frozen=True)
class ServeConfig:
    """The served model and the server's limits (the flags of ``impasto serve``).

    Attributes:
        model: a built-in style or mix (``--style``) or a model path (``--model``).
        style: a bank's default style with ``--model`` (None: the model's own).
        backend: inference backend name.
        threads: ONNX Runtime intra-op threads per replica (0: its default).
        max_batch_size: requests per batch at most.
        batch_wait_ms: how long a batch waits to fill.
        max_pixels: larger images are refused (413).
        max_bytes: larger bodies are refused (413).
    """

    model: str | None = None
    style: str | None = None
    backend: str = "auto"
    threads: int = 0
    max_batch_size: int = 8
    batch_wait_ms: float = 10.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES


@serve.deployment(name="impasto")
class StylizeDeployment:
    """One replica: an open ``Stylizer`` and the batch queue in front of it."""

    def __init__(self, config: dict) -> None:
        from impasto.runtime.pipelines.stylizer import Stylizer

        self.config = ServeConfig(**config)
        c = self.config
        self.stylizer = Stylizer.load(c.model, backend=c.backend, threads=c.threads, style=c.style)
        self.render.set_max_batch_size(c.max_batch_size)
        self.render.set_batch_wait_timeout_s(c.batch_wait_ms / 1000.0)

    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        if path.endswith("/healthz"):
            return JSONResponse({"status": "ok", "style": self.stylizer.name, "provider": self.stylizer.provider,
                                 "max_batch_size": self.config.max_batch_size})
        if request.method != "POST":
            return PlainTextResponse("expected POST / with an image, or GET /healthz\n", status_code=405)
        try:
            req = parse_request(await request.body(), request.headers.get("content-type", ""),
                                dict(request.query_params), max_bytes=self.config.max_bytes,
                                max_pixels=self.config.max_pixels)
            out = await self.render(req)
            if isinstance(out, Exception):
                raise out
            ext, media = FORMATS[req.fmt]
            return Response(encode_image(out, ext), media_type=media)
        except RequestError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=exc.status)
        except UserError as exc:  # an unknown style, weights that do not fit the bank
            return PlainTextResponse(f"{_one_line(exc)}\n", status_code=400)
        except Exception as exc:  # noqa: BLE001 - the model failed on this request: say so, keep serving
            return PlainTextResponse(f"{type(exc).__name__}: {_one_line(exc)}\n", status_code=500)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def render(self, requests: list[StyleRequest]) -> list:
        """The stylised image of each request (or the exception its group raised), in order."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, req in enumerate(requests):
            groups[req.group_key()].append(i)
        results: list = [None] * len(requests)
        for indices in groups.values():
            first = requests[indices[0]]
            try:
                outs = await asyncio.to_thread(
                    self.stylizer.stylize_batch, [requests[i].image for i in indices], strength=first.strength,
                    preserve_colors=first.preserve_color, style=first.style,
                    style_layer_weights=list(first.alpha) if first.alpha is not None else None)
            except Exception as exc:  # noqa: BLE001 - this group's failure goes to its requests only
                outs = [exc] * len(indices)
            for i, out in zip(indices, outs, strict=True):
                results[i] = out
        return results


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def build_app(config: ServeConfig, replicas: int = 1):
    """The Ray Serve application for ``config``: ``replicas`` replicas of one CPU each."""
    from dataclasses import asdict

    return StylizeDeployment.options(num_replicas=replicas, ray_actor_options={"num_cpus": 1}).bind(asdict(config))
