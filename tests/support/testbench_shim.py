"""WSGI wrapper around Google's storage-testbench for walden's GCS tests.

Run with gunicorn, exactly as testbench_run.py runs the testbench itself:

    WALDEN_TESTBENCH_PORT=PORT gunicorn --bind=127.0.0.1:PORT --worker-class=sync \
        --threads=4 --chdir=DIR_OF_THIS_FILE 'testbench_shim:run()'

It papers over two mismatches between google-cloud-storage 1.21 and the
testbench, neither of which exists against the real service:

* The client sends `Host: 127.0.0.1` without the port (gaxi's host header
  keeps only the host of a custom endpoint). The testbench builds resumable
  upload URLs from the Host header, so they would point at port 80. The
  wrapper puts the listening port back into the Host header.
* The client's single-shot (multipart/related) uploads send the media part
  without a Content-Type header, which RFC 2046 allows (it defaults to
  text/plain) but the testbench's parser requires (KeyError b'content-type').
  The wrapper adds `Content-Type: application/octet-stream` to parts lacking one.

It also lets a test use the testbench's own fault injection (its Retry Test
API) with an unmodified client: `PUT /walden-shim/retry-test-id` with a
retry test's id as the body makes the wrapper send `x-retry-test-id: ID`
with every later request; `DELETE` stops it.
"""

import io
import os
import threading

import testbench


def _fix_multipart(body, boundary):
    delimiter = b"--" + boundary
    pieces = body.split(delimiter)
    fixed = [pieces[0]]
    for piece in pieces[1:]:
        head, sep, rest = piece.partition(b"\r\n\r\n")
        if sep and not piece.startswith(b"--") and b"content-type:" not in head.lower():
            piece = head + b"\r\nContent-Type: application/octet-stream" + sep + rest
        fixed.append(piece)
    return delimiter.join(fixed)


_retry_test = {"id": None}
_retry_test_lock = threading.Lock()


def _control(environ, start_response):
    method = environ["REQUEST_METHOD"]
    with _retry_test_lock:
        if method == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            _retry_test["id"] = environ["wsgi.input"].read(length).decode().strip()
        elif method == "DELETE":
            _retry_test["id"] = None
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _wrap(inner, port):
    def app(environ, start_response):
        if environ.get("PATH_INFO", "") == "/walden-shim/retry-test-id":
            return _control(environ, start_response)
        with _retry_test_lock:
            retry_test_id = _retry_test["id"]
        if retry_test_id and not environ.get("PATH_INFO", "").startswith("/retry_test"):
            environ["HTTP_X_RETRY_TEST_ID"] = retry_test_id
        host = environ.get("HTTP_HOST", "")
        if host and ":" not in host:
            environ["HTTP_HOST"] = "%s:%s" % (host, port)
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.startswith("multipart/related") and "boundary=" in content_type:
            boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip('"')
            if environ.get("HTTP_TRANSFER_ENCODING", "") == "chunked":
                body = environ["wsgi.input"].read()
            else:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length)
            body = _fix_multipart(body, boundary.encode())
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input"] = io.BytesIO(body)
        return inner(environ, start_response)

    return app


def run():
    return _wrap(testbench.run(), os.environ["WALDEN_TESTBENCH_PORT"])
