"""Small files of every kind a collection ingests, made here (no fixtures to download)."""

from __future__ import annotations

import json


def pdf_with_text(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (Helvetica, one line each)."""
    text = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
        for line in lines) + " ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
         b"/Resources << /Font << /F1 5 0 R >> >> >>"),
        b"<< /Length %d >>\nstream\n" % len(text) + text.encode() + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


HANDBOOK_MD = """# Operations handbook

## Restarting the gateway

Drain the node first, then restart the gateway service with systemctl.
Wait until the health check answers before you put it back.

## Rotating keys

Create the new API key, deploy it, then revoke the old key.
"""

BILLING_HTML = """<html><head><title>Billing FAQ</title><script>var x = "refund";</script></head>
<body><h1>Billing</h1><p>Invoices are sent on the first day of each month.</p>
<h2>Refunds</h2><p>A refund reaches the card within ten working days.</p></body></html>"""

_RECORDS = [
    {"_id": "d1", "title": "Turbulent flow", "text": "Measurements of turbulent boundary "
     "layers on flat plates at high Reynolds numbers.", "year": 1960, "topic": "flow"},
    {"_id": "d2", "title": "Heat transfer", "text": "Heat conduction in composite slabs "
     "with radiation at the surface.", "year": 1962, "topic": "heat"},
    {"_id": "d3", "title": "Wing flutter", "text": "Aeroelastic flutter of swept wings "
     "at supersonic speeds.", "year": 1965, "topic": "structures"},
    {"_id": "d4", "title": "Shock waves", "text": "Interaction of shock waves with "
     "boundary layers in supersonic flow.", "year": 1963, "topic": "flow"},
]
CORPUS_JSONL = "".join(json.dumps(r) + "\n" for r in _RECORDS)
