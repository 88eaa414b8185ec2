"""Camera frames read on the server (POST /scan/decode) for browsers without a QR reader."""

from __future__ import annotations

import io

from PIL import Image

from scanners.labels import label_png
from scanners.payload import label_url

from .city import Town
from .conftest import sign_in


def frame_with_label(town: Town, code: str) -> bytes:
    """A camera frame: the printed label somewhere on a grey background, as JPEG."""
    url = label_url("https://trace.example", code, town.ledger.label_key)
    label = Image.open(io.BytesIO(label_png(url, code, "东方燃气有限公司", dpi=200))).convert("RGB")
    frame = Image.new("RGB", (960, 720), (128, 128, 128))
    frame.paste(label, (200, 150))
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=85)
    return out.getvalue()


def test_a_frame_with_a_label_gives_its_url(town: Town, client):
    csrf = sign_in(client, town.tokens["transporter"])
    code = town.cylinders["clean"]
    answer = client.post("/scan/decode", content=frame_with_label(town, code),
                         headers={"Content-Type": "image/jpeg", "X-CSRF-Token": csrf})
    assert answer.status_code == 200
    (text,) = answer.json()["texts"]
    assert text.startswith(f"https://trace.example/c/{code}?s=")


def test_a_frame_without_a_label_gives_nothing_and_junk_is_refused(town: Town, client):
    csrf = sign_in(client, town.tokens["transporter"])
    blank = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 200, 200)).save(blank, "PNG")
    headers = {"X-CSRF-Token": csrf}
    assert client.post("/scan/decode", content=blank.getvalue(),
                       headers={**headers, "Content-Type": "image/png"}).json() == {"texts": []}
    assert client.post("/scan/decode", content=b"not an image",
                       headers={**headers, "Content-Type": "image/jpeg"}).status_code == 422
    assert client.post("/scan/decode", content=b"{}",
                       headers={**headers, "Content-Type": "application/json"}).status_code == 415


def test_only_the_pages_of_a_signed_in_account_may_use_it(town: Town, client):
    frame = frame_with_label(town, town.cylinders["clean"])
    assert client.post("/scan/decode", content=frame, headers={"Content-Type": "image/jpeg"}).status_code == 303
    sign_in(client, town.tokens["transporter"])
    refused = client.post("/scan/decode", content=frame, headers={"Content-Type": "image/jpeg", "X-CSRF-Token": "x"})
    assert refused.status_code == 403
