"""What one HTTP stylisation request asks for, and why it is refused (Ray-free).

``POST /`` with the image as the body (``Content-Type: image/*`` or
``application/octet-stream``) and the settings in the query string, or a JSON body
``{"image": BASE64, ...settings}``. Settings:

- ``style``: a style of the served bank, or a mix ``"starry_night:0.6,la_muse:0.4"``;
- ``mix``: the same mix as a JSON object ``{"starry_night": 0.6, "la_muse": 0.4}`` (or the
  string form), instead of ``style``;
- ``alpha``: α_s, the VGG16 style-layer weights, ``"1,1,2,2"`` or a JSON list (bank only);
- ``strength``: 0 = content, 1 = full style (default 1);
- ``preserve_color``: ``1``/``true`` keeps the content's colours;
- ``format``: ``png`` (default) or ``jpg``, the response's encoding.

A refused request is a :class:`RequestError` with an HTTP status and one line: 400 for a
bad image or setting, 413 for a body or an image over the server's limits, 415 for a body
that is neither an image nor JSON.

Convention:
    Images are ``HxWx3`` uint8 RGB once decoded.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from impasto.errors import ImageError
from impasto.runtime.io.headers import header_size, sniff_format
from impasto.runtime.io.images import DEFAULT_MAX_PIXELS, decode_image

#: Response encodings: ``format`` -> (file extension, media type).
FORMATS = {"png": (".png", "image/png"), "jpg": (".jpg", "image/jpeg"), "jpeg": (".jpg", "image/jpeg")}
#: The largest body accepted by default (bytes).
DEFAULT_MAX_BYTES = 32 * 2**20
_FIELDS = ("style", "mix", "alpha", "strength", "preserve_color", "format")


class RequestError(Exception):
    """A refused request: ``status`` (4xx) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StyleRequest:
    """One decoded request.

    Attributes:
        image: ``HxWx3`` uint8 RGB.
        style: a style name or mix string, or None for the server's default.
        alpha: α_s (one weight per style layer), or None for the server's default.
        strength: blend with the content, in [0, 1].
        preserve_color: keep the content's colours.
        fmt: the response's format key in :data:`FORMATS`.
    """

    image: np.ndarray
    style: str | None = None
    alpha: tuple[float, ...] | None = None
    strength: float = 1.0
    preserve_color: bool = False
    fmt: str = "png"

    def group_key(self) -> tuple:
        """Requests with equal keys run as one batch: same size, same model inputs and post-processing."""
        return (self.image.shape, self.style, self.alpha, self.strength, self.preserve_color)


def parse_request(body: bytes, content_type: str, query: Mapping[str, str], *,
                  max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS) -> StyleRequest:
    """Decode a request's body and settings.

    Raises:
        RequestError: 413 for a body or image over the limits, 415 for a body that is
            neither an image nor JSON, 400 for anything else that is wrong.
    """
    if len(body) > max_bytes:
        raise RequestError(413, f"body: {len(body)} bytes exceeds the limit of {max_bytes} bytes")
    fields: dict[str, object] = dict(query)
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise RequestError(400, "body: expected a JSON object, got text that is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("image"), str):
            raise RequestError(400, 'body: expected a JSON object with "image": the image as base64')
        try:
            body = base64.b64decode(doc.pop("image"), validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, 'image: expected base64 in "image", got characters outside base64') from None
        fields.update(doc)
    elif not body:
        raise RequestError(400, "body: expected an image (PNG, JPEG, BMP, TIFF or WebP), got an empty body")
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise RequestError(400, f"{unknown[0]}: unknown setting, expected one of {', '.join(_FIELDS)}")
    return StyleRequest(image=_image(body, max_pixels), style=_style(fields), alpha=_alpha(fields.get("alpha")),
                        strength=_unit(fields.get("strength", 1.0)),
                        preserve_color=_flag(fields.get("preserve_color", False)), fmt=_format(fields.get("format")))


def _image(data: bytes, max_pixels: int) -> np.ndarray:
    fmt = sniff_format(data)
    if fmt is None:
        raise RequestError(415, "body: expected an image (PNG, JPEG, BMP, TIFF or WebP) or JSON, "
                                f"got bytes {data[:8]!r}")
    size = header_size(data, fmt)
    if size is not None and size[0] * size[1] > max_pixels:
        raise RequestError(413, f"image: {size[0]}x{size[1]} = {size[0] * size[1]} pixels exceeds the limit of "
                                f"{max_pixels} pixels")
    try:
        return decode_image(data, name="image", max_pixels=max_pixels)
    except ImageError as exc:
        raise RequestError(413 if "exceeds the limit" in str(exc) else 400, str(exc)) from None


def _style(fields: Mapping[str, object]) -> str | None:
    style, mix = fields.get("style"), fields.get("mix")
    if style is not None and mix is not None:
        raise RequestError(400, "style and mix: give one (mix is the weights of several styles)")
    if mix is not None:
        if isinstance(mix, str) and mix.lstrip().startswith("{"):
            try:
                mix = json.loads(mix)
            except ValueError:
                raise RequestError(400, f"mix: expected JSON weights like {{\"wave\": 0.5}}, got {mix!r}") from None
        if isinstance(mix, Mapping):
            try:
                return ",".join(f"{k}:{float(v)!r}" for k, v in mix.items())
            except (TypeError, ValueError):
                raise RequestError(400, f"mix: expected numbers as weights, got {dict(mix)!r}") from None
        style = mix
    if style is not None and (not isinstance(style, str) or not style.strip()):
        raise RequestError(400, f"style: expected a style name or a mix like a:0.6,b:0.4, got {style!r}")
    return style


def _alpha(value: object) -> tuple[float, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    try:
        weights = tuple(float(v) for v in items)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise RequestError(400, f"alpha: expected style-layer weights like 1,1,2,2, got {value!r}") from None
    if not weights or not all(np.isfinite(weights)) or min(weights) < 0:
        raise RequestError(400, f"alpha: expected finite non-negative weights, got {value!r}")
    return weights


def _unit(value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not 0.0 <= v <= 1.0:
        raise RequestError(400, f"strength: expected a number in [0, 1], got {value!r}")
    return v


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise RequestError(400, f"preserve_color: expected true or false, got {value!r}")


def _format(value: object) -> str:
    if value is None:
        return "png"
    key = str(value).strip().lower()
    if key not in FORMATS:
        raise RequestError(400, f"format: expected png or jpg, got {value!r}")
    return key
