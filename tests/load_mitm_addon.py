"""mitmdump addon: answer for the dataset host with the fault named in ``MNIST_DOCTOR_FAULT``.

Used by tests/load_fixtures.py. The proxy never contacts any upstream: every other host gets
a 502 from here, so tests only ever talk to 127.0.0.1.
Faults: ``html`` (a block page), ``truncated`` (Content-Length larger than the body, then
close), ``cut`` (half of ``MNIST_DOCTOR_FAULT_FILE``, close-delimited, no Content-Length),
``file`` (the bytes of ``MNIST_DOCTOR_FAULT_FILE``), ``hang`` (never answers), ``dir`` (the file
of ``MNIST_DOCTOR_FAULT_DIR`` named like the last part of the URL path, else 404: several
loaders' synthetic files). ``MNIST_DOCTOR_FAULT_HOSTS`` (comma-separated) names other hosts to
answer for (e.g. ``www.cs.toronto.edu`` for cifar); the default is the dataset host alone.
"""

import asyncio
import os

from mitmproxy import http

DATASET_HOST = "storage.googleapis.com"
BLOCK_PAGE = (
    b"<!DOCTYPE html><html><head><title>Access denied</title></head>"
    b"<body><h1>Blocked by policy</h1><p>storage.googleapis.com is not allowed.</p></body></html>"
)


async def request(flow: http.HTTPFlow) -> None:
    fault = os.environ.get("MNIST_DOCTOR_FAULT", "html")
    hosts = [h for h in os.environ.get("MNIST_DOCTOR_FAULT_HOSTS", DATASET_HOST).split(",") if h]
    if flow.request.pretty_host not in hosts:
        flow.response = http.Response.make(502, b"no upstream in tests", {"content-type": "text/plain"})
        return
    if fault == "hang":
        await asyncio.sleep(3600)
        return
    if fault == "html":
        flow.response = http.Response.make(200, BLOCK_PAGE, {"content-type": "text/html"})
    elif fault == "truncated":
        body = b"PK\x03\x04" + b"\0" * 4092
        flow.response = http.Response.make(
            200, body, {"content-type": "application/octet-stream", "connection": "close"}
        )
        flow.response.headers["content-length"] = "11490434"
    elif fault == "cut":
        # The first half of a real zip, close-delimited (no Content-Length): urllib cannot tell.
        with open(os.environ["MNIST_DOCTOR_FAULT_FILE"], "rb") as handle:
            data = handle.read()
        flow.response = http.Response.make(
            200, data[: len(data) // 2], {"content-type": "application/octet-stream", "connection": "close"}
        )
        del flow.response.headers["content-length"]
    elif fault == "file":
        with open(os.environ["MNIST_DOCTOR_FAULT_FILE"], "rb") as handle:
            flow.response = http.Response.make(
                200, handle.read(), {"content-type": "application/octet-stream"}
            )
    elif fault == "dir":
        name = os.path.basename(flow.request.path.split("?", 1)[0])
        path = os.path.join(os.environ["MNIST_DOCTOR_FAULT_DIR"], name)
        if name and os.path.isfile(path):
            with open(path, "rb") as handle:
                flow.response = http.Response.make(
                    200, handle.read(), {"content-type": "application/octet-stream"}
                )
        else:
            flow.response = http.Response.make(404, b"not here", {"content-type": "text/plain"})
    else:
        flow.response = http.Response.make(500, b"unknown fault " + fault.encode(), {})
