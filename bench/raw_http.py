"""Reading an HTTP/1.1 response off an asyncio stream: the load generators of the
benches speak raw HTTP, since an HTTP library would cost the 2-core machine more CPU
than the servers they measure."""

from __future__ import annotations

import asyncio


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of the next response (chunked or with a Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(b":") for line in lines[1:] if line)}
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            chunks.append((await reader.readexactly(size + 2))[:-2])
            if size == 0:
                return status, b"".join(chunks)
    return status, await reader.readexactly(int(headers.get(b"content-length", b"0")))
